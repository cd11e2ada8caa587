"""Benchmark: the C1 MLP sweep (17 weight ratios x 9 seeds) trained stacked vs one model at a time.

Both runs train the same 153 models for the same epochs on the paper's 2D data (batch 8) and are
timed in one process; the ratio is what matters, not the absolute numbers. Checkpoint evaluation is
switched off in both, so the numbers are training throughput. Usage:
    python bench/bench_stacked.py [--epochs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from iwcore import training
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, powers
from iwcore.training import resolve_device, train_sweep


def c1_mlp_sweep(epochs: int) -> Sweep:
    return Sweep(name="bench-c1-mlp", task="separable_2d", model="mlp", weight_ratios=powers(2, 8),
                 seeds=tuple(range(9)), epochs=epochs, batch_size=8, lr=INVERSE_SIGMA_MAX, checkpoints=(epochs,))


def timed(sweep: Sweep, device) -> float:
    start = time.perf_counter()
    train_sweep(sweep, device, show_progress=False)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    training._evaluate = lambda *args, **kwargs: None  # time training only
    device = resolve_device(args.device)
    sweep = c1_mlp_sweep(args.epochs)
    steps_per_model = args.epochs * 1024 // sweep.batch_size
    timed(c1_mlp_sweep(1), device)  # warm-up: the fused MLP step compiles once per process (iwcore.fused2d)
    stacked = timed(sweep, device)
    one_by_one = sum(timed(dataclasses.replace(sweep, weight_ratios=(r,), seeds=(s,), models_per_step=1), device)
                     for r in sweep.weight_ratios for s in sweep.seeds)
    n = sweep.n_models
    print(f"device {device}, torch threads {args.threads}, {n} models, {steps_per_model} steps each")
    print(f"stacked:    {stacked:8.2f} s  {steps_per_model / stacked:10.1f} stacked steps/s  "
          f"{n * steps_per_model / stacked:10.0f} model-steps/s")
    print(f"one by one: {one_by_one:8.2f} s  {n * steps_per_model / one_by_one:10.0f} model-steps/s")
    print(f"speed-up of stacking: {one_by_one / stacked:.1f}x")
    paper_steps = 10_000 * 1024 // 8
    print(f"projected paper-scale C1 MLP sweep (10,000 epochs, training only): "
          f"{paper_steps * stacked / steps_per_model / 60:.0f} min")


if __name__ == "__main__":
    main()
