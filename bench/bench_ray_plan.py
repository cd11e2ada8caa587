"""Benchmark: plan-first execution on Ray (``iwcore.prefetch``) against one claim after another.

A handful of small claims (C1, C2 and C17 about a small MLP and a logistic regression on the separable 2D task:
five sweeps of ``--seeds`` seeds each, one Ray task per seed, or per ``--shard-models`` models) decided on a local
Ray cluster of ``--cpus`` CPUs (127.0.0.1, no usage reports, no token file), both ways in one run through
``iwcore.check``, each from an empty cache: one after another (``plan_first=False``: each claim's sweeps through
``SweepCache.run``, as a session without plan-first trains them, the cluster idle while a claim decides), and
plan-first (every missing shard submitted at the start, each claim deciding once its sweeps are in). Both give
the same decisions (checked). Prints both wall times, their ratio, the shards training at once on average (the
workers' training time over the wall time, from their task events, ``ray.timeline``) and the machine's load
average (other jobs on the machine slow both ways alike only if they run throughout). ``--repeats`` alternates
the order; the best time of each way counts (the first run pays for warming the driver's and workers' caches).
Usage:
    python bench/bench_ray_plan.py [--cpus 2] [--seeds 5] [--epochs 100] [--shard-models 0] [--repeats 2]
                                   [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

# Read when ray is imported; Ray's memory monitor off: on a machine whose other jobs fill its memory it kills (and
# retries) the workers, which times Ray's retries instead of either way of running.
os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", RAY_memory_monitor_refresh_ms="0")

import ray  # noqa: E402

from iwcore.battery import Subject, check  # noqa: E402
from iwcore.battery.testing import claims_for  # noqa: E402
from iwcore.executors import RayExecutor  # noqa: E402

CLAIMS = ["C1", "C2", "C17"]


def subjects(seeds: int, epochs: int) -> list[Subject]:
    tiers = {"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=tuple(range(seeds)), epochs=epochs)}
    return [Subject.create(f"bench-{model}", model=model, task="separable_2d", lr=0.1, batch_size=8,
                           task_options={"n_per_class": 64, "n_test_per_class": 32}, tiers=tiers)
            for model in ("mlp", "logreg")]


def decide(claims, folder: Path, executor, plan_first: bool, shard_models: int) -> tuple[float, float, dict]:
    """Wall time, shards training at once on average and verdicts of deciding ``claims`` (fast tier) from an empty
    cache in ``folder``."""
    started = time.time()
    decisions = check(claims, tier="fast", device="cpu", cache_dir=folder / "cache", report_dir=folder / "reports",
                      show_progress=False, executor=executor, plan_first=plan_first, shard_models=shard_models)
    seconds = time.time() - started
    return seconds, busy_s(started, started + seconds) / seconds, {c: d.verdict.value for c, d in decisions.items()}


def busy_s(start: float, end: float) -> float:
    """Seconds of shard training between ``start`` and ``end``, summed over the workers (their task events, sent
    every second)."""
    time.sleep(3)
    return sum(min(e["ts"] + e["dur"], end * 1e6) - max(e["ts"], start * 1e6) for e in ray.timeline()
               if e.get("cat", "").startswith("task::fast-bench-") and e["ts"] < end * 1e6
               and e["ts"] + e["dur"] > start * 1e6) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--shard-models", type=int, default=0,
                    help="models per shard (0: one seed, Ray's default on CPUs; 15: a whole sweep, as one GPU holds)")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two ways this many times; the best each")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    claims = [c for s in subjects(args.seeds, args.epochs) for c in claims_for(s, CLAIMS)]
    ray.init(num_cpus=args.cpus, num_gpus=0, include_dashboard=False, configure_logging=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    executor = RayExecutor()
    warm = ray.remote(lambda: __import__("iwcore.training") and time.sleep(1)).options(num_cpus=1)
    ray.get([warm.remote() for _ in range(args.cpus)])  # every worker started, torch and iwcore imported
    load = [os.getloadavg()]
    times, at_once = {"one after another": [], "plan-first": []}, {"one after another": [], "plan-first": []}
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="bench-ray-plan-") as tmp:
        for repeat in range(args.repeats):
            for way, plan_first in (("one after another", False), ("plan-first", True))[::1 - 2 * (repeat % 2)]:
                seconds, shards, verdicts[way] = decide(claims, Path(tmp) / f"{repeat}-{way}", executor, plan_first,
                                                        args.shard_models)
                times[way].append(seconds)
                at_once[way].append(shards)
                print(f"{way}: {seconds:.1f} s, {shards:.2f} shards training at once on average", flush=True)
    load.append(os.getloadavg())
    ray.shutdown()
    assert verdicts["one after another"] == verdicts["plan-first"], verdicts
    best = {way: min(t) for way, t in times.items()}
    result = {"claims": [c.record_id for c in claims], "cpus": args.cpus, "seeds": args.seeds, "epochs": args.epochs,
              "shard_models": args.shard_models,
              "wall_s": times, "shards_at_once": at_once, "ratio": best["one after another"] / best["plan-first"],
              "load_average_1_5_15min": {"before": load[0], "after": load[1]}, "verdicts": verdicts["plan-first"]}
    print(f"{len(claims)} claims on {args.cpus} CPUs: one after another {best['one after another']:.1f} s, plan-first "
          f"{best['plan-first']:.1f} s: {result['ratio']:.2f}x; load average before {load[0][0]:.2f}, after "
          f"{load[1][0]:.2f} (1 min)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
