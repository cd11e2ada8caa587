"""``check``: the battery from Python, without pytest. It decides the claims about a subject (or given claims)
at one tier, trains what the cache lacks, writes the claims report and returns the decisions.

    decisions = iwcore.check(my_subject, claims=["C1", "C17"], tier="fast")
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

from iwcore.battery.claim import TIERS, Claim, Context, Unavailable, run_claim
from iwcore.battery.subject import Subject
from iwcore.battery.testing import claims_for
from iwcore.report import DEFAULT_REPORT_DIR, gather, set_current_run_id, write_run
from iwcore.runinfo import code_version, environment, git_info, new_run_id
from iwcore.verdicts import Decision


def check(target: Subject | Iterable[Claim], claims: Iterable[str] | None = None, tier: str = "fast",
          device: str = "auto", cache_dir: Path | str | None = None, report_dir: Path | str = DEFAULT_REPORT_DIR,
          base_seed: int = 0, data_dir: Path | str | None = None, show_progress: bool = True,
          expected: dict | None = None, executor=None, plan_first: bool = True,
          shard_models: int = 0) -> dict[str, Decision]:
    """The decision of every claim of ``target`` at ``tier``, by report id; the report goes to
    ``report_dir/<tier>/claims.{md,html,json}``, each record with the verdicts ``expected`` declares for it (as
    ``Subject.create``'s argument). A claim whose data or device is missing here is left out of the decisions
    and listed in the report as not decided, with the reason. ``executor`` (``iwcore.executors``) trains the
    sweeps: in this process by default; a ``RayExecutor`` trains every missing shard of the claims' sweeps on its
    cluster at once (``iwcore.prefetch``), or with ``plan_first=False`` one claim's sweeps after another;
    ``shard_models`` is ``--shard-models`` (0: from the device)."""
    from iwcore.cache import SweepCache
    from iwcore.prefetch import Prefetch
    from iwcore.training import resolve_device

    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
    selected = claims_for(target, claims, expected)
    if not selected:
        raise ValueError("no claim applies to this subject" + (f" among {list(claims)}" if claims else ""))
    cache = SweepCache(cache_dir, show_progress=show_progress, shard_models=shard_models)
    dev = resolve_device(device) if executor is None else executor.device(device)
    options = {"data_dir": None if data_dir is None else Path(data_dir), "download": False, "allow_cpu": False,
               "bert_model": "bert-base-uncased", "device": dev}
    run_id, started, started_at = new_run_id(), time.time(), dt.datetime.now(dt.timezone.utc).isoformat()
    previous = set_current_run_id(run_id)
    decisions, not_decided = {}, []
    try:
        with Prefetch(cache, [(c, tier) for c in selected], options, dev, executor, base_seed) \
                if plan_first and getattr(executor, "name", None) == "ray" else nullcontext(cache) as source:
            for claim in selected:
                ctx = Context(claim, tier, lambda s: source.run(s.with_base_seed(base_seed), dev, executor),
                              Path(report_dir), options)
                try:
                    decisions[claim.record_id] = run_claim(ctx)
                except Unavailable as missing:
                    not_decided.append({"id": claim.record_id, "outcome": "skipped", "reason": str(missing)})
    finally:
        set_current_run_id(previous)
    tier_dir = Path(report_dir) / tier
    run = {"run_id": run_id, "tier": tier, "started_at": started_at, "wall_time_s": time.time() - started,
           "command": f"iwcore.check({', '.join(c.record_id for c in selected)}, tier={tier!r})",
           "base_seed": base_seed, "git": git_info(), "code_version": code_version(), "environment": environment(),
           "claims": gather(tier_dir, run_id), "not_decided": not_decided, "problems": []}
    write_run(tier_dir, run)
    return decisions
