"""Faults on one machine: a pytest run killed (SIGKILL) mid-sweep and rerun gives bit-identical results;
two pytest processes sharing one cache train every sweep once; a torn or corrupt cache entry is moved
aside and retrained, an I/O error never discards a good one; progress loads with ``weights_only=True``
and is saved often enough that an interrupt loses less than half of a sweep."""

from __future__ import annotations

import signal
import time
import types

import numpy as np
import pytest
import torch
from runs import assert_identical, finish, start_run, wait_for

import iwcore.training as training
from iwcore.cache import SweepCache
from iwcore.results import SweepResult
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

CPU = torch.device("cpu")

def sweep_kwargs(name: str, epochs: int, n: int = 60) -> dict:
    return dict(name=name, task="separable_2d", task_options={"n_per_class": n, "n_test_per_class": 20}, model="mlp",
                model_options={"dropout": 0.5}, weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1, 2), epochs=epochs,
                batch_size=8, lr=0.1)


def test_a_run_killed_mid_sweep_then_rerun_is_bit_identical(tmp_path):
    kwargs = sweep_kwargs("killed", epochs=150, n=80)  # seconds of training: the kill lands in its first part
    cache = tmp_path / "cache"
    folder = cache / SweepCache(cache, show_progress=False).key(Sweep(**kwargs), CPU)
    run = start_run(tmp_path, [kwargs], cache, name="first")
    wait_for(lambda: (folder / "progress.pt").exists() or run.poll() is not None, 120, "saved progress")
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (folder / "result.npz").exists(), "the sweep finished before the kill: make it longer"
    output = finish(start_run(tmp_path, [kwargs], cache, name="second"))
    assert "resuming killed from saved progress: group 1/1, epoch " in output, output
    assert "SOURCE killed trained" in output
    resumed = SweepCache(cache, show_progress=False).load(Sweep(**kwargs), CPU)
    assert_identical(resumed, train_sweep(Sweep(**kwargs), CPU, show_progress=False))


def test_two_pytest_runs_sharing_a_cache_train_each_sweep_once(tmp_path):
    sweeps = [sweep_kwargs("shared-a", epochs=12), sweep_kwargs("shared-b", epochs=12)]
    cache, go = tmp_path / "cache", tmp_path / "go"
    runs = [start_run(tmp_path, sweeps, cache, go, name=f"run{i}") for i in range(2)]
    wait_for(lambda: all("READY" in r.log.read_text() or r.poll() is not None for r in runs), 120, "both runs")
    go.touch()
    outputs = [finish(r) for r in runs]
    for kwargs in sweeps:
        sources = sorted(line.split()[-1] for out in outputs for line in out.splitlines()
                         if line.startswith(f"SOURCE {kwargs['name']} "))
        assert sources == ["cache", "trained"], outputs
        stored = SweepCache(cache, show_progress=False).load(Sweep(**kwargs), CPU)
        assert_identical(stored, train_sweep(Sweep(**kwargs), CPU, show_progress=False))
    assert not list(cache.glob("*.corrupt-*")) and not list(cache.glob("*/*.tmp*"))


def tiny(**changes) -> Sweep:
    return Sweep(**{**sweep_kwargs("tiny", epochs=3, n=16), **changes})


@pytest.mark.parametrize("damage", ["truncate", "garbage-json"])
def test_a_damaged_entry_is_moved_aside_named_and_retrained(tmp_path, damage):
    cache = SweepCache(tmp_path, show_progress=False)
    first = cache.run(tiny(), CPU)
    folder = tmp_path / first.key
    if damage == "truncate":
        data = (folder / "result.npz").read_bytes()
        (folder / "result.npz").write_bytes(data[:len(data) // 2])
    else:
        (folder / "result.json").write_text("{not json")
    with pytest.warns(UserWarning, match=r"is corrupt .*moved it to .*\.corrupt-") as caught:
        again = SweepCache(tmp_path, show_progress=False).run(tiny(), CPU)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(f"{first.key}.corrupt-")]
    assert len(aside) == 1 and any(str(aside[0]) in str(w.message) for w in caught)
    assert (aside[0] / "result.npz").exists()  # kept for inspection
    assert again.meta["source"] == "trained"
    assert_identical(again, first)


def test_an_io_error_leaves_a_good_entry_alone(tmp_path, monkeypatch):
    cache = SweepCache(tmp_path, show_progress=False)
    first = cache.run(tiny(), CPU)

    def unreadable(folder):
        raise PermissionError(13, "Permission denied", str(folder / "result.npz"))

    monkeypatch.setattr(SweepResult, "load", unreadable)
    with pytest.raises(PermissionError):
        cache.run(tiny(), CPU)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / first.key).iterdir()) == ["result.json", "result.npz"]
    assert cache.run(tiny(), CPU).meta["source"] == "cache"


class Smuggled:
    """An object that has no place in a progress file."""


def test_progress_is_loaded_weights_only(tmp_path):
    sweep = tiny()
    path = tmp_path / "progress.pt"
    torch.save({"config": sweep.config(), "group": 0, "epoch": 1, "payload": Smuggled()}, path)
    refused = r"(?s)unreadable training progress .*Smuggled.*moved it to progress.pt.unreadable-"
    with pytest.warns(UserWarning, match=refused):
        result = train_sweep(sweep, CPU, progress_file=path, show_progress=False)
    assert np.isfinite(result.train_loss).all()
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["progress.pt.unreadable"]


def test_progress_is_saved_often_enough_to_keep_most_of_an_interrupted_sweep(tmp_path, monkeypatch):
    """Each epoch takes 3 s of a fake clock: an interrupt at any time after 30 s keeps more than half of
    the training done, and the rerun resumes from it."""
    clock = [0.0]

    def now():
        clock[0] += 1e-3  # every reading of the clock takes a millisecond
        return clock[0]

    monkeypatch.setattr(training, "time", types.SimpleNamespace(time=now, strftime=time.strftime))
    saved = []
    real_save = training._save_progress

    def save(path, sweep, recorder, group, epoch, *rest):
        saved.append(clock[0])
        real_save(path, sweep, recorder, group, epoch, *rest)

    class Bar:  # tqdm stand-in: every epoch takes 3 s
        def __init__(self, **_):
            pass

        def update(self, n=1):
            clock[0] += 3.0 * n

        def set_postfix(self, **_):
            pass

        def close(self):
            pass

    monkeypatch.setattr(training, "_save_progress", save)
    train_sweep(tiny(epochs=30), CPU, progress_file=tmp_path / "progress.pt", progress=Bar)
    for interrupt in np.arange(30.0, 90.0, 0.5):
        kept = max([t for t in saved if t <= interrupt], default=0.0)
        assert kept > interrupt / 2, (interrupt, saved)
