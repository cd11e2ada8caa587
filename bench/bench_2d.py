"""Benchmark: the 2D sweeps' training step, generic autograd loop vs the fused path (iwcore/fused2d.py).

C1-sized sweeps (17 weight ratios x 9 seeds = 153 models, 1,024 points, batch 8): MLP, logistic
regression, C3's MLP with dropout 0.5 and C17's MLP and logistic regression with the polynomially-tailed
loss, each trained for a few epochs by both paths in one process, the two paths alternated ``--repeats``
times, one torch thread (as each pytest-xdist worker runs). Times are per epoch after the first (setup,
warm-up and the MLP step's compilation left out), the median over a run's epochs, the best of the repeats;
wall time, or with ``--cpu-time`` CPU time of the process (on a machine other jobs share). Checkpoint
evaluation is switched off. Also measures the machine's fp32 matmul peak (a large square matmul on the
same thread count) and the fraction of it the fused step reaches, counting a model step as 3x its
forward pass's multiply-adds x 2, and projects each sweep's training time at the paper's 10,000 epochs
on both paths. Usage:
    python bench/bench_2d.py [--sweeps mlp logreg ...] [--epochs 4] [--repeats 1] [--cpu-time] [--threads 1]
                             [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from iwcore import training
from iwcore.losses import POLY_LR_FACTOR
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, powers

STEPS_PER_EPOCH = 1024 // 8
PAPER_EPOCHS = 10_000
HIDDEN = 64
MLP_FLOPS, LOGREG_FLOPS = 3 * 2 * 8 * (2 * HIDDEN + HIDDEN), 3 * 2 * 8 * 2  # 3 x 2 x forward multiply-adds, batch 8
POLY = {"loss": "poly", "loss_options": {"alpha": 1.0}, "lr_factor": POLY_LR_FACTOR}  # C17's changes
SWEEPS = {  # key: (name, model, sweep changes, FLOPs of one model step)
    "mlp": ("MLP", "mlp", {}, MLP_FLOPS),
    "logreg": ("logistic regression", "logreg", {}, LOGREG_FLOPS),
    "mlp-dropout": ("MLP, dropout 0.5 (C3)", "mlp", {"model_options": {"dropout": 0.5}}, MLP_FLOPS),
    "mlp-poly": ("MLP, poly loss (C17)", "mlp", POLY, MLP_FLOPS),
    "logreg-poly": ("logistic regression, poly (C17)", "logreg", POLY, LOGREG_FLOPS),
}
C17_2D = ("mlp-poly", "logreg-poly")  # the sweeps C17 trains at the full tier's 2D scale


def c1_sweep(model: str, changes: dict, epochs: int) -> Sweep:
    return Sweep(**{**dict(name=f"bench-2d-{model}", task="separable_2d", model=model, weight_ratios=powers(2, 8),
                           seeds=tuple(range(9)), epochs=epochs, batch_size=8, lr=INVERSE_SIGMA_MAX,
                           checkpoints=(epochs,)), **changes})


class _EpochClock:
    """A stand-in progress bar that notes when each epoch ends, in wall time."""

    now = staticmethod(time.perf_counter)

    def __init__(self, *args, **kwargs):
        self.ends = []

    def update(self, n=1):
        self.ends.append(self.now())

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


class _CpuClock(_EpochClock):
    """An ``_EpochClock`` in CPU time of the process."""

    now = staticmethod(time.process_time)


def seconds_per_epoch(sweep: Sweep, fused: bool, clock_type=_EpochClock) -> float:
    """Steady-state training time of one epoch of ``sweep``: the median of epochs 2.. of one run."""
    clocks = []

    def clock(*args, **kwargs):
        clocks.append(clock_type())
        return clocks[-1]

    original = training.fused_trainer
    if not fused:
        training.fused_trainer = lambda *args: None
    try:
        training.train_sweep(sweep, torch.device("cpu"), progress=clock)
    finally:
        training.fused_trainer = original
    return float(np.median(np.diff(clocks[0].ends)))


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
    parser.add_argument("--sweeps", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run (the first is not counted)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each path, alternated; the best counts")
    parser.add_argument("--cpu-time", action="store_true", help="CPU time of the process instead of wall time")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    training._evaluate = lambda *a, **k: None  # time training only
    clock = _CpuClock if args.cpu_time else _EpochClock
    peak = matmul_peak_gflops()
    print(f"torch {torch.__version__}, {args.threads} thread(s), {'CPU' if args.cpu_time else 'wall'} time, best of "
          f"{args.repeats}; fp32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(f"{'sweep (153 models)':32s} {'generic':>16s} {'fused':>16s} {'ratio':>6s} {'GFLOP/s':>8s} {'of peak':>8s} "
          f"{'10k epochs, generic -> fused':>29s}")
    rows = {}
    for key in args.sweeps:
        name, model, changes, flops = SWEEPS[key]
        sweep = c1_sweep(model, changes, args.epochs)
        times = {"generic": [], "fused": []}
        for _ in range(args.repeats):
            for path, runs in times.items():
                runs.append(seconds_per_epoch(sweep, path == "fused", clock))
        generic, fused = min(times["generic"]), min(times["fused"])
        rate = {k: sweep.n_models * STEPS_PER_EPOCH / s for k, s in (("generic", generic), ("fused", fused))}
        gflops = rate["fused"] * flops / 1e9
        rows[name] = {"generic_model_steps_per_s": rate["generic"], "fused_model_steps_per_s": rate["fused"],
                      "ratio": generic / fused, "flops_per_model_step": flops, "fused_gflops": gflops,
                      "peak_fraction": gflops / peak, "generic_epoch_s": times["generic"],
                      "fused_epoch_s": times["fused"], "paper_scale_generic_training_s": generic * PAPER_EPOCHS,
                      "paper_scale_training_s": fused * PAPER_EPOCHS}
        print(f"{name:32s} {rate['generic']:>10,.0f} st/s {rate['fused']:>10,.0f} st/s {generic / fused:5.1f}x "
              f"{gflops:8.2f} {gflops / peak:8.1%} {generic * PAPER_EPOCHS:>12,.0f} -> {fused * PAPER_EPOCHS:>6,.0f} s")
    poly = [key for key in C17_2D if key in args.sweeps]
    if poly:
        generic, fused = (sum(rows[SWEEPS[key][0]][k] for key in poly)
                          for k in ("paper_scale_generic_training_s", "paper_scale_training_s"))
        print(f"C17's 2D poly sweeps ({', '.join(poly)}), 10k epochs: {generic:,.0f} s generic -> {fused:,.0f} s "
              f"fused, {generic - fused:,.0f} s of one core saved")
    print("st/s: model-steps per second (one SGD step of one model on a batch of 8); 10k epochs: projected "
          "training time of the paper-scale sweep on each path, seconds of one core, evaluation not included")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "epochs": args.epochs,
                       "repeats": args.repeats, "clock": "cpu" if args.cpu_time else "wall",
                       "matmul_peak_gflops": peak, "sweeps": rows}, f, indent=1)


if __name__ == "__main__":
    main()
