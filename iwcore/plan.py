"""A tier's work before anything trains: ``python -m iwcore.plan --tier full [--claim C6 ...] [--json]``.

Every sweep the selected claims plan (``Claim.plan``), once per cache key with the claims that use it, and what
it costs: models, epochs, training examples, SGD steps, training and evaluation FLOPs, its state in a cache, the
shards it splits into on a GPU of a given memory, and projected GPU-hours. Nothing reads data or needs a GPU:
the claims are planned with ``PLAN_ONLY`` (a data folder not given stays a placeholder, so such sweeps' cache
state is unknown), the sizes of CIFAR-10 and MRPC are known here, and models are built on the ``meta`` device.

- FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on one model's forward and backward pass over one
  minibatch (matrix products and convolutions; elementwise work is not counted), per example x training
  examples x epochs x models; evaluation: one forward pass per evaluated example x checkpoints x models. A
  pretrained BERT is counted as BERT-base's architecture at the full 128 tokens (MRPC's batches are trimmed to
  their longest pair, so this is an upper bound).
- Shards: as a GPU run sizes them (``iwcore.shards.gpu_seeds_per_shard``: parameters, gradients, optimizer
  state and one minibatch's activations per model, against 60% of the GPU's memory).
- GPU-hours: from ``bench/gpu_check.py``'s JSON where it measured the sweep's model on the sweep's task
  (seconds per model-step of the sweep's precision; evaluation at the same throughput per FLOP); otherwise
  training and evaluation FLOPs at a sustained rate (``--tflops``).

``--json`` prints ``build_plan``'s data: ``tier``, ``claims``, ``device_type``, ``base_seed``, ``cache_dir``,
``assumptions``, ``not_planned`` (claim: why), ``totals`` and ``sweeps``, one row per sweep with ``name``, ``key``,
``claims`` and the keys of ``cost`` (``model``, ``task``, ``models``, ``ratios``, ``seeds``, ``epochs``,
``n_train``, ``steps_per_epoch``, ``steps_per_model``, ``model_steps``, ``forward_flops_per_example``,
``train_flops_per_example``, ``train_flops``, ``eval_examples``, ``checkpoints``, ``eval_flops``, ``cache``,
``seeds_per_shard``, ``shards``, ``gpu_hours``, ``rate_from``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from iwcore.battery.claim import DATA_DIR_PLACEHOLDER, PLAN_ONLY, TIERS, Context, Unavailable
from iwcore.cache import default_cache_dir, entry_state
from iwcore.codekey import sweep_code_version
from iwcore.data import build_task
from iwcore.models import build_model
from iwcore.shards import SHARD_MEMORY_SHARE, gpu_seeds_per_shard
from iwcore.sweep import PRECISIONS, Sweep

DEFAULT_TFLOPS = 100.0  # sustained, bf16-equivalent, per GPU: the projection's assumption without a gpu_check JSON
DEFAULT_GPU_MEMORY_GIB = 80.0
CIFAR_TRAIN_PER_CLASS, CIFAR_TEST_PER_CLASS, CIFAR_CLASSES = 5000, 1000, 10
MRPC_SIZES = {"train": 3668, "test": 1725, "dev": 408}  # GLUE train and dev, the original labelled test
MRPC_TOKENS = 128  # iwcore.data.text.MAX_LENGTH
# Models counted as another registered model: a pretrained BERT as the architecture of bert-base-uncased (BertConfig's
# defaults), with random weights, so that nothing is downloaded.
OFFLINE_ARCHITECTURES = {"bert": ("tiny_bert", dict(vocab_size=30522, layers=12, hidden=768, heads=12,
                                                    intermediate=3072, init_std=0.02))}


@dataclass(frozen=True)
class TaskSize:
    """What planning needs of a task: its input, classes, training examples per replicate and evaluation sets."""

    input_shape: tuple[int, ...]
    dtype: str
    num_classes: int
    n_train: int
    n_eval: dict[str, int]


@dataclass
class PlannedSweep:
    """One sweep of the plan, its cache key and the claims that use it."""

    sweep: Sweep
    key: str
    claims: list[str]


# --- what the claims plan ---------------------------------------------------------------------------------


def claims_of(claim_ids: list[str] | None):
    """The battery's claims with these ids (all by default); an unknown id is a ValueError naming the known ones."""
    from iwcore.battery.paper import CLAIMS

    known = sorted(CLAIMS, key=lambda c: int(c[1:]))
    unknown = [c for c in claim_ids or () if c not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; the battery has {', '.join(known)}")
    return [CLAIMS[c] for c in claim_ids or known]


def plan_tier(tier: str, claims=None, options: dict | None = None, device_type: str = "cuda",
              base_seed: int = 0) -> tuple[list[PlannedSweep], dict[str, str]]:
    """Every sweep ``claims`` (Claim objects; all of the battery's by default) plan at ``tier`` with run ``options``
    (planned only, ``PLAN_ONLY``), as ``plan_cases`` gives them."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    options = {"bert_model": "bert-base-uncased", **(options or {}), PLAN_ONLY: True}
    return plan_cases([(claim, tier) for claim in (claims_of(None) if claims is None else claims)], options,
                      device_type, base_seed)


def plan_cases(cases, options: dict, device_type: str, base_seed: int = 0) -> tuple[list[PlannedSweep], dict[str, str]]:
    """Every sweep the ``(claim, tier)`` cases plan with run ``options``, with the run's base seed applied, once per
    cache key (on ``device_type``) in the order the claims plan them; and the claims that plan nothing here
    (``Unavailable``), with the reason."""
    planned: dict[str, PlannedSweep] = {}
    not_planned = {}
    for claim, tier in cases:
        try:
            sweeps = claim.plan(Context(claim, tier, None, Path("."), options))
        except Unavailable as why:
            not_planned[claim.record_id] = str(why)
            continue
        for sweep in sweeps.values():
            sweep = sweep.with_base_seed(base_seed)
            key = sweep.key(sweep_code_version(sweep), device_type)
            entry = planned.setdefault(key, PlannedSweep(sweep, key, []))
            if claim.record_id not in entry.claims:
                entry.claims.append(claim.record_id)
    return list(planned.values()), not_planned


# --- sizes without data -----------------------------------------------------------------------------------


def kept(pool: int, options: dict, class_name: str | None) -> int:
    """Training examples one replicate keeps of a class's pool of ``pool`` (as ``iwcore.data.images`` draws them)."""
    n = max(1, round(options.get("train_fraction", 1.0) * pool))
    n = min(n, options.get("n_train_per_class") or n)
    factor = options.get("subsample_factor", 1) if options.get("subsample_class") == class_name else 1
    return max(1, round(n / factor))


def cifar_pair_size(o: dict) -> TaskSize:
    pool = CIFAR_TRAIN_PER_CLASS - o.get("n_val_per_class", 0)
    n_eval = {"test": 2 * CIFAR_TEST_PER_CLASS, "other": (CIFAR_CLASSES - 2) * CIFAR_TEST_PER_CLASS,
              "val": 2 * o.get("n_val_per_class", 0), "noise": o.get("n_noise", 1000)}
    return TaskSize((3, 32, 32), "float32", 2, sum(kept(pool, o, str(o[c])) for c in ("positive", "negative")),
                    {k: n for k, n in n_eval.items() if n})


def cifar_multiclass_size(o: dict) -> TaskSize:
    return TaskSize((3, 32, 32), "float32", CIFAR_CLASSES, CIFAR_CLASSES * kept(CIFAR_TRAIN_PER_CLASS, o, None),
                    {"test": CIFAR_CLASSES * CIFAR_TEST_PER_CLASS})


def mrpc_size(o: dict) -> TaskSize:
    def at_most(n: int, cap: int | None) -> int:
        return n if cap is None else min(n, cap)

    return TaskSize((2, o.get("max_length", MRPC_TOKENS)), "int64", 2, at_most(MRPC_SIZES["train"], o.get("n_train")),
                    {k: at_most(MRPC_SIZES[k], o.get("n_eval")) for k in ("test", "dev")})


# The tasks that read data files, sized from their options; every other task is built (they are small and offline).
READS_DATA = {"cifar_pair": cifar_pair_size, "cifar_multiclass": cifar_multiclass_size, "mrpc": mrpc_size}


@functools.lru_cache(maxsize=None)
def _built_size(task: str, options_json: str) -> TaskSize:
    built = build_task(task, **json.loads(options_json))
    return TaskSize(built.input_shape, str(built.x_train.dtype).removeprefix("torch."), built.num_classes,
                    len(built.x_train), {k: len(v.x) for k, v in built.eval_sets.items()})


def task_size(sweep: Sweep) -> TaskSize:
    """The sizes of ``sweep``'s task, its evaluation sets restricted to those the sweep measures."""
    size = READS_DATA[sweep.task](sweep.task_options) if sweep.task in READS_DATA else \
        _built_size(sweep.task, json.dumps(sweep.task_options, sort_keys=True))
    measured = {k: n for k, n in size.n_eval.items() if not sweep.eval_sets or k in sweep.eval_sets}
    return TaskSize(size.input_shape, size.dtype, size.num_classes, size.n_train, measured)


def stand_in(sweep: Sweep, size: TaskSize) -> Sweep:
    """``sweep`` on a task of its data's shapes (``iwcore.data.shapes``), its model an architecture that builds
    offline."""
    model, options = OFFLINE_ARCHITECTURES.get(sweep.model, (sweep.model, sweep.model_options))
    return sweep.scaled(task="planned_shape", model=model, model_options=options,
                        task_options={"input_shape": list(size.input_shape), "dtype": size.dtype,
                                      "num_classes": size.num_classes})


# --- FLOPs ------------------------------------------------------------------------------------------------


def count_flops(model: str, model_options: dict, input_shape: tuple[int, ...], dtype: str, num_classes: int,
                batch: int) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs per example of one ``model`` in training mode, counted on one minibatch
    of ``batch`` on the meta device, or on the CPU where a model cannot run on meta."""
    try:
        return _count_on("meta", model, model_options, input_shape, dtype, num_classes, batch)
    except (NotImplementedError, RuntimeError):
        return _count_on("cpu", model, model_options, input_shape, dtype, num_classes, batch)


def _count_on(device: str, model: str, model_options: dict, input_shape: tuple[int, ...], dtype: str,
              num_classes: int, batch: int) -> tuple[float, float]:
    with torch.device(device):
        net = build_model(model, input_shape, num_classes, **model_options)
    net.train()
    x = torch.zeros((batch, *input_shape), dtype=getattr(torch, dtype), device=device)
    with FlopCounterMode(display=False) as forward:
        out = net(x)
    with FlopCounterMode(display=False) as backward:
        out.float().sum().backward()
    return forward.get_total_flops() / batch, (forward.get_total_flops() + backward.get_total_flops()) / batch


@functools.lru_cache(maxsize=None)
def _count_cached(model: str, options_json: str, input_shape: tuple[int, ...], dtype: str, num_classes: int,
                  batch: int) -> tuple[float, float]:
    return count_flops(model, json.loads(options_json), input_shape, dtype, num_classes, batch)


def model_flops(sweep: Sweep, size: TaskSize) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs per example of one model of ``sweep``."""
    counted = stand_in(sweep, size)
    return _count_cached(counted.model, json.dumps(counted.model_options, sort_keys=True), size.input_shape,
                         size.dtype, size.num_classes, sweep.batch_size)


# --- cost -------------------------------------------------------------------------------------------------


def measured_rates(gpu_check: dict) -> dict[tuple[str, str], dict]:
    """By the (model, task) each part of a gpu_check JSON measured: the part's name and its seconds per model-step
    by precision (parts that failed left out)."""
    parts = {name: part for name, part in gpu_check.items()
             if isinstance(part, dict) and all(p in part for p in PRECISIONS)}
    untasked = [name for name, part in parts.items() if "task" not in part]
    if untasked:
        raise ValueError(f"the gpu_check JSON's parts {untasked} do not name the task they measured (written before "
                         f"gpu_check recorded it): rerun bench/gpu_check.py")
    return {(part["model"], part["task"]): {"part": name, **{p: part[p]["s_per_model_step"] for p in PRECISIONS}}
            for name, part in parts.items()}


def sgd_steps(sweep: Sweep, size: TaskSize | None = None) -> tuple[int, int]:
    """(steps per epoch, steps) of one model of ``sweep`` (on a task of ``size``: by default its own)."""
    per_epoch = math.ceil((size or task_size(sweep)).n_train / sweep.batch_size)
    return per_epoch, sweep.last_epoch * per_epoch


def cost(entry: PlannedSweep, cache_dir: Path, gpu_bytes: int, rates: dict, tflops: float) -> dict:
    """What ``entry``'s sweep costs and where it stands in ``cache_dir``."""
    sweep, size = entry.sweep, task_size(entry.sweep)
    forward, forward_backward = model_flops(sweep, size)
    steps_per_epoch, steps = sgd_steps(sweep, size)
    train_flops = forward_backward * size.n_train * sweep.last_epoch * sweep.n_models
    eval_examples = sum(size.n_eval.values())
    eval_flops = forward * eval_examples * len(sweep.checkpoint_epochs) * sweep.n_models
    seeds_per_shard = gpu_seeds_per_shard(stand_in(sweep, size), gpu_bytes)
    measured = rates.get((sweep.model, sweep.task))
    if measured is not None:
        hours = steps * sweep.n_models * measured[sweep.precision] * (1 + eval_flops / train_flops) / 3600
        rate_from = f"gpu_check {measured['part']}"
    else:
        hours, rate_from = (train_flops + eval_flops) / (tflops * 1e12) / 3600, f"FLOPs at {tflops:g} TFLOP/s"
    symbolic = DATA_DIR_PLACEHOLDER in json.dumps(sweep.config())
    return {"model": sweep.model, "task": sweep.task, "models": sweep.n_models, "ratios": len(sweep.weight_ratios),
            "seeds": len(sweep.seeds), "epochs": sweep.last_epoch, "n_train": size.n_train,
            "steps_per_epoch": steps_per_epoch, "steps_per_model": steps,
            "model_steps": steps * sweep.n_models, "forward_flops_per_example": forward,
            "train_flops_per_example": forward_backward, "train_flops": train_flops,
            "eval_examples": eval_examples, "checkpoints": len(sweep.checkpoint_epochs), "eval_flops": eval_flops,
            "cache": {"state": "unknown", "reason": "keyed by a data folder: pass --data-dir"} if symbolic
            else entry_state(cache_dir, entry.key),
            "seeds_per_shard": seeds_per_shard, "shards": math.ceil(len(sweep.seeds) / seeds_per_shard),
            "gpu_hours": hours, "rate_from": rate_from}


def build_plan(tier: str, claim_ids: list[str] | None = None, options: dict | None = None,
               cache_dir: Path | str | None = None, gpu_check: dict | None = None, tflops: float = DEFAULT_TFLOPS,
               gpu_memory_gib: float = DEFAULT_GPU_MEMORY_GIB, device_type: str | None = None,
               base_seed: int = 0) -> dict:
    """The plan of ``tier`` as JSON-ready data: assumptions, one row per sweep, the claims not planned, totals."""
    device_type = device_type or ("cuda" if tier == "full" else "cpu")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    claims = claims_of(claim_ids)
    entries, not_planned = plan_tier(tier, claims, options, device_type, base_seed)
    rates = measured_rates(gpu_check or {})
    rows = [{"name": e.sweep.name, "key": e.key, "claims": e.claims,
             **cost(e, cache_dir, int(gpu_memory_gib * 2 ** 30), rates, tflops)} for e in entries]
    totals = {k: sum(r[k] for r in rows) for k in ("models", "model_steps", "train_flops", "eval_flops", "gpu_hours")}
    totals["sweeps"] = len(rows)
    totals["cache"] = {state: sum(r["cache"]["state"] == state for r in rows)
                       for state in ("done", "partial", "missing", "unknown")}
    return {"tier": tier, "claims": [c.record_id for c in claims], "device_type": device_type,
            "base_seed": base_seed, "cache_dir": str(cache_dir),
            "assumptions": {"gpu_memory_gib": gpu_memory_gib, "tflops": tflops, "gpu_check": bool(rates),
                            "flops": "FlopCounterMode on one model's forward and backward pass (matrix products, "
                                     f"convolutions), per example; BERT as BERT-base at {MRPC_TOKENS} tokens",
                            "shards": f"iwcore.shards.gpu_seeds_per_shard: one stack of parameters, gradients, "
                                      f"optimizer state and one minibatch's activations per model within "
                                      f"{SHARD_MEMORY_SHARE:.0%} of the GPU's memory"},
            "sweeps": rows, "not_planned": not_planned, "totals": totals}


# --- the command ------------------------------------------------------------------------------------------


def human(n: float) -> str:
    """A count with an SI prefix: 1.2e15 -> '1.2P'."""
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{prefix}"
    return f"{n:.3g}"


def table(plan: dict) -> str:
    """The plan as a text table with its assumptions and totals."""
    a, t = plan["assumptions"], plan["totals"]
    rate = "gpu_check's measured rates where they apply, else " if a["gpu_check"] else ""
    lines = [f"{plan['tier']} tier: {t['sweeps']} sweeps of {', '.join(plan['claims'])} (cache keys for "
             f"{plan['device_type']}, base seed {plan['base_seed']}; cache {plan['cache_dir']})",
             f"GPU-hours: {rate}FLOPs at {a['tflops']:g} TFLOP/s sustained; shards on a {a['gpu_memory_gib']:g} GiB "
             f"GPU ({a['shards']}); FLOPs: {a['flops']}", ""]
    header = ("sweep", "claims", "model", "models", "epochs", "n_train", "steps/model", "model-steps", "train FLOP",
              "eval FLOP", "cache", "shards", "GPU-h")
    body = [(r["name"], ",".join(r["claims"]), r["model"], f"{r['ratios']}x{r['seeds']}", str(r["epochs"]),
             str(r["n_train"]), human(r["steps_per_model"]), human(r["model_steps"]), human(r["train_flops"]),
             human(r["eval_flops"]), r["cache"]["state"] + (f" {r['cache']['shards_done']}"
                                                            if r["cache"].get("shards_done") else ""),
             str(r["shards"]), f"{r['gpu_hours']:.3g}") for r in plan["sweeps"]]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *body)]
    lines += ["", f"total: {t['sweeps']} sweeps, {t['models']} models, {human(t['model_steps'])} model-steps, "
                  f"{human(t['train_flops'])} training FLOPs, {human(t['eval_flops'])} evaluation FLOPs, "
                  f"{t['gpu_hours']:.3g} GPU-hours; cache: "
                  + ", ".join(f"{n} {state}" for state, n in t["cache"].items() if n)]
    lines += [f"not planned: {claim}: {why}" for claim, why in plan["not_planned"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m iwcore.plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tier", required=True, help=f"one of {', '.join(TIERS)}")
    ap.add_argument("--claim", action="append", default=None, help="a claim id (repeat or comma-separate); all by "
                                                                    "default")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    ap.add_argument("--cache-dir", default=None, help="the cache whose state to read (default: .iwcache or "
                                                      "$IWCLAIMS_CACHE)")
    ap.add_argument("--data-dir", default=None, help="the data folder the run will be given (keys its CIFAR-10 and "
                                                     "MRPC sweeps); not read")
    ap.add_argument("--bert-model", default="bert-base-uncased", help="the --bert-model the run will be given")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="the device type of the run's cache keys (default: cuda for the full tier, else cpu)")
    ap.add_argument("--base-seed", type=int, default=0)
    ap.add_argument("--gpu-check", default=None, help="a bench/gpu_check.py JSON: its measured rates")
    ap.add_argument("--tflops", type=float, default=DEFAULT_TFLOPS,
                    help=f"sustained TFLOP/s per GPU where nothing was measured (default {DEFAULT_TFLOPS:g})")
    ap.add_argument("--gpu-memory-gib", type=float, default=DEFAULT_GPU_MEMORY_GIB,
                    help=f"GPU memory for the shard count (default {DEFAULT_GPU_MEMORY_GIB:g})")
    args = ap.parse_args(argv)
    claim_ids = [c.strip() for arg in args.claim for c in arg.split(",") if c.strip()] if args.claim else None
    try:
        gpu_check = json.loads(Path(args.gpu_check).read_text()) if args.gpu_check else None
        plan = build_plan(args.tier, claim_ids, {"data_dir": args.data_dir, "bert_model": args.bert_model},
                          args.cache_dir, gpu_check, args.tflops, args.gpu_memory_gib, args.device, args.base_seed)
    except (ValueError, OSError) as err:
        print(f"iwcore.plan: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(plan, indent=1) if args.json else table(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
