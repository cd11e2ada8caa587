"""Pre-registered criteria of CLAIMS.md and the verdicts they give. Every threshold is a constant
here and nowhere else; tiers change scale, never these numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from iwcore.stats import EffectSummary, Estimate, GainSummary, binomial_standard_error

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


def null_calibration(hits: int, sweeps: int) -> Decision:
    """C19: the observed false-positive rate of "present early" over null sweeps may exceed the
    nominal rate by at most ``NULL_STANDARD_ERRORS`` binomial standard errors (of the nominal rate)."""
    rate = hits / sweeps
    bound = NULL_FALSE_POSITIVE_RATE + NULL_STANDARD_ERRORS * binomial_standard_error(NULL_FALSE_POSITIVE_RATE, sweeps)
    verdict = Verdict.REPRODUCED if rate <= bound else Verdict.NOT_REPRODUCED
    return Decision(verdict, f"'present early' fired in {hits} of {sweeps} null sweeps (rate {rate:.3f}); "
                             f"allowed at most {bound:.3f}",
                    {"false_positive_rate": rate, "hits": hits, "null_sweeps": sweeps, "bound": bound})


def agrees_as_much_as_seeds(agreements: dict[str, tuple[float, float]]) -> Decision:
    """C11: on every set, weight agreement >= seed agreement - ``AGREEMENT_MARGIN`` ((weight, seed) per set)."""
    ok = all(w >= s - AGREEMENT_MARGIN for w, s in agreements.values())
    why = "; ".join(f"{k}: weight agreement {w:.3f} vs seed agreement {s:.3f}" for k, (w, s) in agreements.items())
    return Decision(Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED,
                    f"{why}; needs weight >= seed - {AGREEMENT_MARGIN} on each",
                    {k: {"weight_agreement": w, "seed_agreement": s} for k, (w, s) in agreements.items()})


def reweighting_does_not_restore(shift: Estimate, removed: Estimate) -> Decision:
    """C10: sub-sampling shifts the classification ratio (the 95% CI of its slope over log2 factor
    excludes 0) and re-weighting removes less than ``REWEIGHT_REMOVED_MAX`` of that shift (upper bound)."""
    stat = {"slope_without_iw": shift.as_dict(), "fraction_removed_by_iw": removed.as_dict()}
    if not (shift.low > 0 or shift.high < 0):
        return Decision(Verdict.NOT_REPRODUCED, f"sub-sampling did not shift the ratio: slope {shift} includes 0",
                        stat)
    ok = removed.high < REWEIGHT_REMOVED_MAX
    why = (f"slope of r vs log2 f without IW {shift} excludes 0; fraction of it removed by IW {removed} needs upper "
           f"bound < {REWEIGHT_REMOVED_MAX}")
    return Decision(Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED, why, stat)


def present_at(effect: Estimate, where: str) -> Decision:
    """C18: the effect at a chosen checkpoint has its lower 95% bound above 0."""
    return Decision(Verdict.REPRODUCED if effect.low > 0 else Verdict.NOT_REPRODUCED,
                    f"E at {where} = {effect}; needs lower bound > 0", {"E": effect.as_dict()})


def all_of(decisions: dict[str, Decision]) -> Decision:
    """Combine the decisions of several parts of one claim (e.g. logistic regression and MLP):
    reproduced only if every part is; inconclusive if any part is and none failed."""
    verdicts = {d.verdict for d in decisions.values()}
    verdict = (Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else
               Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.REPRODUCED)
    reason = "; ".join(f"{k}: {d.verdict.value} ({d.reason})" for k, d in decisions.items())
    return Decision(verdict, reason, {k: d.statistic for k, d in decisions.items()})


def label_shift_dissipates(g: GainSummary) -> Decision:
    """C15: IW's gain in label-shift-weighted accuracy is there early (lower 95% bound of the early peak
    above 0) and mostly gone at the end (final gain at most ``LABEL_SHIFT_FINAL_FRACTION`` of the peak).
    No early gain contradicts the claim's first half, so it is NOT REPRODUCED, not inconclusive."""
    stat = g.as_dict()
    if not g.peak.low > 0:
        return Decision(Verdict.NOT_REPRODUCED, f"no early gain: peak gain {g.peak} at epoch {g.peak_epoch} "
                                                "does not exclude 0", stat)
    ok = g.final.value <= LABEL_SHIFT_FINAL_FRACTION * g.peak.value
    why = (f"peak gain {g.peak} at epoch {g.peak_epoch}; final gain {g.final} needs <= "
           f"{LABEL_SHIFT_FINAL_FRACTION} x peak = {LABEL_SHIFT_FINAL_FRACTION * g.peak.value:.4g} "
           f"(bootstrap over {g.n_units} {g.unit})")
    return Decision(Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED, why, stat)
