"""CLAIMS.md's decision rules (revision 2) and the verdicts they give. Every threshold is a constant
here and nowhere else, and every criterion text is generated from them; tiers change scale, never these.

Four outcomes: REPRODUCED (the criterion is met at one-sided error rate ``ALPHA``), NOT REPRODUCED (the
negation is shown at the same rate), UNDECIDED (neither; the decision says roughly how many seeds would
decide) and INCONCLUSIVE (the premise is absent: no effect even early, the unweighted model did not learn,
or a model diverged). A NaN never leads to REPRODUCED.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum

import numpy as np

from iwcore.stats import (ALPHA, MIN_SEEDS, EffectSummary, Estimate, PermutationTest, difference_t_statistic,
                          fieller_ratio, mean_interval, seeds_needed, t_critical, t_statistic)

FADE_SHARE_OF_PEAK = 0.5  # fades: the t statistic of b_final - 0.5 b_peak must be <= -t_c ...
FADE_POINT_MAX = 0.25  # ... and F <= 0.25; NOT REPRODUCED when b_final - 0.25 b_peak is shown > 0
SVM_COSINE_MIN = 0.99  # C4: cosine to the hard-margin SVM direction at the end, every weight ratio
AGREEMENT_MARGIN = 0.02  # C11: weight agreement >= seed agreement - this
REWEIGHT_REMOVED_MAX = 0.5  # C10: IW removes less than this fraction of the sub-sampling shift
LABEL_SHIFT_FINAL_FRACTION = 0.25  # C15: final gain at most this fraction of the early peak
NULL_STANDARD_ERRORS = 2  # C19: observed null rate <= ALPHA + this many binomial standard errors

T_RULE = f"one-sided t over seeds at alpha = {ALPHA}"
PRESENT_EARLY = (f"present early: the within-seed permutation max-T test of T = max over the first 10% of epochs "
                 f"of E(t) has p <= {ALPHA}")
FADES = (f"Fades: {PRESENT_EARLY}; the t statistic of b_final - {FADE_SHARE_OF_PEAK} b_peak <= -t_c and "
         f"F = E_final/E_peak <= {FADE_POINT_MAX} (NOT REPRODUCED when b_final - {FADE_POINT_MAX} b_peak has "
         f"t >= t_c); {T_RULE}")
PERSISTS = (f"Persists: {PRESENT_EARLY}; the t statistic of b_final >= t_c (NOT REPRODUCED when <= -t_c); "
            f"{T_RULE}")
PERSISTS_OVER_BASELINE = (f"{PERSISTS}; and b_final - baseline b_final (paired by seed, Welch where the seeds "
                          f"differ) with t >= t_c (NOT REPRODUCED when <= -t_c)")


class Verdict(str, Enum):
    REPRODUCED = "REPRODUCED"
    NOT_REPRODUCED = "NOT REPRODUCED"
    UNDECIDED = "UNDECIDED"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass
class Row:
    """One line of a decision's table: a statistic on one part and evaluation set, and what it decided
    (``verdict`` None for a statistic that is only reported)."""

    part: str
    set: str
    statistic: str
    value: float
    low: float | None = None
    high: float | None = None
    rule: str = ""
    p: float | None = None
    t: float | None = None
    verdict: str | None = None

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


@dataclass
class Decision:
    verdict: Verdict
    reason: str
    rows: list[Row] = field(default_factory=list)
    part_verdicts: dict[str, str] = field(default_factory=dict)
    seeds_needed: int | None = None
    statistic: dict = field(default_factory=dict)

    def reported(self) -> list[Row]:
        """This decision's rows as reported-only rows (an evaluation set that does not decide)."""
        return [Row(**{**asdict(r), "verdict": "reported"}) for r in self.rows]


def _estimate_row(part, eval_set, name, estimate: Estimate, rule="", t=None, verdict=None) -> Row:
    return Row(part, eval_set, name, estimate.value, estimate.low, estimate.high, rule, None, t,
               None if verdict is None else verdict.value)


def _present_row(s: EffectSummary, part: str, eval_set: str) -> Row:
    p = s.present
    return Row(part, eval_set, f"E_peak (epoch {s.peak_epoch}); permutation max-T", float(s.effect[s.peak_at]),
               None, p.null_quantile, f"p <= {ALPHA} (high = null 97.5th percentile of T)", p.p_value, None,
               None if p.present else Verdict.INCONCLUSIVE.value)


