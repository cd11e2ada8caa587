"""Benchmark: the digits image sweeps' stacked training step and checkpoint evaluation, generic path vs fast path.

The sweep is the long tier's: the fast tier's digits pair (168 training images, batch 16: 11 SGD steps per epoch;
test, other-digit and validation sets plus 1,000 noise images, 1,580 evaluation images), SGD lr 0.1, He init,
width 1/8, 10 seeds x 5 weight ratios = 50 models. Generic: ``VmapStack`` (vmap of the models) and evaluation in one
chunk per set, the code before the fast path; fast: ``GroupedConvStack`` and cache-sized evaluation chunks
(``training.EVAL_CPU_INPUT``), chosen automatically. Both train the same sweep in one process on one torch thread,
alternated ``--repeats`` times: training time per epoch (the median over epochs without a checkpoint) and evaluation
time per checkpoint, both in CPU time of the process (other jobs share this machine's 2 cores, which stretches wall
times several-fold at random), the best of the repeats. Also: the machine's conv peak (the best of a few large
fp32 conv2d calls on the same threads), the share of it the step reaches (FLOPs of a model step counted by
``torch.utils.flop_counter`` on one model, forward and backward), how far the two paths' results differ after the
run, and the projected time of a 1,000-epoch sweep (training plus ``default_schedule(1000)``'s checkpoints). Usage:
    python bench/bench_images.py [--models cnn resnet-bn resnet] [--epochs 8] [--repeats 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench_2d import _CpuClock  # same folder: run as `python bench/bench_images.py`
from iwcore import training
from iwcore.data import build_task
from iwcore.models import build_model
from iwcore.stacking import GroupedConvStack
from iwcore.sweep import Sweep, default_schedule, powers

MODELS = {"cnn": ("cnn", {}), "resnet-bn": ("resnet", {"batch_norm": True}), "resnet": ("resnet", {"batch_norm": False})}
TASK = {"n_noise": 1000, "n_val_per_class": 20, "train_fraction": 0.8}
LONG_EPOCHS = 1000


def long_sweep(model: str, options: dict, epochs: int) -> Sweep:
    return Sweep(name=f"bench-images-{model}", task="digits_pair", task_options=TASK, model=model,
                 model_options={"width": 0.125, "init": "he", **options}, weight_ratios=powers(16, 2),
                 seeds=tuple(range(10)), epochs=epochs, batch_size=16, lr=0.1, checkpoints=(epochs,))


def timed_run(sweep: Sweep, fast: bool):
    """(seconds per epoch without a checkpoint, seconds per checkpoint evaluation, result) of one training run."""
    clocks, evals = [], []
    supports, cpu_input, evaluate = GroupedConvStack.supports, training.EVAL_CPU_INPUT, training._evaluate

    def clock(*args, **kwargs):
        clocks.append(_CpuClock())
        return clocks[-1]

    def timed_evaluate(*args, **kwargs):
        start = time.process_time()
        evaluate(*args, **kwargs)
        evals.append(time.process_time() - start)

    if not fast:
        GroupedConvStack.supports = classmethod(lambda cls, model: False)
        training.EVAL_CPU_INPUT = math.inf
    training._evaluate = timed_evaluate
    try:
        result = training.train_sweep(sweep, torch.device("cpu"), progress=clock)
    finally:
        GroupedConvStack.supports, training.EVAL_CPU_INPUT, training._evaluate = supports, cpu_input, evaluate
    ends = clocks[0].ends  # epoch e ends at ends[e - 1]; epochs 1 and the last include an evaluation
    return np.median(np.diff(ends[:-1])[1:]), min(evals), result


def flops_per_image(model: str, options: dict, batch: int = 16) -> float:
    """FLOPs of one model's SGD step (forward and backward) per training image."""
    net = build_model(model, (1, 8, 8), 2, width=0.125, init="he", **options)
    x, y = torch.rand(batch, 1, 8, 8), torch.randint(0, 2, (batch,)).float()
    with FlopCounterMode(display=False) as counter:
        F.binary_cross_entropy_with_logits(net(x), y).backward()
    return counter.get_total_flops() / batch


