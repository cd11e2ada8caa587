"""A claim as data, and the one runner every claim goes through.

A ``Claim`` is a spec of science: its id, the paper's sentence and reference, the criterion (text built
from the constants of ``iwcore.verdicts``), the subjects it is about (the paper's models and data by
default), a ``plan`` that names the sweeps it needs at the context's tier and options (known before anything
trains: ``iwcore.plan`` lists a tier's work from them) and a ``decide`` function of their results that computes
the statistics and returns a ``Decision``. ``run_claim`` does everything else: it runs the plan's sweeps (trained
once, cached), writes the report record with the findings its subjects declare (``Subject.expected``; the paper's
are ``iwcore.battery.findings``), and ``conclude`` gives the outcome.

The pytest outcome follows the verdict (CLAIMS.md revision 3): REPRODUCED passes. A (claim, tier) declared
as a finding is a strict expected failure for exactly the verdicts it lists (REPRODUCED among them: not
decidable at that scale); a REPRODUCED it does not list passes, which the strict xfail turns into a failure
(XPASS(strict)); any other verdict raises ``VerdictMismatch`` (not an AssertionError, so a strict xfail cannot
swallow it), and so does a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from iwcore.battery.findings import Expected
from iwcore.battery.scale import scale_facts
from iwcore.battery.subject import Subject
from iwcore.dryrun import DRY_RUN
from iwcore.report import ClaimRecord
from iwcore.reportview import DRY_VERDICT
from iwcore.results import SweepResult
from iwcore.stats import EffectSummary, effect_summary, permutation_seed
from iwcore.sweep import Sweep
from iwcore.verdicts import Decision, Verdict, combine, did_it_learn, requiring_learning

TIERS = ("fast", "long", "full")  # also in iwcore.plugin, which must not import torch
# The run option that asks the data hooks for a sweep's config only: no data read, no device required. A data folder
# not given stays this placeholder in the config (so such a sweep's cache key is not the real run's).
PLAN_ONLY = "plan_only"
DATA_DIR_PLACEHOLDER = "<--data-dir>"


class Unavailable(Exception):
    """What a claim needs is missing here (a dataset, a GPU, a tier the subject does not define): the claim
    is skipped with this reason, never decided."""


class VerdictMismatch(Exception):
    """A verdict that is neither REPRODUCED nor the declared finding of its (claim, tier)."""


@dataclass(frozen=True)
class Claim:
    """One claim of the battery. ``plan(ctx)`` names the sweeps it needs, ``{name: Sweep}`` (from the context's
    tier, options and subjects); ``decide(ctx, results)`` returns the decision from their results, by the same
    names; ``setting(ctx)`` what was run (after ``decide``, so it may read ``ctx.results``). ``subjects`` are the
    paper's; ``rebind`` says whether a user's subject may replace them (claims whose design is specific to the
    paper's data say no) and ``needs`` what such a subject must be."""

    id: str
    sentence: str
    paper: str
    criterion: str
    plan: Callable[["Context"], dict[str, Sweep]]
    decide: Callable[["Context", dict[str, SweepResult]], Decision]
    subjects: tuple[Subject, ...]
    setting: Callable[["Context"], str]
    rebind: bool = False
    needs: str = ""
    separable: bool | None = None  # what the subject's data must be for the claim to apply (None: either)
    marks: tuple[str, ...] = ()

    def applies_to(self, subject: Subject) -> bool:
        return self.rebind and (self.separable is None or subject.separable == self.separable)

    def with_subjects(self, *subjects: Subject) -> "Claim":
        """The same claim about other subjects (a user's model, loss or data)."""
        wrong = [s.name for s in subjects if not self.applies_to(s)]
        if wrong:
            raise ValueError(f"{self.id} does not apply to {wrong}: it needs {self.needs or 'the paper setting'}")
        return replace(self, subjects=tuple(subjects))

    @property
    def about_paper(self) -> bool:
        return all(s.paper for s in self.subjects)

    @property
    def record_id(self) -> str:
        """The report's id: the claim's, with the subjects' names when they are not the paper's."""
        return self.id if self.about_paper else f"{self.id}@{'+'.join(s.name for s in self.subjects)}"

    def expected(self, tier: str) -> Expected | None:
        """The finding the claim's subjects declare at ``tier`` (``Subject.expected``), or None."""
        declared = {s.expected.get((self.id, tier)) for s in self.subjects}
        if len(declared) > 1:
            raise ValueError(f"the subjects of {self.record_id} declare different verdicts at the {tier} tier; "
                             f"declare the same on each")
        return next(iter(declared), None)


@dataclass
class Context:
    """What a claim's ``plan`` and ``decide`` work with: the tier, the subjects, a cached ``run`` of sweeps (the
    run's base seed applied; None where the claim is only planned), the options of the run (``data_dir``,
    ``download``, ``allow_cpu``, ``bert_model``, ``device``; ``PLAN_ONLY``; ``DRY_RUN``, ``iwcore.dryrun``) and
    where figures go. It remembers the results and figures for the report."""

    claim: Claim
    tier: str
    run_sweep: Callable[[Sweep], SweepResult] | None
    report_dir: Path
    options: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    figures: list = field(default_factory=list)

    @property
    def subjects(self) -> tuple[Subject, ...]:
        return self.claim.subjects

    def sweep(self, subject: Subject, variant: str = "", **changes) -> Sweep:
        return subject.sweep(self.tier, self.options, variant, **changes)

    def run(self, sweep: Sweep) -> SweepResult:
        result = self.run_sweep(sweep)
        if all(r.key != result.key for r in self.results):
            self.results.append(result)
        return result

    def figure_path(self, name: str) -> Path:
        return Path(self.report_dir) / self.tier / "figures" / f"{name}.png"

    def add_figure(self, path: Path | None) -> None:
        if path is not None:
            self.figures.append(Path(path))


def each_subject(ctx: Context) -> dict[str, Sweep]:
    """A plan: the sweep of every subject of the claim as it is, by the subject's label."""
    return {s.label: ctx.sweep(s) for s in ctx.subjects}


def data_folder(data_dir: Path | str | None) -> str:
    """A data folder as a sweep's config names it: resolved, or ``DATA_DIR_PLACEHOLDER`` where none is given (a
    plan only)."""
    return DATA_DIR_PLACEHOLDER if data_dir is None else str(Path(data_dir).expanduser().resolve())


# --- statistics every claim shares ------------------------------------------------------------------------


def summarize(result: SweepResult, eval_set: str = "test") -> EffectSummary:
    """CLAIMS.md's effect statistics of one sweep on one evaluation set; permutations seeded from the cache key."""
    return effect_summary(result.ratio(eval_set), result.weight_ratios, result.epochs, result.config["epochs"],
                          seed=permutation_seed(f"{result.key}/{eval_set}"))


def evaluation_sets(result: SweepResult, deciding_roles: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deciding, reported) evaluation sets of a result, from the roles its task gave them."""
    roles = result.meta["eval_roles"]
    deciding = tuple(k for k, role in roles.items() if role in deciding_roles)
    reported = tuple(k for k in roles if k not in deciding)
    if not deciding:
        raise ValueError(f"sweep {result.config['name']!r} has no evaluation set of roles {deciding_roles}")
    return deciding, reported


def decide_sets(result: SweepResult, rule, deciding_roles: tuple[str, ...] = ("in_domain",),
                baseline: SweepResult | None = None, part: str = "") -> Decision:
    """``rule`` on every deciding evaluation set (combined: AND); the other sets' rows reported beside them.
    With ``baseline`` the rule also compares final effects, paired by seed where the sweeps share seeds."""
    def decide(name: str) -> Decision:
        summary = summarize(result, name)
        if baseline is None:
            return rule(summary, part=part, eval_set=name)
        return rule(summary, summarize(baseline, name), paired=result.seeds == baseline.seeds, part=part,
                    eval_set=name)

    return over_sets(result, decide, deciding_roles)


def over_sets(result: SweepResult, decide: Callable[[str], Decision],
              deciding_roles: tuple[str, ...] = ("in_domain",)) -> Decision:
    """``decide(eval_set)`` on every deciding evaluation set of ``result`` (combined: AND); the other sets'
    rows reported beside them."""
    deciding, reported = evaluation_sets(result, deciding_roles)
    decision = combine({name: decide(name) for name in deciding}) if len(deciding) > 1 else decide(deciding[0])
    for name in reported:
        decision.rows += decide(name).reported()
    return decision


def unweighted_accuracy(result: SweepResult, eval_set: str = "test") -> np.ndarray:
    """Final in-domain accuracy of the unweighted (ratio 1) model of every seed."""
    return result.accuracy(eval_set)[-1, list(result.weight_ratios).index(1.0)]


def with_learning(decision: Decision, results: dict[str, SweepResult], chance: float | None = None) -> Decision:
    """``decision``, INCONCLUSIVE unless every named sweep's unweighted model learned its task (chance: one
    over the number of classes unless given)."""
    def floor(r: SweepResult) -> float:
        return chance if chance is not None else 1 / len(r.meta["class_names"])

    return requiring_learning(decision, [did_it_learn(unweighted_accuracy(r), floor(r), name)
                                         for name, r in results.items()])


# --- the runner -------------------------------------------------------------------------------------------


def outcome(decision: Decision, expected: Expected | None) -> str:
    if expected is not None:
        return "expected finding" if decision.verdict in expected.verdicts else "mismatch"
    return "passed" if decision.verdict == Verdict.REPRODUCED else "failed"


def record(ctx: Context, decision: Decision, properties: list) -> ClaimRecord:
    """Write the claim's record for the report (before concluding, so every outcome is reported)."""
    claim, expected = ctx.claim, ctx.claim.expected(ctx.tier)
    first = ctx.results[0]
    keys = [r.key for r in ctx.results]
    properties += [("claim", claim.record_id), ("tier", ctx.tier), ("cache_keys", keys)]
    tier_dir = Path(ctx.report_dir) / ctx.tier
    verdict, reason, result = decision.verdict.value, decision.reason, outcome(decision, expected)
    if ctx.options.get(DRY_RUN):  # statistics of truncated training: shown, never a verdict
        verdict, reason, result = DRY_VERDICT, f"ran end to end; truncated training gave {verdict}: {reason}", "dry run"
    rec = ClaimRecord(
        id=claim.record_id, claim=claim.sentence, tier=ctx.tier, verdict=verdict,
        criterion=claim.criterion, reason=reason, statistic=decision.statistic, paper=claim.paper,
        setting=claim.setting(ctx), seeds=first.seeds, epochs=int(first.config["epochs"]),
        device=first.meta["environment"]["device"],
        wall_time_s=float(sum(r.meta["wall_time_s"] for r in ctx.results)), cache_keys=keys,
        figures=[str(f.relative_to(tier_dir)) for f in ctx.figures],
        diverged=[f"{r.config['name']}: {d}" for r in ctx.results for d in r.diverged_models()],
        environment=first.meta["environment"], rows=[r.as_dict() for r in decision.rows],
        part_verdicts=decision.part_verdicts, seeds_needed=decision.seeds_needed,
        expected=None if expected is None else expected.as_dict(), outcome=result,
        scale=scale_facts(claim, ctx.tier, ctx.results))
    rec.write(ctx.report_dir)
    return rec


