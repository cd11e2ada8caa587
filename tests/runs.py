"""Helpers of the fault and cluster tests: real pytest runs in subprocesses, and bit-for-bit comparison."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import iwcore
from iwcore.results import SweepResult

REPO = Path(iwcore.__file__).resolve().parents[1]

# The source of a user's own model and loss (a GELU MLP and a focal loss), for throw-away packages of tests.
USER_PARTS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

from iwcore import Subject


def gelu_mlp(input_shape, n_outputs, hidden: int = 16):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], hidden), nn.GELU(), nn.Linear(hidden, n_outputs),
                         nn.Flatten(0))


def focal_loss(logits, y, class_counts, gamma: float = 2.0):
    margin = (2 * y - 1) * logits
    return -(1 - torch.sigmoid(margin)) ** gamma * F.logsigmoid(margin)
'''

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


def start_run(tmp_path: Path, sweeps: list[dict], cache: Path, go: Path | None = None, name: str = "run",
              options: tuple[str, ...] = ()):
    """A pytest process running RUN on ``sweeps`` with ``--cache-dir cache`` and ``options``; its output goes
    to ``process.log``."""
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(RUN.format(sweeps=sweeps, go=str(go) if go else ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    with open(tmp_path / f"{name}.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "pytest", str(test_file), "-p", "no:cacheprovider", "-n",
                                    "0", "-s", "-q", "--rootdir", str(tmp_path), "--cache-dir", str(cache),
                                    "--report-dir", str(tmp_path / "reports"), "--device", "cpu", *options],
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
    """Every stored array equal bit for bit, and the same training samples."""
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert a.meta["samples"] == b.meta["samples"]
