"""What every claim test does besides its science: tiers and their expected findings, effect summaries,
did-it-learn checks, the record it leaves in the claims report, and the pytest outcome of its verdict.

Pytest outcomes follow the verdict (CLAIMS.md revision 2): REPRODUCED passes. A (claim, tier) whose
verdict at that scale is a known finding is declared in ``claims/expected.py`` with the verdicts measured
over base seeds 0-4 and the reason; a verdict in that set is an expected failure
(``xfail(strict=True, raises=AssertionError)``), while any other verdict, or a crash, fails the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claims.expected import EXPECTED
from iwcore.report import ClaimRecord
from iwcore.results import SweepResult
from iwcore.stats import EffectSummary, effect_summary, permutation_seed
from iwcore.verdicts import Decision, Verdict, combine, did_it_learn, requiring_learning


class VerdictMismatch(Exception):
    """A claim's verdict is neither REPRODUCED nor its declared expected finding (never an AssertionError,
    so a strict xfail cannot swallow it)."""


def tiers(claim_id: str) -> list:
    """The fast and full tiers of a claim, each marked as a strict expected failure where
    ``claims/expected.py`` declares a finding for it."""
    params = []
    for tier in ("fast", "full"):
        marks = [getattr(pytest.mark, tier)]
        if (expected := EXPECTED.get((claim_id, tier))) is not None:
            marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=expected.reason))
        params.append(pytest.param(tier, marks=marks))
    return params


def summarize(result: SweepResult, eval_set: str = "test") -> EffectSummary:
    """CLAIMS.md's effect statistics of one sweep on one evaluation set; permutations seeded from the cache key."""
    return effect_summary(result.ratio(eval_set), result.weight_ratios, result.epochs, result.config["epochs"],
                          seed=permutation_seed(f"{result.key}/{eval_set}"))


def decide_sets(result: SweepResult, rule, deciding: tuple[str, ...], reported: tuple[str, ...] = (),
                baseline: SweepResult | None = None, part: str = "") -> Decision:
    """``rule`` on every deciding evaluation set (combined: AND / OR); the reported sets' rows beside them.
    With ``baseline`` the rule also compares final effects, paired by seed where the sweeps share seeds."""

    def decide(name: str) -> Decision:
        summary = summarize(result, name)
        if baseline is None:
            return rule(summary, part=part, eval_set=name)
        return rule(summary, summarize(baseline, name), paired=result.seeds == baseline.seeds, part=part,
                    eval_set=name)

    decision = combine({name: decide(name) for name in deciding}) if len(deciding) > 1 else decide(deciding[0])
    for name in reported:
        decision.rows += decide(name).reported()
    return decision


def unweighted_accuracy(result: SweepResult, eval_set: str = "test") -> np.ndarray:
    """Final in-domain accuracy of the unweighted (ratio 1) model of every seed."""
    return result.accuracy(eval_set)[-1, list(result.weight_ratios).index(1.0)]


def with_learning(decision: Decision, results: dict[str, SweepResult], chance: float = 0.5) -> Decision:
    """``decision``, INCONCLUSIVE unless every named sweep's unweighted model learned its task."""
    return requiring_learning(decision, [did_it_learn(unweighted_accuracy(r), chance, name)
                                         for name, r in results.items()])


def figure_path(report_dir: Path, tier: str, name: str) -> Path:
    return report_dir / tier / "figures" / f"{name}.png"


def record(request, report_dir: Path, *, claim_id: str, claim: str, tier: str, decision: Decision,
           criterion: str, paper: str, setting: str, results: list[SweepResult], figures: list[Path]) -> ClaimRecord:
    """Write the claim's record for the report (before concluding, so every outcome is reported)."""
    expected = EXPECTED.get((claim_id, tier))
    first = results[0]
    keys = [r.key for r in results]
    request.node.user_properties += [("claim", claim_id), ("tier", tier), ("cache_keys", keys)]
    rec = ClaimRecord(
        id=claim_id, claim=claim, tier=tier, verdict=decision.verdict.value, criterion=criterion,
        reason=decision.reason, statistic=decision.statistic, paper=paper, setting=setting,
        seeds=first.seeds, epochs=int(first.config["epochs"]), device=first.meta["environment"]["device"],
        wall_time_s=float(sum(r.meta["wall_time_s"] for r in results)), cache_keys=keys,
        figures=[str(Path(f).relative_to(report_dir / tier)) for f in figures],
        diverged=[f"{r.config['name']}: {d}" for r in results for d in r.diverged_models()],
        environment=first.meta["environment"], rows=[r.as_dict() for r in decision.rows],
        part_verdicts=decision.part_verdicts, seeds_needed=decision.seeds_needed,
        expected=None if expected is None else expected.as_dict(), outcome=outcome(decision, expected))
    rec.write(report_dir)
    return rec


def outcome(decision: Decision, expected) -> str:
    if expected is not None:
        return "expected finding" if decision.verdict in expected.verdicts else "mismatch"
    return "passed" if decision.verdict == Verdict.REPRODUCED else "failed"


def conclude(claim_id: str, tier: str, decision: Decision):
    """The pytest outcome of a verdict: pass on REPRODUCED; AssertionError for a non-REPRODUCED verdict, which
    the strict xfail of a declared finding expects; ``VerdictMismatch`` for a verdict outside that finding."""
    expected = EXPECTED.get((claim_id, tier))
    summary = f"{claim_id} ({tier}) {decision.verdict.value}: {decision.reason}"
    if expected is None:
        assert decision.verdict == Verdict.REPRODUCED, summary
        return
    if decision.verdict not in expected.verdicts:
        raise VerdictMismatch(f"{summary}; declared finding at this tier: "
                              f"{sorted(v.value for v in expected.verdicts)} ({expected.reason})")
    raise AssertionError(f"expected finding: {summary}")
