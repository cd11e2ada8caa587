"""CLAIMS.md's decision rules (revision 3) and the verdicts they give. Every threshold is a constant
here and nowhere else, and every criterion text is generated from them; tiers change scale, never these.

Four outcomes: REPRODUCED (the criterion is met at one-sided error rate ``ALPHA``), NOT REPRODUCED (the
negation is shown at the same rate), UNDECIDED (neither; the decision says roughly how many seeds would
decide) and INCONCLUSIVE (the premise is absent: no effect even early, the unweighted model did not learn,
or a model diverged). A NaN never leads to REPRODUCED.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import Enum

import numpy as np
from scipy import stats

from iwcore.stats import (ALPHA, MIN_SEEDS, EffectSummary, Estimate, PermutationTest, difference_t_statistic,
                          fieller_ratio, mean_interval, one_sided_p, seeds_needed, t_critical, t_statistic)

FADE_FRACTION = 0.25  # fades: G_s = b_s(final) - 0.25 b_s(t_hat_-s), shown below 0 (NOT REPRODUCED: above)
SVM_COSINE_MIN = 0.99  # C4: cosine to the hard-margin SVM direction at the end, every weight ratio
AGREEMENT_MARGIN = 0.02  # C11: weight agreement >= seed agreement - this
REWEIGHT_REMOVED_MAX = 0.5  # C10: IW removes less than this fraction of the sub-sampling shift
LABEL_SHIFT_FINAL_FRACTION = 0.25  # C15: final gain at most this fraction of the early peak
NULL_RUN_LEVEL = 0.001  # C19: a calibrated rule fails the run with probability at most this (over the families)
NULL_POWER_MULTIPLES = (2, 3, 4)  # C19 reports its power against null rates of 2, 3 and 4 x ALPHA

T_RULE = f"one-sided t over seeds at alpha = {ALPHA}"
PRESENT_EARLY = (f"present early: the within-seed permutation max-T test of T = max over the first 10% of epochs "
                 f"of E(t) has p <= {ALPHA}")
FADES = (f"Fades: {PRESENT_EARLY}, and G_s = b_s(final) - {FADE_FRACTION} b_s(t_hat_-s) (t_hat_-s: the early peak "
         f"of the other seeds) has t <= -t_c (NOT REPRODUCED when t >= t_c); {T_RULE}")
PERSISTS = (f"Persists: {PRESENT_EARLY}; the t statistic of b_final >= t_c (NOT REPRODUCED when <= -t_c); "
            f"{T_RULE}")
PERSISTS_OVER_BASELINE = (f"{PERSISTS}; and b_final - baseline b_final (paired by seed, Welch where the seeds "
                          f"differ) with t >= t_c (NOT REPRODUCED when <= -t_c)")
SEVERAL_PARTS = ("parts combine by AND for REPRODUCED and, for NOT REPRODUCED, by OR over the parts' tests at "
                 "alpha/k for k parts (Bonferroni)")


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


@dataclass(frozen=True)
class Part:
    """One deciding part of a decision (an evaluation set, a model variant, one test of a claim), as combining
    parts needs it: its verdict alone (at ``ALPHA``), the verdict it has when its test of the negation does not
    fire, that test's one-sided p-value (None: the part cannot show NOT REPRODUCED) and the seeds its
    undecided test needs, as a function of the level the negation is tested at."""

    name: str
    verdict: "Verdict"
    fallback: "Verdict"
    p_against: float | None = None
    needed: Callable[[float], int | None] | None = None

    def at_level(self, level: float) -> "Verdict":
        """The part's verdict when its negation is tested at ``level`` (``ALPHA / k`` among k parts)."""
        if self.p_against is not None and self.p_against <= level:
            return Verdict.NOT_REPRODUCED
        return self.fallback if self.verdict == Verdict.NOT_REPRODUCED else self.verdict


@dataclass
class Decision:
    verdict: Verdict
    reason: str
    rows: list[Row] = field(default_factory=list)
    part_verdicts: dict[str, str] = field(default_factory=dict)
    seeds_needed: int | None = None
    statistic: dict = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)

    def deciding_parts(self) -> list[Part]:
        """The parts a combination decides over: this decision's own, or the decision itself as one part
        that cannot show NOT REPRODUCED by a test of its own."""
        return self.parts or [Part("", self.verdict, self.verdict)]

    def reported(self) -> list[Row]:
        """This decision's rows as reported-only rows (an evaluation set that does not decide)."""
        return [Row(**{**asdict(r), "verdict": "reported"}) for r in self.rows]


