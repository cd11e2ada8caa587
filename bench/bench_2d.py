"""Benchmark: the 2D sweeps' training step, generic autograd loop vs the fused path (iwcore/fused2d.py).

C1-sized sweeps (17 weight ratios x 9 seeds = 153 models, 1,024 points, batch 8): MLP, logistic
regression and C3's MLP with dropout 0.5, each trained for a few epochs by both paths in one process,
one torch thread (as each pytest-xdist worker runs). Times are per epoch after the first (setup,
warm-up and the MLP step's compilation left out), checkpoint evaluation is switched off. Also measures the machine's fp32 matmul
peak (a large square matmul on the same thread count) and the fraction of it the fused step reaches,
counting a model step as 3x its forward pass's multiply-adds x 2. Usage:
    python bench/bench_2d.py [--epochs 4] [--threads 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from iwcore import training
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, powers

STEPS_PER_EPOCH = 1024 // 8
PAPER_EPOCHS = 10_000
HIDDEN = 64
SWEEPS = {  # name: (model, model options, FLOPs of one model step: 3 x 2 x forward multiply-adds of a batch of 8)
    "MLP": ("mlp", {}, 3 * 2 * 8 * (2 * HIDDEN + HIDDEN)),
    "logistic regression": ("logreg", {}, 3 * 2 * 8 * 2),
    "MLP, dropout 0.5 (C3)": ("mlp", {"dropout": 0.5}, 3 * 2 * 8 * (2 * HIDDEN + HIDDEN)),
}


def c1_sweep(model: str, options: dict, epochs: int) -> Sweep:
    return Sweep(name=f"bench-2d-{model}", task="separable_2d", model=model, model_options=options,
                 weight_ratios=powers(2, 8), seeds=tuple(range(9)), epochs=epochs, batch_size=8,
                 lr=INVERSE_SIGMA_MAX, checkpoints=(epochs,))


class _EpochClock:
    """A stand-in progress bar that notes when each epoch ends."""

    def __init__(self, *args, **kwargs):
        self.ends = []

    def update(self, n=1):
        self.ends.append(time.perf_counter())

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def seconds_per_epoch(sweep: Sweep, fused: bool) -> float:
    """Steady-state training time of one epoch of ``sweep`` (epochs 2.. of one run)."""
    clocks = []

    def clock(*args, **kwargs):
        clocks.append(_EpochClock())
        return clocks[-1]

    original = training.fused_trainer
    if not fused:
        training.fused_trainer = lambda *args: None
    try:
        training.train_sweep(sweep, torch.device("cpu"), progress=clock)
    finally:
        training.fused_trainer = original
    ends = clocks[0].ends
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of an n x n fp32 matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run (the first is not counted)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    training._evaluate = lambda *a, **k: None  # time training only
    peak = matmul_peak_gflops()
    print(f"torch {torch.__version__}, {args.threads} thread(s); fp32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(f"{'sweep (153 models)':24s} {'generic':>16s} {'fused':>16s} {'ratio':>6s} {'GFLOP/s':>8s} {'of peak':>8s} "
          f"{'10k epochs':>10s}")
    rows = {}
    for name, (model, options, flops) in SWEEPS.items():
        sweep = c1_sweep(model, options, args.epochs)
        generic, fused = (seconds_per_epoch(sweep, f) for f in (False, True))
        rate = {k: sweep.n_models * STEPS_PER_EPOCH / s for k, s in (("generic", generic), ("fused", fused))}
        gflops = rate["fused"] * flops / 1e9
        rows[name] = {"generic_model_steps_per_s": rate["generic"], "fused_model_steps_per_s": rate["fused"],
                      "ratio": generic / fused, "flops_per_model_step": flops, "fused_gflops": gflops,
                      "peak_fraction": gflops / peak, "paper_scale_training_min": fused * PAPER_EPOCHS / 60}
        print(f"{name:24s} {rate['generic']:>10,.0f} st/s {rate['fused']:>10,.0f} st/s {generic / fused:5.1f}x "
              f"{gflops:8.2f} {gflops / peak:8.1%} {fused * PAPER_EPOCHS / 60:7.1f} min")
    print("st/s: model-steps per second (one SGD step of one model on a batch of 8); 10k epochs: projected "
          "training time of the paper-scale sweep on the fused path, evaluation not included")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "epochs": args.epochs,
                       "matmul_peak_gflops": peak, "sweeps": rows}, f, indent=1)


if __name__ == "__main__":
    main()