def _t_verdict(t: float, n: int, claimed_direction: int = 1, df: float | None = None) -> Verdict:
    """REPRODUCED when ``t`` is past ``t_c`` in the claimed direction, NOT REPRODUCED when past it the other
    way, else UNDECIDED; NaN is never decisive."""
    tc = t_critical(n, df)
    if n < MIN_SEEDS or math.isnan(t):
        return Verdict.UNDECIDED
    if claimed_direction * t >= tc:
        return Verdict.REPRODUCED
    if claimed_direction * t <= -tc:
        return Verdict.NOT_REPRODUCED
    return Verdict.UNDECIDED


def _undecidable(s: EffectSummary, part: str, eval_set: str) -> Decision | None:
    """INCONCLUSIVE where a model diverged; UNDECIDED with fewer than ``MIN_SEEDS`` seeds."""
    rows = [_present_row(s, part, eval_set)]
    if not s.complete:
        return Decision(Verdict.INCONCLUSIVE, "a model diverged (non-finite share): nothing is decided", rows)
    if s.n_seeds < MIN_SEEDS:
        return Decision(Verdict.UNDECIDED, f"{s.n_seeds} seeds; a decision needs at least {MIN_SEEDS}", rows,
                        seeds_needed=MIN_SEEDS)
    return None


def _absent(s: EffectSummary) -> str:
    return f"no effect even early: permutation p = {s.present.p_value:.3g} > {ALPHA}"


def fades(s: EffectSummary, part: str = "", eval_set: str = "test") -> Decision:
    """CLAIMS.md *fades* on one sweep and evaluation set: NOT REPRODUCED whenever the effect is shown to end
    above a quarter of its early peak; otherwise REPRODUCED only if it was present early and faded."""
    if not s.reaches_end:
        raise ValueError("'fades' needs the sweep's final checkpoint; this sweep stopped after the early window")
    if (guard := _undecidable(s, part, eval_set)) is not None:
        return guard
    n, tc = s.n_seeds, t_critical(s.n_seeds)
    halved = s.final_slopes - FADE_SHARE_OF_PEAK * s.peak_slopes
    quartered = s.final_slopes - FADE_POINT_MAX * s.peak_slopes
    t_halved, t_quartered = t_statistic(halved), t_statistic(quartered)
    if t_quartered >= tc:
        verdict = Verdict.NOT_REPRODUCED
    elif not s.present.present:
        verdict = Verdict.INCONCLUSIVE
    elif t_halved <= -tc and s.fade.value <= FADE_POINT_MAX:
        verdict = Verdict.REPRODUCED
    else:
        verdict = Verdict.UNDECIDED
    rows = [_present_row(s, part, eval_set),
            _estimate_row(part, eval_set, f"b_final - {FADE_SHARE_OF_PEAK} b_peak", mean_interval(halved),
                          f"t <= -{tc:.3f}", t_halved),
            _estimate_row(part, eval_set, f"b_final - {FADE_POINT_MAX} b_peak", mean_interval(quartered),
                          f"NOT REPRODUCED if t >= {tc:.3f}", t_quartered),
            _estimate_row(part, eval_set, "F = E_final / E_peak (Fieller)", s.fade, f"F <= {FADE_POINT_MAX}",
                          verdict=verdict)]
    known = [k for k in (seeds_needed(halved), seeds_needed(quartered)) if k is not None]
    needed = min(known) if known and verdict == Verdict.UNDECIDED else None
    reason = {Verdict.REPRODUCED: f"faded: F = {s.fade}",
              Verdict.NOT_REPRODUCED: f"not faded: F = {s.fade}, b_final - {FADE_POINT_MAX} b_peak has t = "
                                      f"{t_quartered:.2f} >= {tc:.2f}",
              Verdict.INCONCLUSIVE: _absent(s),
              Verdict.UNDECIDED: f"F = {s.fade}: neither faded nor shown to persist at {n} seeds"}[verdict]
    return Decision(verdict, reason, rows, seeds_needed=needed)


