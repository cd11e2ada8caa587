"""bench/gpu_check.py: its --smoke run (every part on one CPU thread at tiny width) writes the JSON the GPU run
writes, with positive, finite numbers; without CUDA and without --smoke it refuses in one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
MEASUREMENT = {"models_per_step", "warmup_steps", "timed_steps", "timed_s", "s_per_step", "params_per_model",
               "peak_mem_gib", "last_loss_mean", "loss_finite", "oom_at", "groups", "s_per_epoch",
               "s_per_model_step", "images_per_s"}
GPU_CLAIMS = {"C6", "C7", "C8", "C9", "C10", "C11", "C12", "C13", "C14", "C15", "C17", "C18", "C20"}


def run(*args, **env):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def numbers(tree):
    """Every int/float leaf of a JSON tree (booleans excluded)."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in numbers(v)]
    return [tree] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


def test_smoke_run_writes_every_part(tmp_path):
    out = tmp_path / "check.json"
    proc = run("--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result) == {"meta", "cnn", "resnet_bn", "mlp", "cifar_cnn", "projection"}
    assert result["meta"]["smoke"] is True and result["meta"]["device"] == "cpu"
    for key in ("cnn", "resnet_bn", "mlp"):
        part = result[key]
        assert {"sweep", "model", "n_models", "batch_per_model", "steps_per_epoch", "fp32", "bf16"} <= set(part)
        for precision in ("fp32", "bf16"):
            assert set(part[precision]) == MEASUREMENT
            assert part[precision]["loss_finite"] is True and part[precision]["oom_at"] == []
    assert result["cnn"]["steps_per_epoch"] == 625  # C6: 10,000 cat/dog images, batch 16
    cifar = result["cifar_cnn"]
    assert cifar["status"] == "ran" and cifar["epochs"] == len(cifar["accuracy_per_epoch"]) >= 1
    assert 0 < cifar["test_accuracy"] <= 1
    projection = result["projection"]
    assert set(projection["claims"]) == GPU_CLAIMS
    assert {"C1", "C2", "C3", "C4", "C5", "C16", "C19"} <= set(projection["not_projected"])
    c6 = projection["claims"]["C6"]["sweeps"][0]
    assert (c6["n_models"], c6["epochs"], c6["steps_per_epoch"]) == (153, 1000, 625)
    for part in ("cnn", "resnet_bn", "mlp", "cifar_cnn", "projection"):
        values = numbers(result[part])
        assert values and all(math.isfinite(v) and v > 0 for v in values), part


def test_without_cuda_and_without_smoke_it_refuses_in_one_line(tmp_path):
    out = tmp_path / "check.json"
    proc = run("--out", str(out), CUDA_VISIBLE_DEVICES="")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CUDA" in lines[0] and "--smoke" in lines[0], proc.stderr
    assert not out.exists()
