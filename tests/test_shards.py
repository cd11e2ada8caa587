"""Shards: a sweep split by seed trains shard by shard, is cached shard by shard, and merges into
exactly (bit for bit, on a CPU) what training it whole gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from runs import assert_identical

import iwcore.executors as executors
from iwcore.cache import SweepCache
from iwcore.executors import gpu_request
from iwcore.shards import SHARD_MEMORY_SHARE, gpu_seeds_per_shard, merge, model_bytes, seeds_for, split
from iwcore.stacking import StackedSequential
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

CPU = torch.device("cpu")


def small(**changes) -> Sweep:
    base = dict(name="sh", task="separable_2d", task_options={"n_per_class": 40, "n_test_per_class": 10}, model="mlp",
                weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1, 2, 3, 4), epochs=4, batch_size=8, lr=0.1)
    return Sweep(**{**base, **changes})


def in_shards(sweep, seeds_per_shard):
    return merge(sweep, [train_sweep(s.sweep, CPU, show_progress=False) for s in split(sweep, seeds_per_shard)])


def test_split_covers_the_seeds_in_order_with_distinct_labels():
    parts = split(small(seeds=(7, 3, 9, 1, 4)), 2)
    assert [p.sweep.seeds for p in parts] == [(7, 3), (9, 1), (4,)]
    assert [p.label for p in parts] == ["seeds-7-3", "seeds-9-1", "seeds-4-4"]
    assert seeds_for(small(), 7) == 2 and seeds_for(small(), 1) == 1 and seeds_for(small(), 1000) == 5


@pytest.mark.parametrize("changes", [
    {"model_options": {"dropout": 0.5}},  # per-model dropout streams
    {"model": "logreg", "l2": 0.01},
    {"optimizer": "adam", "lr": 0.01, "normalisation": "weight_sum"},
    {"models_per_step": 4},  # groups inside a shard differ from the whole sweep's
], ids=["mlp-dropout", "logreg-l2", "adam-weight-sum", "models-per-step"])
def test_shards_merge_bit_identical_to_the_whole_sweep(changes):
    sweep = small(**changes)
    whole = train_sweep(sweep, CPU, show_progress=False)
    assert_identical(in_shards(sweep, 2), whole)
    assert_identical(in_shards(sweep, 1), whole)


def test_vmapped_models_without_dropout_are_bit_identical_in_shards(monkeypatch):
    monkeypatch.setattr(StackedSequential, "supports", classmethod(lambda cls, model: False))  # force VmapStack
    sweep = small()
    assert_identical(in_shards(sweep, 2), train_sweep(sweep, CPU, show_progress=False))


def test_vmapped_dropout_masks_depend_on_the_stack(monkeypatch):
    """The documented limit: VmapStack draws a whole stack's dropout masks from one generator, so a
    vmapped model with dropout (the dropout CNN) trains differently in another shard size."""
    monkeypatch.setattr(StackedSequential, "supports", classmethod(lambda cls, model: False))
    sweep = small(model_options={"dropout": 0.5})
    sharded, whole = in_shards(sweep, 2), train_sweep(sweep, CPU, show_progress=False)
    assert not np.array_equal(sharded.param_trace, whole.param_trace)
    assert_identical(sharded, in_shards(sweep, 2))  # reproducible for a given shard size


def test_a_sharded_sweep_is_cached_shard_by_shard_and_resumes(tmp_path, monkeypatch):
    sweep = small()
    cache = SweepCache(tmp_path, show_progress=False, shard_models=6)  # 2 seeds a shard: 3 shards
    trained, stop = [], [True]
    real = executors.train_sweep

    def train_then_stop(shard_sweep, *args, **kwargs):
        if len(trained) == 2 and stop:
            stop.clear()
            raise KeyboardInterrupt  # the first run stops at its third shard
        trained.append(shard_sweep.seeds)
        return real(shard_sweep, *args, **kwargs)

    monkeypatch.setattr(executors, "train_sweep", train_then_stop)
    with pytest.raises(KeyboardInterrupt):
        cache.run(sweep, CPU)
    folder = tmp_path / cache.key(sweep, CPU)
    assert sorted(p.name for p in (folder / "shards").iterdir() if (p / "result.npz").exists()) == \
        ["seeds-0-1", "seeds-2-3"]
    lines = []
    cache.progress = lines.append
    result = cache.run(sweep, CPU)
    assert trained == [(0, 1), (2, 3), (4,)] and "3 shards, 2 cached" in lines[0]  # only the third shard trained again
    assert "3/3 shards done" in lines[1]
    assert not (folder / "shards").exists() and result.key == folder.name
    assert_identical(result, train_sweep(sweep, CPU, show_progress=False))
    assert_identical(SweepCache(tmp_path, show_progress=False).load(sweep, CPU), result)


def test_the_gpu_shard_size_follows_the_estimated_memory():
    sweep = small()  # 3 ratios, 5 seeds
    per_model = model_bytes(sweep)
    assert model_bytes(sweep.scaled(batch_size=16)) > per_model  # activations grow with the minibatch
    assert model_bytes(sweep.scaled(optimizer="adam")) > per_model  # and Adam keeps two moments
    room_for = lambda models: int(models * per_model / SHARD_MEMORY_SHARE) + 1  # noqa: E731
    assert gpu_seeds_per_shard(sweep, room_for(6)) == 2
    assert gpu_seeds_per_shard(sweep, room_for(2)) == 1  # never less than one seed
    assert gpu_seeds_per_shard(sweep.scaled(models_per_step=3), 1) == 5  # the stack is bounded anyway


def test_a_small_stack_asks_ray_for_a_fraction_of_a_gpu():
    shard = split(small(), 2)[0]  # 6 models
    assert gpu_request(shard, 0.0) == 0.0  # CPUs only
    assert gpu_request(shard, 0.01) == 0.125  # 6% of a GPU: the smallest step, 1/8
    assert gpu_request(shard, 0.05) == 0.375
    assert gpu_request(shard, 0.5) == 1.0  # never more than one GPU
    assert gpu_request(split(small(models_per_step=1), 5)[0], 0.05) == 0.125  # one model at a time
