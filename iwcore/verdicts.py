"""Pre-registered criteria of CLAIMS.md and the verdicts they give. Every threshold is a constant
here and nowhere else; tiers change scale, never these numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from iwcore.stats import EffectSummary, Estimate

FADE_UPPER_MAX = 0.5  # fades: upper 95% bound of F at most this ...
FADE_POINT_MAX = 0.25  # ... and the point estimate of F at most this
SVM_COSINE_MIN = 0.99  # C4: cosine to the hard-margin SVM direction at the end, every weight ratio
AGREEMENT_MARGIN = 0.02  # C11: weight agreement >= seed agreement - this
REWEIGHT_REMOVED_MAX = 0.5  # C10: upper bound of the fraction of the shift that IW removes
LABEL_SHIFT_FINAL_FRACTION = 0.25  # C15: final gain at most this fraction of the early peak
NULL_FALSE_POSITIVE_RATE = 0.05  # C19: nominal rate of "present early" under the null ...
NULL_STANDARD_ERRORS = 2  # ... plus this many binomial standard errors


class Verdict(str, Enum):
    REPRODUCED = "REPRODUCED"
    NOT_REPRODUCED = "NOT REPRODUCED"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass
class Decision:
    verdict: Verdict
    reason: str
    statistic: dict = field(default_factory=dict)


def present_early(s: EffectSummary) -> bool:
    """The lower 95% bound of ``E_peak`` is above 0."""
    return s.peak.low > 0


def fades(s: EffectSummary) -> Decision:
    stat = s.as_dict()
    if not present_early(s):
        return Decision(Verdict.INCONCLUSIVE, f"no effect even early: E_peak {s.peak} does not exclude 0", stat)
    ok = s.fade.high <= FADE_UPPER_MAX and s.fade.value <= FADE_POINT_MAX
    why = (f"F = E_final/E_peak = {s.fade}; needs upper bound <= {FADE_UPPER_MAX} and point <= {FADE_POINT_MAX} "
           f"(E_peak {s.peak} at epoch {s.peak_epoch}, E_final {s.final})")
    return Decision(Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED, why, stat)


def persists(s: EffectSummary, over_baseline: Estimate | None = None) -> Decision:
    """Present early and still present at the end; with ``over_baseline`` (the difference to the
    unregularised ``E_final``) also larger than the baseline's."""
    stat = s.as_dict()
    if over_baseline is not None:
        stat["E_final_minus_baseline"] = over_baseline.as_dict()
    if not present_early(s):
        return Decision(Verdict.INCONCLUSIVE, f"no effect even early: E_peak {s.peak} does not exclude 0", stat)
    ok = s.final.low > 0 and (over_baseline is None or over_baseline.low > 0)
    why = f"E_final = {s.final} needs lower bound > 0"
    if over_baseline is not None:
        why += f"; E_final - unregularised E_final = {over_baseline} needs lower bound > 0"
    return Decision(Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED, why, stat)


def all_of(decisions: dict[str, Decision]) -> Decision:
    """Combine the decisions of several parts of one claim (e.g. logistic regression and MLP):
    reproduced only if every part is; inconclusive if any part is and none failed."""
    verdicts = {d.verdict for d in decisions.values()}
    verdict = (Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else
               Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.REPRODUCED)
    reason = "; ".join(f"{k}: {d.verdict.value} ({d.reason})" for k, d in decisions.items())
    return Decision(verdict, reason, {k: d.statistic for k, d in decisions.items()})
