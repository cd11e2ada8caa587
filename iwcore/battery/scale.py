"""What limits a verdict at its tier's scale, computed from what ran (the report's scale flags): models at the
extreme weights that still predict one class at the end (the weighting has not let go of them), and the share of
the paper's SGD steps per model that this tier trained (CLAIMS.md: a tier changes scale, never thresholds)."""

from __future__ import annotations

from iwcore.results import SweepResult


def one_class_at_extremes(results: list[SweepResult]) -> list[str]:
    """Per weighted sweep and in-domain evaluation set, the models at the smallest and largest weight ratio whose
    final predictions are all one class."""
    found = []
    for result in results:
        ratios = list(result.weight_ratios)
        if len(ratios) < 3 or result.config.get("null_weights") or len(result.meta["class_names"]) != 2:
            continue
        for name, role in result.meta["eval_roles"].items():
            if role != "in_domain":
                continue
            final = result.ratio(name)[-1]  # (ratios, seeds)
            for i in (0, len(ratios) - 1):
                stuck = int(((final[i] <= 0) | (final[i] >= 1)).sum())
                if stuck:
                    found.append(f"{result.config['name']}: {stuck} of {final.shape[1]} models at w = {ratios[i]:g} "
                                 f"predict one class on {name} at the end")
    return found


def paper_step_share(claim, tier: str) -> dict | None:
    """``{"sweep", "steps", "paper_steps", "share"}``: of the claim's sweeps at ``tier`` that the full tier (the
    paper's settings) also runs, by name less its tier, the one with the smallest share of the full tier's SGD steps
    per model; None at the full tier or where no sweep pairs."""
    if tier == "full":
        return None
    from iwcore.plan import plan_tier, sgd_steps  # the planner imports the claims

    def steps(at: str) -> dict[str, int]:
        return {entry.sweep.name.partition("-")[2]: sgd_steps(entry.sweep)[1] for entry in plan_tier(at, [claim])[0]}

    here, paper = steps(tier), steps("full")
    shares = [(here[name] / paper[name], name) for name in here if name in paper]
    if not shares:
        return None
    share, name = min(shares)
    return {"sweep": name, "steps": here[name], "paper_steps": paper[name], "share": share}


def scale_facts(claim, tier: str, results: list[SweepResult]) -> dict:
    """The record's ``scale``: ``one_class_at_extremes`` and ``paper_steps`` (``paper_step_share``)."""
    return {"one_class_at_extremes": one_class_at_extremes(results), "paper_steps": paper_step_share(claim, tier)}
