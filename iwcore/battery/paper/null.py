"""The suite's null calibration C19: *present early*, which every effect rule requires, does not fire above its
nominal rate when the weights cannot matter, for every model family the suite uses (CLAIMS.md revision 3).

A null sweep is a family's own sweep in null mode (``Sweep.null()``: every model trained unweighted while
keeping its weight-ratio label), always at the fast tier's scale of the family: 200 per family in the fast
(and long) tier, 1,400 in the full tier (a null sweep at the paper's scale costs as much as a claim). Many null
sweeps are trained as one stack (``NULL_SWEEPS`` x the claims' seeds per sweep) and split back into sweeps.
Per family the count of null sweeps where *present early* fired gets an exact one-sided binomial test of
"rate <= ALPHA"; NOT REPRODUCED iff some family's p <= 0.001 / 3. What else the null sweeps show is reported,
not tested: the 2D family's null sweeps run their whole training, so the rates at which fades and persists
would say REPRODUCED are counted; the image and text families' null sweeps stop after the early window
(``train_until``), and their claims' own sweeps are trained once in null mode and decided by fades and persists.
"""

from __future__ import annotations

import math

import numpy as np

from iwcore import figures
from iwcore.battery.claim import Claim, Context, summarize
from iwcore.battery.paper.images import CNN
from iwcore.battery.paper.synthetic import LOGREG
from iwcore.battery.paper.text import TEXT
from iwcore.results import SweepResult
from iwcore.stats import effect_summary, permutation_seed, split_seeds
from iwcore.sweep import Sweep, early_window_end
from iwcore.verdicts import (ALPHA, NULL_RUN_LEVEL, Decision, Row, Verdict, combine, fades, null_calibration,
                             null_critical_count, persists)

NULL_SWEEPS = {"fast": 200, "long": 200, "full": 1400}  # CLAIMS.md C19; every tier's at the fast tier's scale
NULL_SCALE = "fast"
# Models per stacked step of an early-window null stack: on a CPU, 5,000 small CNNs train ~2x faster per model
# in groups of 250 than in one stack (measured: 70 ms vs 143 ms per model for the early window).
EARLY_NULL_MODELS_PER_STEP = 250
# Per family: the subject whose claims' sweep is measured in null mode, and whether only its early window runs
FAMILIES = {"2D": (LOGREG, False), "image CNN": (CNN, True), "text": (TEXT, True)}


def null_stack(sweep: Sweep, n_sweeps: int, early_only: bool) -> Sweep:
    """``n_sweeps`` null versions of ``sweep`` as one sweep of ``n_sweeps`` x its seeds."""
    seeds = tuple(range(len(sweep.seeds) * n_sweeps))
    stack = sweep.scaled(name=f"{sweep.name}-x{n_sweeps}", seeds=seeds, eval_sets=("test",),
                         train_until=early_window_end(sweep.epochs) if early_only else 0,
                         models_per_step=EARLY_NULL_MODELS_PER_STEP if early_only else sweep.models_per_step)
    return stack.null()


def families(ctx: Context) -> dict[str, tuple[Sweep, bool]]:
    """Per family: its claims' sweep at the fast tier's scale and whether only its early window runs."""
    return {family: (subject.sweep(NULL_SCALE, ctx.options), early_only)
            for family, (subject, early_only) in FAMILIES.items()}


def null_decisions(result, seeds_per_sweep: int, full_length: bool) -> tuple[dict, list, np.ndarray]:
    """Per rule, the number of null sweeps on which it fired; the null sweeps' T statistics and p-values."""
    ratio = result.ratio("test")
    hits = {"present early": 0, "fades REPRODUCED": 0, "persists REPRODUCED": 0} if full_length else \
        {"present early": 0}
    stats_t, p_values = [], []
    for k, group in enumerate(split_seeds(ratio, seeds_per_sweep)):
        s = effect_summary(group, result.weight_ratios, result.epochs, result.config["epochs"],
                           seed=permutation_seed(f"{result.key}/{k}"))
        hits["present early"] += s.present.present
        stats_t.append(s.present.statistic)
        p_values.append(s.present.p_value)
        if full_length:
            hits["fades REPRODUCED"] += fades(s).verdict == Verdict.REPRODUCED
            hits["persists REPRODUCED"] += persists(s).verdict == Verdict.REPRODUCED
    return hits, stats_t, np.array(p_values)


