"""Shards: a sweep split by seed into sub-sweeps that train independently and merge into its result.

A shard is the sweep with a contiguous slice of its seeds (every weight ratio of each), so it is itself
a ``Sweep`` and trains with ``train_sweep``. Every model's result depends only on its own (ratio, seed)
(its sample, initialisation, minibatch order and, for the 2D models, dropout masks are seeded from
them), so on a CPU the merged shards are bit-identical to the sweep trained whole. Two things can
still tie a model to its stack: vmapped models with dropout (``VmapStack`` draws one stack's masks
together, see ``iwcore.stacking``) and kernels whose choice depends on the batch of models (cuDNN
convolutions on a GPU); such sweeps are reproducible for a given shard size, which the device fixes.

How many models a shard holds: ``--shard-models N`` (rounded down to whole seeds, at least one seed), or
from the device: a CPU trains the whole sweep in one stack (stacks are bound by per-operation overhead
there); on a GPU a stacked step has to fit the memory, so a shard holds as many seeds as
``SHARD_MEMORY_SHARE`` of it takes, estimated from the model's parameters, optimizer state and one
minibatch's activations (``model_bytes``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from iwcore.results import SweepResult
from iwcore.sweep import Sweep

SHARD_MEMORY_SHARE = 0.6  # of a GPU's memory that one stack of models may take (the rest: data, evaluation, caching)
_SEED_AXIS = 2  # of every (checkpoint, ratio, seed, ...) array


@dataclass(frozen=True)
class Shard:
    """Sub-sweep ``sweep`` (a slice of the parent's seeds), shard ``index`` of ``count``."""

    sweep: Sweep
    index: int
    count: int

    @property
    def label(self) -> str:
        """Unique within its sweep (the slices are contiguous and seeds are distinct): ``seeds-<first>-<last>``."""
        return f"seeds-{self.sweep.seeds[0]}-{self.sweep.seeds[-1]}"


def split(sweep: Sweep, seeds_per_shard: int) -> list[Shard]:
    """The sweep's shards of ``seeds_per_shard`` seeds each (the last may have fewer), in seed order."""
    if seeds_per_shard < 1:
        raise ValueError(f"a shard needs at least one seed, got {seeds_per_shard}")
    slices = [sweep.seeds[i:i + seeds_per_shard] for i in range(0, len(sweep.seeds), seeds_per_shard)]
    return [Shard(dataclasses.replace(sweep, seeds=seeds), i, len(slices)) for i, seeds in enumerate(slices)]


def seeds_for(sweep: Sweep, models: int) -> int:
    """Seeds per shard for shards of at most ``models`` models (at least one seed)."""
    return max(1, min(len(sweep.seeds), models // len(sweep.weight_ratios)))


def merge(sweep: Sweep, parts: list[SweepResult]) -> SweepResult:
    """The result of ``sweep`` from its shards' results, given in seed order."""
    if len(parts) == 1:
        return parts[0]
    seeds = [s for part in parts for s in part.seeds]
    if seeds != list(sweep.seeds):
        raise ValueError(f"shards of {sweep.name!r} cover seeds {seeds}, not {list(sweep.seeds)}")

    def join(arrays, axis=_SEED_AXIS):
        return np.concatenate(arrays, axis=axis)

    def tables(name):
        return {k: join([getattr(p, name)[k] for p in parts]) for k in getattr(parts[0], name)}

    first = parts[0]
    meta = {**first.meta, "wall_time_s": sum(p.meta["wall_time_s"] for p in parts),
            "samples": [s for p in parts for s in p.meta["samples"]], "shards": len(parts)}
    return SweepResult(config=sweep.config(), key="", epochs=first.epochs, shares=tables("shares"),
                       recall=tables("recall"), class_loss=tables("class_loss"),
                       train_loss=join([p.train_loss for p in parts]), snapshot_epochs=first.snapshot_epochs,
                       predictions=tables("predictions"), diverged_epoch=join([p.diverged_epoch for p in parts], 1),
                       param_trace=None if first.param_trace is None else join([p.param_trace for p in parts]),
                       meta=meta)


def model_bytes(sweep: Sweep) -> int:
    """Estimated GPU memory to train one model of ``sweep`` in a stack: fp32 parameters, gradients and
    optimizer state, plus every layer's output for one minibatch (kept for the backward pass), found by
    a forward pass on the ``meta`` device (no memory, no data)."""
    from iwcore.data import build_task
    from iwcore.models import build_model

    task = build_task(sweep.task, **sweep.task_options)
    with torch.device("meta"):
        model = build_model(sweep.model, task.input_shape, task.num_classes, **sweep.model_options)
    n_params = sum(p.numel() for p in model.parameters())
    slots = 2 if sweep.optimizer == "adam" else int(bool(sweep.optimizer_options.get("momentum")))
    outputs = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel() if torch.is_tensor(out) else 0))
             for m in model.modules() if not list(m.children())]
    example = task.x_train[:1]
    model(torch.empty((sweep.batch_size, *example.shape[1:]), dtype=example.dtype, device="meta"))
    for hook in hooks:
        hook.remove()
    return 4 * (n_params * (2 + slots) + sum(outputs))


def gpu_seeds_per_shard(sweep: Sweep, gpu_bytes: int) -> int:
    """Seeds per shard so that one stacked step fits ``SHARD_MEMORY_SHARE`` of ``gpu_bytes``. A sweep that
    steps ``models_per_step`` models at a time already bounds its stack: then a shard holds every seed."""
    if sweep.models_per_step:
        return len(sweep.seeds)
    return seeds_for(sweep, math.floor(SHARD_MEMORY_SHARE * gpu_bytes / model_bytes(sweep)))
