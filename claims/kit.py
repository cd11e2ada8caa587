"""What every claim test does besides its science: tiers, effect summaries, the record it leaves
in the claims report, and the assertion with the numbers in its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from iwcore.report import ClaimRecord
from iwcore.results import SweepResult
from iwcore.stats import EffectSummary, difference_of_finals, effect_summary
from iwcore.verdicts import Decision, Verdict, all_of

TIERS = [pytest.param("fast", marks=pytest.mark.fast), pytest.param("full", marks=pytest.mark.full)]


def tiers(fast_xfail: str | None = None, full_xfail: str | None = None) -> list:
    """``TIERS``, with a tier marked as a strict expected failure (its measured numbers as the reason)
    where a claim does not reproduce at that scale; the report shows the reason."""
    return [pytest.param(tier, marks=[getattr(pytest.mark, tier)]
                         + ([pytest.mark.xfail(strict=True, reason=reason)] if reason else []))
            for tier, reason in (("fast", fast_xfail), ("full", full_xfail))]


def summarize(result: SweepResult, eval_set: str = "test") -> EffectSummary:
    return effect_summary(result.ratio(eval_set), result.weight_ratios, result.epochs, result.config["epochs"])


def decide_per_set(result: SweepResult, criterion, deciding: tuple[str, ...], reported: tuple[str, ...] = (),
                   baseline: SweepResult | None = None) -> Decision:
    """The deciding evaluation sets must all meet the criterion; the others are reported beside them.
    With ``baseline`` (e.g. the unregularised sweep) the criterion also gets the difference of final
    effects to it, paired by seed where the two sweeps share their seeds."""

    def decide(name: str) -> Decision:
        summary = summarize(result, name)
        if baseline is None:
            return criterion(summary)
        return criterion(summary, difference_of_finals(summary, summarize(baseline, name),
                                                       paired=result.seeds == baseline.seeds))

    return combine_per_set({name: decide(name) for name in deciding + reported}, deciding)


def combine_per_set(decisions: dict[str, Decision], deciding: tuple[str, ...]) -> Decision:
    """All of the deciding sets' decisions; every other set's verdict and statistic reported beside it."""
    decision = all_of({name: decisions[name] for name in deciding})
    for name, d in decisions.items():
        if name not in deciding:
            decision.statistic[f"{name} (reported)"] = {"verdict": d.verdict.value, **d.statistic}
    return decision


def figure_path(report_dir: Path, tier: str, name: str) -> Path:
    return report_dir / tier / "figures" / f"{name}.png"


def record(request, report_dir: Path, *, claim_id: str, claim: str, tier: str, decision: Decision,
           criterion: str, paper: str, setting: str, results: list[SweepResult], figures: list[Path]) -> ClaimRecord:
    """Write the claim's record for the report (before asserting, so failures are reported too)."""
    xfail = request.node.get_closest_marker("xfail")
    first = results[0]
    rec = ClaimRecord(
        id=claim_id, claim=claim, tier=tier, verdict=decision.verdict.value, criterion=criterion,
        reason=decision.reason, statistic=decision.statistic, paper=paper, setting=setting,
        seeds=first.seeds, epochs=int(first.config["epochs"]), device=first.meta["environment"]["device"],
        wall_time_s=float(sum(r.meta["wall_time_s"] for r in results)), cache_keys=[r.key for r in results],
        figures=[str(Path(f).relative_to(report_dir / tier)) for f in figures],
        diverged=[f"{r.config['name']}: {d}" for r in results for d in r.diverged_models()],
        expected_failure=xfail.kwargs.get("reason") if xfail else None,
        environment=first.meta["environment"])
    rec.write(report_dir)
    return rec


def assert_reproduced(claim_id: str, decision: Decision):
    assert decision.verdict == Verdict.REPRODUCED, f"{claim_id} {decision.verdict.value}: {decision.reason}"
