"""Faults on one machine: a pytest run killed (SIGKILL) mid-sweep and rerun gives bit-identical results;
two pytest processes sharing one cache train every sweep once; a torn or corrupt cache entry is moved
aside and retrained, an I/O error never discards a good one; progress loads with ``weights_only=True``
and is saved often enough that an interrupt loses less than half of a sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import iwcore
import iwcore.training as training
from iwcore.cache import SweepCache
from iwcore.results import SweepResult
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

CPU = torch.device("cpu")
REPO = Path(iwcore.__file__).resolve().parents[1]

# A pytest run that trains sweeps through the plugin's run_sweep (the real cache, the real trainer).
# Progress lines go to stdout (-s); it saves progress every 0.2 s so that a kill finds some; with a
# "go" file named, it waits for that file before training (so that two runs start together).
RUN = '''
import time
from pathlib import Path

from iwcore import progress, training
from iwcore.sweep import Sweep

SWEEPS = [Sweep(**kwargs) for kwargs in {sweeps!r}]


def test_train(run_sweep):
    progress.set_sink(lambda line: print(line, flush=True))
    training.SAVE_EVERY_S = 0.2
    print("READY", flush=True)
    go = {go!r}
    while go and not Path(go).exists():
        time.sleep(0.05)
    for sweep in SWEEPS:
        print("SOURCE", sweep.name, run_sweep(sweep).meta["source"], flush=True)
'''


def sweep_kwargs(name: str, epochs: int, n: int = 60) -> dict:
    return dict(name=name, task="separable_2d", task_options={"n_per_class": n, "n_test_per_class": 20}, model="mlp",
                model_options={"dropout": 0.5}, weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1, 2), epochs=epochs,
                batch_size=8, lr=0.1)


def start_run(tmp_path: Path, sweeps: list[dict], cache: Path, go: Path | None = None, name: str = "run"):
    """A pytest process running RUN on ``sweeps`` with ``--cache-dir cache``; its output goes to a file."""
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(RUN.format(sweeps=sweeps, go=str(go) if go else ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / f"{name}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "pytest", str(test_file), "-p", "no:cacheprovider", "-n", "0",
                                "-s", "-q", "--rootdir", str(tmp_path), "--cache-dir", str(cache),
                                "--report-dir", str(tmp_path / "reports"), "--device", "cpu"],
                               cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = tmp_path / f"{name}.log"
    return process


def finish(process, timeout: float = 120) -> str:
    assert process.wait(timeout) == 0, process.log.read_text()
    return process.log.read_text()


def wait_for(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_identical(a: SweepResult, b: SweepResult):
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)


def test_a_run_killed_mid_sweep_then_rerun_is_bit_identical(tmp_path):
    kwargs = sweep_kwargs("killed", epochs=40, n=80)
    cache = tmp_path / "cache"
    folder = cache / SweepCache(cache, show_progress=False).key(Sweep(**kwargs), CPU)
    run = start_run(tmp_path, [kwargs], cache, name="first")
    wait_for(lambda: (folder / "progress.pt").exists() or run.poll() is not None, 120, "saved progress")
    time.sleep(0.5)
    assert not (folder / "result.npz").exists(), "the sweep finished before the kill: make it longer"
    run.send_signal(signal.SIGKILL)
    run.wait()
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
    with pytest.warns(UserWarning, match=r"(?s)unreadable training progress .*Smuggled.*moved it to progress.pt.unreadable-"):
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