def decided(verdict: Verdict, reason: str, rows: list[Row], fallback: Verdict, p_against: float | None,
            tests: list[tuple] = ()) -> Decision:
    """A one-part decision: ``fallback`` is its verdict when the negation's test (one-sided ``p_against``) does
    not fire; ``tests`` the undecided one-sided tests (per-seed values, threshold, claimed direction) whose seeds
    needed it reports."""
    def needed(level: float) -> int | None:
        counts = [seeds_needed(values, threshold, ALPHA if direction * (np.mean(values) - threshold) > 0 else level)
                  for values, threshold, direction in tests]
        known = [c for c in counts if c is not None]
        return max(known) if known else None

    part = Part("", verdict, fallback, p_against, needed if tests else None)
    return Decision(verdict, reason, rows, seeds_needed=needed(ALPHA) if tests and verdict == Verdict.UNDECIDED
                    else None, parts=[part])


def _estimate_row(part, eval_set, name, estimate: Estimate, rule="", t=None, verdict=None, p=None) -> Row:
    return Row(part, eval_set, name, estimate.value, estimate.low, estimate.high, rule, p, t,
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


def _p_against(t: float, n: int, claimed_direction: int = 1, df: float | None = None) -> float:
    """One-sided p-value of the claim's negation (NaN with fewer than ``MIN_SEEDS`` seeds: never decisive)."""
    return one_sided_p(t, n - 1 if df is None else df, -claimed_direction) if n >= MIN_SEEDS else math.nan


def _pointed_p(t: float, n: int, df: float | None = None) -> float:
    """The p-value a table row shows: one-sided, for the test the estimate points to (the claim's or its
    negation's; the verdict says which fired)."""
    return one_sided_p(abs(t), n - 1 if df is None else df) if not math.isnan(t) else math.nan


def _undecidable(s: EffectSummary, part: str, eval_set: str) -> Decision | None:
    """INCONCLUSIVE where a model diverged; UNDECIDED with fewer than ``MIN_SEEDS`` seeds."""
    rows = [_present_row(s, part, eval_set)]
    if not s.complete:
        return decided(Verdict.INCONCLUSIVE, "a model diverged (non-finite share): nothing is decided", rows,
                       Verdict.INCONCLUSIVE, math.nan)
    if s.n_seeds < MIN_SEEDS:
        decision = decided(Verdict.UNDECIDED, f"{s.n_seeds} seeds; a decision needs at least {MIN_SEEDS}", rows,
                           Verdict.UNDECIDED, math.nan)
        decision.seeds_needed = MIN_SEEDS
        return decision
    return None


def _absent(s: EffectSummary) -> str:
    return f"no effect even early: permutation p = {s.present.p_value:.3g} > {ALPHA}"


def fades(s: EffectSummary, part: str = "", eval_set: str = "test") -> Decision:
    """CLAIMS.md *fades* (revision 3) on one sweep and evaluation set: one t test of
    ``G_s = b_s(final) - FADE_FRACTION b_s(t_hat_-s)``. REPRODUCED iff present early and G is shown below 0;
    NOT REPRODUCED iff G is shown above 0 (whether or not the effect was present early)."""
    if not s.reaches_end:
        raise ValueError("'fades' needs the sweep's final checkpoint; this sweep stopped after the early window")
    if (guard := _undecidable(s, part, eval_set)) is not None:
        return guard
    n, tc = s.n_seeds, t_critical(s.n_seeds)
    gap = s.final_slopes - FADE_FRACTION * s.held_out_peak_slopes
    t_gap = t_statistic(gap)
    fallback = Verdict.UNDECIDED if s.present.present else Verdict.INCONCLUSIVE
    verdict = _t_verdict(t_gap, n, -1)
    if verdict == Verdict.REPRODUCED and not s.present.present:
        verdict = Verdict.INCONCLUSIVE
    elif verdict == Verdict.UNDECIDED:
        verdict = fallback
    peaks = sorted({int(e) for e in s.epochs[s.held_out_peak_at]})
    rows = [_present_row(s, part, eval_set),
            _estimate_row(part, eval_set, f"G = b_final - {FADE_FRACTION} b(t_hat_-s)", mean_interval(gap),
                          f"t <= -{tc:.3f} (NOT REPRODUCED if t >= {tc:.3f})", t_gap, verdict,
                          _pointed_p(t_gap, n)),
            _estimate_row(part, eval_set, "F = E_final / E_peak (Fieller)", s.fade, "reported"),
            Row(part, eval_set, "t_hat_-s: epochs of the held-out early peaks", float(np.median(
                s.epochs[s.held_out_peak_at])), rule=f"epochs {peaks}")]
    reason = {Verdict.REPRODUCED: f"faded: F = {s.fade}, G has t = {t_gap:.2f} <= -{tc:.2f}",
              Verdict.NOT_REPRODUCED: f"not faded: F = {s.fade}, G = b_final - {FADE_FRACTION} b(t_hat_-s) has t = "
                                      f"{t_gap:.2f} >= {tc:.2f}",
              Verdict.INCONCLUSIVE: _absent(s),
              Verdict.UNDECIDED: f"F = {s.fade}, G has t = {t_gap:.2f}: neither faded nor shown not to at {n} "
                                 f"seeds"}[verdict]
    return decided(verdict, reason, rows, fallback, _p_against(t_gap, n, -1),
                   [(gap, 0.0, -1)] if verdict == Verdict.UNDECIDED else [])


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
    verdicts, p_against = [_t_verdict(t_final, n)], [_p_against(t_final, n)]
    rows = [_present_row(s, part, eval_set),
            _estimate_row(part, eval_set, "E_final", s.final, f"t >= {t_critical(n):.3f}", t_final, verdicts[0],
                          _pointed_p(t_final, n))]
    tests = [(s.final_slopes, 0.0, 1)]
    if baseline is not None:
        if not baseline.complete:
            return decided(Verdict.INCONCLUSIVE, "a baseline model diverged: nothing is decided", rows,
                           Verdict.INCONCLUSIVE, math.nan)
        t_diff, diff, df = difference_t_statistic(s.final_slopes, baseline.final_slopes, paired)
        n_both = min(n, baseline.n_seeds)
        verdicts.append(_t_verdict(t_diff, n_both, df=df))
        p_against.append(_p_against(t_diff, n_both, df=df))
        rows.append(_estimate_row(part, eval_set, f"E_final - baseline E_final ({'paired' if paired else 'Welch'})",
                                  diff, f"t >= {t_critical(n_both, df):.3f}", t_diff, verdicts[-1],
                                  _pointed_p(t_diff, n_both, df)))
        if paired:  # seeds needed are computed for the paired test only
            tests.append((s.final_slopes - baseline.final_slopes, 0.0, 1))
    fallback = (Verdict.INCONCLUSIVE if not s.present.present else
                Verdict.REPRODUCED if all(v == Verdict.REPRODUCED for v in verdicts) else Verdict.UNDECIDED)
    verdict = Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else fallback
    reason = {Verdict.REPRODUCED: f"persists: E_final = {s.final}",
              Verdict.NOT_REPRODUCED: "shown not to persist" + (" above the baseline" if baseline else ""),
              Verdict.INCONCLUSIVE: _absent(s),
              Verdict.UNDECIDED: f"E_final = {s.final}: not decided at {n} seeds"}[verdict]
    undecided = [test for test, v in zip(tests, verdicts) if v == Verdict.UNDECIDED]
    p = min((x for x in p_against if not math.isnan(x)), default=math.nan)  # either test may show the negation
    return decided(verdict, reason, rows, fallback, p, undecided if verdict == Verdict.UNDECIDED else [])


def t_rule(per_seed, threshold: float, name: str, claimed_direction: int = 1, part: str = "",
           eval_set: str = "test") -> Decision:
    """CLAIMS.md's rule for other statistics: a one-sided t test over seeds of the claim's per-seed
    statistic against ``threshold``, in the claimed direction (+1: above, -1: below)."""
    x = np.asarray(per_seed, float)
    t = t_statistic(x, threshold)
    verdict = Verdict.INCONCLUSIVE if not np.isfinite(x).all() else _t_verdict(t, len(x), claimed_direction)
    side = ">=" if claimed_direction > 0 else "<="
    rule = f"mean {side} {threshold:g}: t {side} {'' if claimed_direction > 0 else '-'}{t_critical(len(x)):.3f}"
    estimate, p_against = mean_interval(x), _p_against(t, len(x), claimed_direction)
    reason = f"{name} = {estimate} (claimed {side} {threshold:g}, t = {t:.2f}, {len(x)} seeds)"
    if verdict == Verdict.INCONCLUSIVE:
        reason = f"{name}: a model diverged (non-finite value): nothing is decided"
    fallback = Verdict.UNDECIDED if verdict == Verdict.NOT_REPRODUCED else verdict
    return decided(verdict, reason, [_estimate_row(part, eval_set, name, estimate, rule, t, verdict,
                                                   _pointed_p(t, len(x)))],
                   fallback, p_against, [(x, threshold, claimed_direction)] if verdict == Verdict.UNDECIDED else [])


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


def _joint(verdicts: list[Verdict]) -> Verdict:
    """AND for REPRODUCED, any NOT REPRODUCED for NOT REPRODUCED; else INCONCLUSIVE if a part's premise is
    absent, else UNDECIDED."""
    return (Verdict.REPRODUCED if all(v == Verdict.REPRODUCED for v in verdicts) else
            Verdict.NOT_REPRODUCED if Verdict.NOT_REPRODUCED in verdicts else
            Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.UNDECIDED)


def _joined(*names: str) -> str:
    return " / ".join(x for x in names if x)


def combine(parts: dict[str, Decision]) -> Decision:
    """Several parts of one claim (evaluation sets, model variants, tests): REPRODUCED when every part is
    (intersection-union: no correction needed); NOT REPRODUCED when some part's test of the negation fires at
    ALPHA / k, k being the number of such tests over all (nested) parts (Bonferroni); otherwise INCONCLUSIVE if
    a part's premise is absent, else UNDECIDED."""
    leaves = {name: [replace(p, name=_joined(name, p.name)) for p in d.deciding_parts()] for name, d in parts.items()}
    flat = [p for group in leaves.values() for p in group]
    k = sum(p.p_against is not None for p in flat)
    level = ALPHA / max(k, 1)
    verdict = _joint([p.at_level(level) for p in flat])
    rows = [Row(**{**asdict(r), "part": _joined(name, r.part)}) for name, d in parts.items() for r in d.rows]
    needed = [p.needed(level) for p in flat if p.needed is not None and p.at_level(level) == Verdict.UNDECIDED]
    needed = [n for n in needed if n is not None]
    corrected = {name: _joint([p.at_level(level) for p in group]) for name, group in leaves.items()}

    def part_reason(name: str, d: Decision) -> str:
        demoted = d.verdict == Verdict.NOT_REPRODUCED != corrected[name]
        return f"{name}: {corrected[name].value} ({d.reason}" + (
            f"; NOT REPRODUCED at {ALPHA} alone, not at {ALPHA}/{k})" if demoted else ")")

    reason = "; ".join(part_reason(name, d) for name, d in parts.items())
    if k > 1:
        reason += f" [NOT REPRODUCED needs p <= {ALPHA}/{k} = {level:.4g} in some part]"
    statistic = {name: d.statistic for name, d in parts.items() if d.statistic}
    return Decision(verdict, reason, rows, {p.name: p.at_level(level).value for p in flat},
                    max(needed) if needed and verdict == Verdict.UNDECIDED else None, statistic, flat)


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
    rows = decision.rows + [row for _, row in learned]
    if all(ok for ok, _ in learned):
        return replace(decision, rows=rows)
    failed = "; ".join(f"{r.part and r.part + ': '}{r.statistic} {r.value:.3f} [{r.low:.3f}, {r.high:.3f}]"
                       for ok, r in learned if not ok)
    return replace(decision, verdict=Verdict.INCONCLUSIVE, rows=rows, seeds_needed=None, parts=[],
                   reason=f"the unweighted model did not learn its task ({failed}); the measured verdict would "
                          f"have been {decision.verdict.value}")


def null_critical_count(sweeps: int, level: float) -> int:
    """C19: the fewest hits among ``sweeps`` null sweeps at which the exact one-sided binomial test of
    "rate <= ALPHA" has p <= ``level``."""
    return int(stats.binom.isf(level, sweeps, ALPHA)) + 1


def null_power(sweeps: int, level: float, rate: float) -> float:
    """C19's power: the probability that a rule firing at ``rate`` reaches the critical count."""
    return float(stats.binom.sf(null_critical_count(sweeps, level) - 1, sweeps, rate))


def null_calibration(hits: int, sweeps: int, family: str, families: int) -> Decision:
    """C19 for one model family (revision 3): the exact one-sided binomial test of H0 "present early fires at
    a rate <= ALPHA" on ``hits`` of ``sweeps`` null sweeps; NOT REPRODUCED iff p <= NULL_RUN_LEVEL / families
    (Bonferroni over the families), otherwise REPRODUCED."""
    level = NULL_RUN_LEVEL / families
    test = stats.binomtest(hits, sweeps, ALPHA, alternative="greater")
    verdict = Verdict.NOT_REPRODUCED if test.pvalue <= level else Verdict.REPRODUCED
    ci = stats.binomtest(hits, sweeps).proportion_ci(1 - 2 * ALPHA, method="exact")  # two-sided Clopper-Pearson
    critical = null_critical_count(sweeps, level)
    power = ", ".join(f"{m}x alpha: {null_power(sweeps, level, m * ALPHA):.0%}" for m in NULL_POWER_MULTIPLES)
    rows = [Row(family, "null sweeps", f"rate of 'present early' ({hits} of {sweeps}; Clopper-Pearson)",
                hits / sweeps, float(ci.low), float(ci.high),
                f"binomial p <= {NULL_RUN_LEVEL}/{families} = {level:.2g} (>= {critical} hits) for NOT REPRODUCED",
                float(test.pvalue), None, verdict.value),
            Row(family, "null sweeps", "power of this test against a rule firing at", math.nan, rule=power)]
    return Decision(verdict, f"{family}: present early fired in {hits} of {sweeps} null sweeps (binomial p = "
                             f"{test.pvalue:.3g}; NOT REPRODUCED needs {critical} or more)", rows)