def conclude(claim: Claim, tier: str, decision: Decision) -> None:
    """Pass on REPRODUCED; AssertionError for a declared verdict, which the strict xfail of its finding expects;
    ``VerdictMismatch`` for any other verdict, except REPRODUCED, which passes (the strict xfail makes it an
    XPASS(strict) failure)."""
    expected = claim.expected(tier)
    summary = f"{claim.record_id} ({tier}) {decision.verdict.value}: {decision.reason}"
    if expected is None:
        assert decision.verdict == Verdict.REPRODUCED, summary
        return
    if decision.verdict in expected.verdicts:
        raise AssertionError(f"expected finding: {summary}")
    if decision.verdict != Verdict.REPRODUCED:
        raise VerdictMismatch(f"{summary}; declared finding at this tier: "
                              f"{sorted(v.value for v in expected.verdicts)} ({expected.reason})")


def run_claim(ctx: Context, properties: list | None = None) -> Decision:
    """Run the sweeps of ``ctx.claim``'s plan, decide it, write its record and return the decision (``conclude``
    gives the outcome)."""
    results = {name: ctx.run(sweep) for name, sweep in ctx.claim.plan(ctx).items()}
    decision = ctx.claim.decide(ctx, results)
    record(ctx, decision, properties if properties is not None else [])
    return decision
