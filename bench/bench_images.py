"""Benchmark: a CNN sweep on an image pair trained stacked (all models in one vmapped step) vs one model
at a time, in training images per second (images seen by all models together).

Both runs train the same models for the same epochs on the same data and are timed in one process;
the ratio is what matters. Defaults: 8x8 digits (offline), the paper's CNN at width 1/8, 5 weight
ratios x 3 seeds, batch 16. Usage:
    python bench/bench_images.py [--epochs 2] [--width 0.125] [--ratios 5] [--seeds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from bench_stacked import timed  # same folder: run as `python bench/bench_images.py`
from iwcore.data import build_task
from iwcore.sweep import Sweep, powers
from iwcore.training import resolve_device


def cnn_sweep(epochs: int, width: float, n_ratios: int, n_seeds: int, model: str) -> Sweep:
    return Sweep(name="bench-images", task="digits_pair", task_options={"n_noise": 200}, model=model,
                 model_options={"width": width, "init": "he"}, weight_ratios=powers(2 ** (8 // (n_ratios // 2)),
                                                                                    n_ratios // 2),
                 seeds=tuple(range(n_seeds)), epochs=epochs, batch_size=16, lr=0.1, checkpoints=(epochs,))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--ratios", type=int, default=5, help="odd number of weight ratios spanning 2^-8..2^8")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="cnn", choices=["cnn", "resnet"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sweep = cnn_sweep(args.epochs, args.width, args.ratios, args.seeds, args.model)
    n_train = len(build_task(sweep.task, **sweep.task_options).x_train)
    images = sweep.n_models * n_train * args.epochs  # training images seen, over all models
    stacked = timed(sweep, device)
    one_by_one = sum(timed(dataclasses.replace(sweep, weight_ratios=(r,), seeds=(s,), models_per_step=1), device)
                     for r in sweep.weight_ratios for s in sweep.seeds)
    print(f"device {device}, torch threads {args.threads}, {args.model} width {args.width}, {sweep.n_models} models, "
          f"{args.epochs} epochs of {n_train} images (evaluation at the last epoch included)")
    print(f"stacked:    {stacked:8.2f} s  {images / stacked:10.0f} images/s")
    print(f"one by one: {one_by_one:8.2f} s  {images / one_by_one:10.0f} images/s")
    print(f"speed-up of stacking: {one_by_one / stacked:.1f}x")


if __name__ == "__main__":
    main()