def conv_peak_gflops(repeats: int = 5) -> float:
    """Best GFLOP/s (per CPU second) of large fp32 3x3 convolutions (channels-last, the faster layout here)."""
    best = 0.0
    for n, c, size in ((32, 64, 32), (16, 128, 16)):
        x = torch.randn(n, c, size, size).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3)
        F.conv2d(x, w, padding=1)
        for _ in range(repeats):
            start = time.process_time()
            F.conv2d(x, w, padding=1)
            best = max(best, 2 * n * c * c * 9 * size * size / (time.process_time() - start) / 1e9)
    return best


def difference(a, b) -> dict:
    """Share of the last snapshot's predictions that differ, and the largest difference of a final class share."""
    differ = sum(int((a.predictions[k][-1] != b.predictions[k][-1]).sum()) for k in a.predictions)
    total = sum(a.predictions[k][-1].size for k in a.predictions)
    share = max(float(np.abs(a.shares[k][-1] - b.shares[k][-1]).max()) for k in a.shares)
    return {"predictions_differing": differ / total, "max_share_difference": share}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn"], choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=8, help="epochs per timed run (the first and last evaluate)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = conv_peak_gflops()
    n_train = len(build_task("digits_pair", **TASK).training_samples([0])[0].x)
    steps = math.ceil(n_train / 16)
    n_ckpt = len(default_schedule(LONG_EPOCHS))
    print(f"torch {torch.__version__}, {args.threads} thread(s); conv peak {peak:.1f} GFLOP/s; {n_train} training "
          f"images ({steps} steps per epoch), {args.epochs} epochs per run, best of {args.repeats}")
    print(f"{'sweep (50 models)':12s} {'path':8s} {'model-steps/s':>13s} {'GFLOP/s':>8s} {'of peak':>8s} "
          f"{'eval/ckpt':>9s} {'1,000 epochs':>12s}")
    rows = {}
    for name in args.models:
        model, options = MODELS[name]
        sweep = long_sweep(model, options, args.epochs)
        runs = {"generic": [], "fast": []}
        for _ in range(args.repeats):
            for path in runs:
                runs[path].append(timed_run(sweep, path == "fast"))
        flops = flops_per_image(model, options) * n_train * sweep.n_models  # one epoch of every model
        rows[name] = {"flops_per_epoch": flops, **difference(runs["generic"][-1][2], runs["fast"][-1][2])}
        for path, timings in runs.items():
            epoch, evaluation = min(t[0] for t in timings), min(t[1] for t in timings)
            projected = (LONG_EPOCHS * epoch + n_ckpt * evaluation) / 60
            rows[name][path] = {"epoch_s": epoch, "eval_per_checkpoint_s": evaluation,
                                "model_steps_per_s": sweep.n_models * steps / epoch, "gflops": flops / epoch / 1e9,
                                "peak_fraction": flops / epoch / 1e9 / peak, "projected_min": projected}
            r = rows[name][path]
            print(f"{name:12s} {path:8s} {r['model_steps_per_s']:13,.0f} {r['gflops']:8.1f} {r['peak_fraction']:8.1%} "
                  f"{evaluation:8.2f}s {projected:9.1f} min")
        print(f"{name:12s} fast/generic: training {rows[name]['generic']['epoch_s'] / rows[name]['fast']['epoch_s']:.2f}x,"
              f" evaluation {rows[name]['generic']['eval_per_checkpoint_s'] / rows[name]['fast']['eval_per_checkpoint_s']:.2f}x;"
              f" after {args.epochs} epochs {rows[name]['predictions_differing']:.3%} of final predictions differ, "
              f"largest final share difference {rows[name]['max_share_difference']:.4f}")
    print(f"1,000 epochs: projected time of the 50-model sweep on one core, training plus {n_ckpt} checkpoints")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "epochs": args.epochs,
                       "conv_peak_gflops": peak, "sweeps": rows}, f, indent=1)


if __name__ == "__main__":
    main()