def persists(s: EffectSummary, baseline: EffectSummary | None = None, paired: bool = True, part: str = "",
             eval_set: str = "test") -> Decision:
    """CLAIMS.md *persists* on one sweep and evaluation set, above 0 and, with ``baseline``, above the
    baseline sweep's final effect (paired when the two share their seeds). NOT REPRODUCED whenever either is
    shown below; REPRODUCED only if the effect was also present early."""
    if not s.reaches_end:
        raise ValueError("'persists' needs the sweep's final checkpoint; this sweep stopped after the early window")
    if (guard := _undecidable(s, part, eval_set)) is not None:
        return guard
    n = s.n_seeds
    t_final = t_statistic(s.final_slopes)
    verdicts = [_t_verdict(t_final, n)]
    rows = [_present_row(s, part, eval_set),
            _estimate_row(part, eval_set, "E_final", s.final, f"t >= {t_critical(n):.3f}", t_final, verdicts[0])]
    needed = [seeds_needed(s.final_slopes)]
    if baseline is not None:
        if not baseline.complete:
            return Decision(Verdict.INCONCLUSIVE, "a baseline model diverged: nothing is decided", rows)
        t_diff, diff, df = difference_t_statistic(s.final_slopes, baseline.final_slopes, paired)
        n_both = min(n, baseline.n_seeds)
        verdicts.append(_t_verdict(t_diff, n_both, df=df))
        rows.append(_estimate_row(part, eval_set, f"E_final - baseline E_final ({'paired' if paired else 'Welch'})",
                                  diff, f"t >= {t_critical(n_both, df):.3f}", t_diff, verdicts[-1]))
        needed.append(seeds_needed(s.final_slopes - baseline.final_slopes) if paired else None)
    verdict = (Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else
               Verdict.INCONCLUSIVE if not s.present.present else
               Verdict.REPRODUCED if all(v == Verdict.REPRODUCED for v in verdicts) else Verdict.UNDECIDED)
    reason = {Verdict.REPRODUCED: f"persists: E_final = {s.final}",
              Verdict.NOT_REPRODUCED: "shown not to persist" + (" above the baseline" if baseline else ""),
              Verdict.INCONCLUSIVE: _absent(s),
              Verdict.UNDECIDED: f"E_final = {s.final}: not decided at {n} seeds"}[verdict]
    known = [k for k, v in zip(needed, verdicts) if v == Verdict.UNDECIDED and k is not None]
    return Decision(verdict, reason, rows, seeds_needed=max(known) if known and verdict == Verdict.UNDECIDED
                    else None)


def t_rule(per_seed, threshold: float, name: str, claimed_direction: int = 1, part: str = "",
           eval_set: str = "test") -> Decision:
    """CLAIMS.md's rule for other statistics: a one-sided t test over seeds of the claim's per-seed
    statistic against ``threshold``, in the claimed direction (+1: above, -1: below)."""
    x = np.asarray(per_seed, float)
    t = t_statistic(x, threshold)
    verdict = Verdict.INCONCLUSIVE if not np.isfinite(x).all() else _t_verdict(t, len(x), claimed_direction)
    side = ">=" if claimed_direction > 0 else "<="
    rule = f"mean {side} {threshold:g}: t {side} {'' if claimed_direction > 0 else '-'}{t_critical(len(x)):.3f}"
    estimate = mean_interval(x)
    reason = f"{name} = {estimate} (claimed {side} {threshold:g}, t = {t:.2f}, {len(x)} seeds)"
    if verdict == Verdict.INCONCLUSIVE:
        reason = f"{name}: a model diverged (non-finite value): nothing is decided"
    return Decision(verdict, reason, [_estimate_row(part, eval_set, name, estimate, rule, t, verdict)],
                    seeds_needed=seeds_needed(x, threshold) if verdict == Verdict.UNDECIDED else None)


def ratio_row(numerator, denominator, name: str, part: str = "", eval_set: str = "test") -> Row:
    """A reported ratio of two paired means with its Fieller interval (e.g. C10's fraction removed)."""
    return _estimate_row(part, eval_set, name, fieller_ratio(numerator, denominator), "reported")


def present(test: PermutationTest, name: str, part: str = "", eval_set: str = "test", value: float | None = None,
            n_seeds: int = MIN_SEEDS) -> Decision:
    """An effect present at chosen checkpoints (C18): REPRODUCED when the permutation test has p <= ALPHA.
    A permutation test cannot show that an effect is absent, so otherwise UNDECIDED."""
    if math.isnan(test.p_value):
        verdict, reason = Verdict.INCONCLUSIVE, f"{name}: a model diverged: nothing is decided"
    elif n_seeds < MIN_SEEDS:
        verdict, reason = Verdict.UNDECIDED, f"{n_seeds} seeds; a decision needs at least {MIN_SEEDS}"
    else:
        verdict = Verdict.REPRODUCED if test.present else Verdict.UNDECIDED
        reason = f"{name}: permutation p = {test.p_value:.3g} ({'<=' if test.present else '>'} {ALPHA})"
    row = Row(part, eval_set, name, test.statistic if value is None else value, None, test.null_quantile,
              f"p <= {ALPHA} (high = null 97.5th percentile)", test.p_value, None, verdict.value)
    return Decision(verdict, reason, [row])