def in_null_mode(family: str) -> str:
    """The plan's name of a family's claims' sweep trained whole in null mode."""
    return f"{family}, null mode"


def null_sweeps(ctx: Context) -> dict[str, Sweep]:
    """Per family, its stack of null sweeps and, where only their early window runs, its claims' sweep in null
    mode."""
    sweeps = {}
    for family, (sweep, early_only) in families(ctx).items():
        sweeps[family] = null_stack(sweep, NULL_SWEEPS[ctx.tier], early_only)
        if early_only:
            sweeps[in_null_mode(family)] = sweep.null()
    return sweeps


def calibrated_under_the_null(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    """When all weights are 1 but labelled as a sweep, present early fires at most at its nominal rate, in every
    family (exact binomial test per family, Bonferroni over the families)."""
    n_sweeps = NULL_SWEEPS[ctx.tier]
    parts, fired = {}, {}
    for family, (sweep, early_only) in families(ctx).items():
        null = results[family]
        hits, t_values, p_values = null_decisions(null, len(sweep.seeds), not early_only)
        fired[family] = hits.pop("present early")
        parts[family] = null_calibration(fired[family], n_sweeps, family, len(FAMILIES))
        parts[family].rows += [Row(family, "null sweeps", f"rate of '{rule}' ({n} of {n_sweeps})", n / n_sweeps,
                                   rule="reported (bounded by present early's rate, which it requires)")
                               for rule, n in hits.items()]
        if early_only:  # the claim's own sweep in null mode, whole length: what its rules say there
            s = summarize(results[in_null_mode(family)])
            parts[family].rows += [Row(family, "null mode", f"{name} on {sweep.name} in null mode", math.nan,
                                       rule="reported", verdict=rule(s).verdict.value)
                                   for name, rule in (("fades", fades), ("persists", persists))]
        parts[family].rows.append(Row(family, "null sweeps", "p-values of present early: mean (uniform: 0.5)",
                                      float(p_values.mean())))
        ctx.add_figure(figures.null_histogram(np.array(t_values), None, None,
                                              ctx.figure_path(f"{ctx.claim.id}-null-T-{family.replace(' ', '-')}"),
                                              f"{ctx.claim.id}: {family}, null T = max early E(t)"))
    critical = null_critical_count(n_sweeps, NULL_RUN_LEVEL / len(FAMILIES))
    ctx.add_figure(figures.null_hit_counts(fired, n_sweeps, ALPHA, critical,
                                           ctx.figure_path(f"{ctx.claim.id}-present-early-hits"),
                                           f"{ctx.claim.id}: present early on null sweeps, per family"))
    return combine(parts)


def setting(ctx: Context) -> str:
    n_sweeps = NULL_SWEEPS[ctx.tier]
    return "at the fast tier's scale of each family: " + "; ".join(
        f"{family}: {n_sweeps} null sweeps of {sweep.name} ({len(sweep.weight_ratios)} labels x {len(sweep.seeds)} "
        f"seeds{', early window only' if early_only else ''})" for family, (sweep, early_only) in families(ctx).items())


def critical_counts() -> str:
    """The hits at which C19 says NOT REPRODUCED, per tier's number of null sweeps."""
    return ", ".join(f"{null_critical_count(n, NULL_RUN_LEVEL / len(FAMILIES))} or more hits of {n} ({tier})"
                     for tier, n in NULL_SWEEPS.items())


C19 = Claim("C19", "Null calibration: when the weights cannot matter (all weight ratios set to 1 but labelled as a "
                   "sweep), 'present early' does not fire above its nominal rate, for every model family the suite "
                   "uses (fades and persists need present early, so their null rates are bounded by it).",
            paper="the suite's own claim (not in the paper)", plan=null_sweeps, decide=calibrated_under_the_null,
            subjects=(LOGREG, CNN, TEXT), setting=setting, marks=("long_running",),
            criterion=f"per family, an exact one-sided binomial test of 'present early fires at a rate <= {ALPHA}' "
                      f"on its null sweeps; NOT REPRODUCED iff some family's p <= {NULL_RUN_LEVEL}/{len(FAMILIES)} "
                      f"({critical_counts()}); the power against rules firing at 2, 3 and 4 x alpha reported")

CLAIMS = (C19,)
