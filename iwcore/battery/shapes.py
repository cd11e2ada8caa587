"""The shapes most claims take, each pointed at any subject: weighting *fades* for the subjects (trained as
they are, or with a change such as dropout), weighting *persists* (against 0, or above a baseline variant
such as the unregularised or cross-entropy model). A claim of one of these shapes is its science only:
``Claim(id, sentence, paper, **fades_shape(subjects, ...))``.
"""

from __future__ import annotations

from iwcore import figures
from iwcore.battery.claim import Context, decide_sets, evaluation_sets, with_learning
from iwcore.battery.subject import Subject
from iwcore.data import build_task
from iwcore.results import SweepResult
from iwcore.sweep import Sweep
from iwcore.verdicts import (FADE_FRACTION, FADES, PERSISTS, PERSISTS_OVER_BASELINE, SEVERAL_PARTS, Decision, combine,
                             fades, persists)


def over_subjects(parts: dict[str, Decision]) -> Decision:
    """One subject's decision as it is; several combined (every subject must show the claim)."""
    return next(iter(parts.values())) if len(parts) == 1 else combine(parts)


def draw_effect_figures(ctx: Context, result: SweepResult, subject: Subject, title: str,
                        fade_share: float | None = None) -> None:
    """E(t) with its band on the deciding sets (``fade_share`` for a fades claim: its threshold marked), the share
    classified positive over epochs on each evaluation set and against the weight at the end (the paper's Figs
    1-4 and 6); for 2D tasks, the decision surfaces too."""
    name = f"{ctx.claim.record_id}-{result.config['name']}".replace("/", "-")
    sets = list(result.meta["eval_roles"])
    deciding, _ = evaluation_sets(result, subject.deciding_roles)
    ctx.add_figure(figures.effect_with_band(result, list(deciding), ctx.figure_path(f"{name}-effect"),
                                            f"{ctx.claim.id}: {title}, E(t)", fade_share))
    for eval_set in sets:
        ctx.add_figure(figures.share_vs_epoch(result, eval_set, ctx.figure_path(f"{name}-{eval_set}-share"),
                                              f"{ctx.claim.id}: {title}, {eval_set}"))
    ctx.add_figure(figures.share_vs_weight(result, sets, ctx.figure_path(f"{name}-final-share"),
                                           f"{ctx.claim.id}: {title}"))
    if "grid" in result.meta["eval_roles"]:  # a 2D task: its plane is gridded
        task = build_task(result.config["task"], **result.config["task_options"])
        ctx.add_figure(figures.decision_boundaries(result, task.x_train.numpy(), task.y_train.numpy(),
                                                   ctx.figure_path(f"{name}-boundaries"), f"{ctx.claim.id}: {title}"))


def deciding_text(subjects) -> str:
    roles = sorted({r for s in subjects for r in s.deciding_roles})
    return f"on the evaluation sets of role {' and '.join(roles)} (the others reported); {SEVERAL_PARTS}"


def settings(changes_text: str = ""):
    def setting(ctx: Context) -> str:
        text = "; ".join(s.describe(ctx.tier) for s in ctx.subjects)
        return f"{text}; {changes_text}" if changes_text else text
    return setting


def changed(ctx: Context, changes: dict, per_tier) -> dict:
    """A variant's changes: the same at every tier, updated with ``per_tier(tier)`` where they differ."""
    return {**changes, **(per_tier(ctx.tier) if per_tier is not None else {})}


def baseline_of(subject: Subject) -> str:
    """The plan's name of a subject's baseline sweep."""
    return f"{subject.label}, baseline"


def fades_shape(subjects: tuple[Subject, ...], variant: str = "", changes_text: str = "", per_tier=None,
                **changes) -> dict:
    """Weighting fades for every subject (with ``changes`` to its sweep, and ``per_tier(tier)``'s, named
    ``variant``)."""
    def plan(ctx: Context) -> dict[str, Sweep]:
        return {s.label: ctx.sweep(s, variant, **changed(ctx, changes, per_tier)) for s in ctx.subjects}

    def decide(ctx: Context, results: dict[str, SweepResult]) -> Decision:
        parts = {}
        for subject in ctx.subjects:
            result = results[subject.label]
            parts[subject.label] = decide_sets(result, fades, subject.deciding_roles)
            draw_effect_figures(ctx, result, subject, subject.label, FADE_FRACTION)
        return with_learning(over_subjects(parts), results)

    return dict(subjects=subjects, plan=plan, decide=decide, setting=settings(changes_text), rebind=True,
                criterion=f"{FADES}; {deciding_text(subjects)}; for every subject", separable=True,
                needs="an unregularised subject whose training data it can separate")


def persists_shape(subjects: tuple[Subject, ...], variant: str = "", baseline: dict | None = None,
                   baseline_text: str = "", changes_text: str = "", note: str = "", per_tier=None, **changes) -> dict:
    """Weighting persists for every subject with ``changes`` (and ``per_tier(tier)``'s, named ``variant``); with
    ``baseline`` (the changes of the baseline sweep, ``{}`` for the subject as it is) also above that baseline's
    final effect."""
    def plan(ctx: Context) -> dict[str, Sweep]:
        sweeps = {}
        for subject in ctx.subjects:
            sweeps[subject.label] = ctx.sweep(subject, variant, **changed(ctx, changes, per_tier))
            if baseline is not None:
                sweeps[baseline_of(subject)] = ctx.sweep(subject, baseline.get("variant", ""),
                                                         **{k: v for k, v in baseline.items() if k != "variant"})
        return sweeps

    def decide(ctx: Context, results: dict[str, SweepResult]) -> Decision:
        parts = {}
        for subject in ctx.subjects:
            result = results[subject.label]
            base = None if baseline is None else results[baseline_of(subject)]
            parts[subject.label] = decide_sets(result, persists, subject.deciding_roles, baseline=base)
            draw_effect_figures(ctx, result, subject, f"{subject.label} {variant}".strip())
        return with_learning(over_subjects(parts), {s.label: results[s.label] for s in ctx.subjects})

    rule = PERSISTS if baseline is None else f"{PERSISTS_OVER_BASELINE} (baseline: {baseline_text})"
    return dict(subjects=subjects, plan=plan, decide=decide, setting=settings(changes_text), rebind=True,
                criterion=f"{rule}; {deciding_text(subjects)}; for every subject" + (f"; {note}" if note else ""),
                separable=None if baseline is not None else False,
                needs="a subject that accepts the change" + (f" ({changes_text})" if changes_text else ""))