def combine(parts: dict[str, Decision]) -> Decision:
    """Several parts of one claim (evaluation sets, model variants): AND for REPRODUCED, OR for NOT
    REPRODUCED (intersection-union: no correction needed); otherwise INCONCLUSIVE if a part's premise is
    absent, else UNDECIDED."""
    verdicts = [d.verdict for d in parts.values()]
    verdict = (Verdict.REPRODUCED if all(v == Verdict.REPRODUCED for v in verdicts) else
               Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else
               Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.UNDECIDED)
    rows = [Row(**{**asdict(r), "part": " / ".join(x for x in (name, r.part) if x)})
            for name, d in parts.items() for r in d.rows]
    flat = {}
    for name, d in parts.items():
        flat.update({" / ".join(x for x in (name, k) if x): v for k, v in (d.part_verdicts or {"": d.verdict.value}).items()})
    needed = [d.seeds_needed for d in parts.values() if d.verdict == Verdict.UNDECIDED and d.seeds_needed]
    reason = "; ".join(f"{name}: {d.verdict.value} ({d.reason})" for name, d in parts.items())
    statistic = {name: d.statistic for name, d in parts.items() if d.statistic}
    return Decision(verdict, reason, rows, flat, max(needed) if needed and verdict == Verdict.UNDECIDED else None,
                    statistic)


def did_it_learn(accuracy_per_seed, chance: float, what: str = "unweighted model") -> tuple[bool, Row]:
    """The unweighted model learned its task when its in-domain test accuracy's 95% interval over seeds
    lies above chance."""
    estimate = mean_interval(accuracy_per_seed)
    learned = bool(np.isfinite(estimate.low) and estimate.low > chance)
    return learned, Row("did it learn", "test", f"{what} final test accuracy", estimate.value, estimate.low,
                        estimate.high, f"low > chance = {chance:g}", None, None,
                        (Verdict.REPRODUCED if learned else Verdict.INCONCLUSIVE).value)


def requiring_learning(decision: Decision, learned: list[tuple[bool, Row]]) -> Decision:
    """``decision`` with its did-it-learn rows; INCONCLUSIVE if an unweighted model did not learn."""
    rows = [row for _, row in learned]
    if all(ok for ok, _ in learned):
        return Decision(decision.verdict, decision.reason, decision.rows + rows, decision.part_verdicts,
                        decision.seeds_needed, decision.statistic)
    failed = "; ".join(f"{r.part and r.part + ': '}{r.statistic} {r.value:.3f} [{r.low:.3f}, {r.high:.3f}]"
                       for ok, r in learned if not ok)
    return Decision(Verdict.INCONCLUSIVE, f"the unweighted model did not learn its task ({failed}); "
                                          f"the measured verdict would have been {decision.verdict.value}",
                    decision.rows + rows, decision.part_verdicts, None, decision.statistic)


def negative_control(rule_verdict: Verdict, family: str, what: str) -> Decision:
    """A rule applied to one sweep in null mode must not say REPRODUCED (it may at most at its ALPHA)."""
    ok = rule_verdict != Verdict.REPRODUCED
    verdict = Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED
    return Decision(verdict, f"{what}: {rule_verdict.value}",
                    [Row(family, "null mode", what, float(not ok), rule="the rule must not say REPRODUCED",
                         verdict=verdict.value)])


def null_rate_bound(sweeps: int) -> float:
    """C19: the largest acceptable rate over ``sweeps`` null sweeps."""
    return ALPHA + NULL_STANDARD_ERRORS * math.sqrt(ALPHA * (1 - ALPHA) / sweeps)


def null_calibration(hits: int, sweeps: int, family: str, rule: str) -> Decision:
    """C19 for one model family and rule: the observed rate at which the rule fires on null sweeps is at most
    ``ALPHA`` plus ``NULL_STANDARD_ERRORS`` binomial standard errors of ``ALPHA``."""
    rate, bound = hits / sweeps, null_rate_bound(sweeps)
    verdict = Verdict.REPRODUCED if rate <= bound else Verdict.NOT_REPRODUCED
    se = math.sqrt(rate * (1 - rate) / sweeps)
    row = Row(family, "null sweeps", f"rate of '{rule}' ({hits} of {sweeps})", rate, max(0.0, rate - 2 * se),
              rate + 2 * se, f"rate <= {ALPHA} + {NULL_STANDARD_ERRORS} s.e. = {bound:.4f}", None, None, verdict.value)
    return Decision(verdict, f"{family}, {rule}: {hits} of {sweeps} null sweeps (rate {rate:.3f}, allowed "
                             f"{bound:.3f})", [row])
