"""The prepared GPU check of the full tier (issue 9, point 5): one command, at most ~8 minutes on one H200.

    python bench/gpu_check.py [--data-dir ../shared/data/cifar10] [--out gpu_check.json]   # needs CUDA
    python bench/gpu_check.py --smoke [--out smoke.json]   # the same code on one CPU thread, tiny, < 30 s

What it measures, with the project's own sweeps, models, stacking, loss and optimizer (the sweeps are built
by the claims' subjects themselves, so the settings are the full tier's):

  cnn        (a) C6's sweep: 153 CNNs (17 ratios x 9 seeds, width 1, He init), batch 16 each, one stacked
             step per minibatch as iwcore.training does, fp32 and bf16 (autocast, as Sweep.precision="bf16").
             Synthetic CIFAR-shaped data on the GPU. Warm-up (up to 10 steps), then a timed run of up to 300
             steps (about 20 s at most; CUDA events) -> seconds per step, per epoch of 10,000 images (625
             steps), peak GPU memory (torch.cuda.max_memory_allocated). cuDNN settings are torch's defaults,
             as the trainer leaves them (recorded in meta).
  resnet_bn  (b) the same for C9's BN ResNet sweep. The stack starts at all 153 models and is halved on
             out-of-memory; the models per step that fit are reported (an epoch then takes that many groups).
  mlp        the same for C15's label-shift MLP sweep (455 MLPs, 10 classes), for the projection.
  cifar_cnn  (c) the unweighted paper CNN (one model, SGD 0.1, batch 16, He init) on real CIFAR-10 cat/dog
             (data on the GPU): test accuracy after each epoch, as many epochs as fit in 3 minutes,
             against the paper's 80-85%. Skipped (with the reason) without --data-dir; with --smoke and
             no --data-dir it runs on scikit-learn's digits (8 vs 3) instead, to exercise the code.
  projection (d) GPU-hours of every full-tier sweep whose model and task a part here measured, by claim: the
             sweeps are the full tier's plan (python -m iwcore.plan), models x epochs x steps per epoch x
             the measured seconds per model-step, fp32 and bf16; the sweeps nothing here measures (2D,
             BERT, C19's null stacks) are listed under "not_projected" by claim.
  meta       device, versions, TF32/cuDNN settings, budgets, wall time.

The JSON is rewritten after every part, so a run cut short keeps what it measured. --smoke runs every
part on the CPU at width 1/16 with 3 models and a few steps; its numbers mean nothing but have the same keys.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: iwcore

from iwcore.battery.claim import PLAN_ONLY  # noqa: E402
from iwcore.battery.paper import images, label_shift  # noqa: E402
from iwcore.data import build_task  # noqa: E402
from iwcore.losses import l2_penalty, weighted_loss  # noqa: E402
from iwcore.metrics import predicted_class  # noqa: E402
from iwcore.models import build_model  # noqa: E402
from iwcore.stacking import stack  # noqa: E402
from iwcore.plan import build_plan, measured_rates, task_size  # noqa: E402
from iwcore.sweep import PRECISIONS, Sweep  # noqa: E402
from iwcore.training import _autocast, _optimizer, class_weight_table, model_seed  # noqa: E402

CIFAR_SHAPE = (3, 32, 32)
PAPER_ACCURACY = (0.80, 0.85)  # the paper's unweighted CNN on cat vs dog
GPU = dict(timed_s=20.0, max_steps=300, warmup_steps=10, warmup_s=5.0, cifar_s=180.0, n_data=10_000, width=None)
SMOKE = dict(timed_s=0.3, max_steps=4, warmup_steps=1, warmup_s=0.2, cifar_s=1.0, n_data=256, width=1 / 16)


def steps_per_epoch(sweep: Sweep) -> int:
    return math.ceil(task_size(sweep).n_train / sweep.batch_size)


def full_tier(subject) -> Sweep:
    """A claim subject's full-tier sweep as planned, without its data (this script brings its own)."""
    return subject.sweep("full", {PLAN_ONLY: True})


def smoke_sized(sweep: Sweep) -> Sweep:
    """3 models at width 1/16 (hidden 16 for the MLP): the same code path, CPU-sized."""
    options = {**sweep.model_options, **({"hidden": 16} if sweep.model == "mlp" else {"width": SMOKE["width"]})}
    return sweep.scaled(weight_ratios=sweep.weight_ratios[:3], class_weights=sweep.class_weights[:3], seeds=(0,),
                        model_options=options)


def time_stack(sweep: Sweep, m: int, device: torch.device, cfg: dict) -> dict:
    """Train the sweep's first ``m`` models as one stack (iwcore.training's inner loop) on synthetic data;
    time the steps after warm-up."""
    cuda = device.type == "cuda"
    members, classes = sweep.model_grid()[:m], 10 if sweep.task == "cifar_multiclass" else 2
    models = []
    for i, s in members:  # each model's own seed, as the trainer builds them
        torch.manual_seed(model_seed(sweep.weight_ratios[i], s))
        models.append(build_model(sweep.model, CIFAR_SHAPE, classes, **sweep.model_options).to(device))
    stacked = stack(models)
    del models
    params = stacked.parameters()
    optimizer = _optimizer(sweep, params, float(sweep.lr))
    cw = torch.tensor(class_weight_table(sweep, classes), dtype=torch.float32, device=device)[[i for i, _ in members]]
    n, batch = cfg["n_data"], sweep.batch_size
    x = torch.rand(1, n, *CIFAR_SHAPE, device=device)  # (distinct samples, n, ...) as _TrainingData holds it
    y = torch.randint(0, classes, (1, n), device=device)
    row = torch.zeros(m, 1, dtype=torch.long, device=device)
    order = torch.argsort(torch.rand(m, n, device=device), dim=1)
    k, losses = 0, None

    def step():
        nonlocal k, losses
        b = (k % (n // batch)) * batch
        idx = order[:, b:b + batch]
        with _autocast(sweep, device):
            logits = stacked.forward(x[row, idx])
        losses = weighted_loss(logits.float(), y[row, idx], cw, sweep.normalisation)
        (losses.sum() + l2_penalty(params, sweep.l2)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        k += 1

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    step()  # allocation and kernel selection
    sync()
    t0, warm = time.perf_counter(), 0
    while warm < 2 or (warm < cfg["warmup_steps"] and time.perf_counter() - t0 < cfg["warmup_s"]):
        step()
        sync()
        warm += 1
    estimate = (time.perf_counter() - t0) / warm
    timed = max(3, min(cfg["max_steps"], int(cfg["timed_s"] / estimate)))
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    for _ in range(timed):
        step()
    if cuda:
        end.record()
    sync()
    seconds = start.elapsed_time(end) / 1000 if cuda else time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
    return {"models_per_step": m, "warmup_steps": 1 + warm, "timed_steps": timed, "timed_s": seconds,
            "s_per_step": seconds / timed, "params_per_model": sum(p.numel() for p in params) // m,
            "peak_mem_gib": peak / 2 ** 30, "last_loss_mean": float(losses.detach().mean()),
            "loss_finite": bool(torch.isfinite(losses).all())}


def measure(sweep: Sweep, device: torch.device, cfg: dict) -> dict:
    """``time_stack`` for fp32 and bf16, each with the largest stack (all models, halved on OOM) that fits."""
    out = {"sweep": sweep.name, "model": sweep.model, "task": sweep.task, "model_options": sweep.model_options,
           "n_models": sweep.n_models,
           "batch_per_model": sweep.batch_size, "steps_per_epoch": steps_per_epoch(sweep)}
    for precision in PRECISIONS:
        s, m, oom_at = sweep.scaled(precision=precision), sweep.n_models, []
        while True:
            if device.type == "cuda":
                gc.collect()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            try:
                r = time_stack(s, m, device, cfg)
                break
            except RuntimeError as err:  # torch's OutOfMemoryError, or cuDNN failing to allocate its workspace
                if m == 1 or not ("out of memory" in str(err).lower() or "ALLOC_FAILED" in str(err)):
                    raise
                oom_at.append(m)
            m = math.ceil(m / 2)
        groups = math.ceil(sweep.n_models / r["models_per_step"])  # the trainer runs the groups one after another
        out[precision] = {**r, "oom_at": oom_at, "groups": groups,
                          "s_per_epoch": r["s_per_step"] * groups * out["steps_per_epoch"],
                          "s_per_model_step": r["s_per_step"] / r["models_per_step"],
                          "images_per_s": r["models_per_step"] * sweep.batch_size / r["s_per_step"]}
        print(f"  {sweep.name} {precision}: {m} models/step, {r['s_per_step'] * 1e3:.1f} ms/step, "
              f"{out[precision]['s_per_epoch']:.1f} s/epoch, peak {r['peak_mem_gib']:.2f} GiB", flush=True)
    return out


def cifar_accuracy(data_dir: str | None, smoke: bool, device: torch.device, cfg: dict) -> dict:
    """(c) The unweighted paper CNN, as many epochs as fit in cfg["cifar_s"]; test accuracy after each."""
    if data_dir is None and not smoke:
        return {"status": "skipped",
                "reason": "no --data-dir given (CIFAR-10: train/<class>/*.png and test/<class>/*.png, "
                          "or cifar-10-batches-py)"}
    t_load = time.perf_counter()
    task = (build_task("cifar_pair", data_dir=data_dir, positive="dog", negative="cat", n_noise=0) if data_dir
            else build_task("digits_pair", n_noise=0))  # --smoke without data: the offline stand-in
    x, y = task.x_train.to(device), task.y_train.to(device)
    xt, yt = task.eval_sets["test"].x.to(device), task.eval_sets["test"].y.to(device)
    load_s = time.perf_counter() - t_load
    sweep = full_tier(images.CNN)  # the paper's CNN settings of the full tier (width, init, lr, batch)
    options = {**sweep.model_options, **({"width": cfg["width"]} if cfg["width"] else {})}
    torch.manual_seed(model_seed(1.0, 0))
    model = build_model("cnn", task.input_shape, 2, **options).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=sweep.lr)
    ones = torch.ones(2, device=device)  # unweighted
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    accuracy, epoch_s, t0 = [], 0.0, time.perf_counter()
    while not accuracy or time.perf_counter() - t0 + epoch_s <= cfg["cifar_s"]:  # the next epoch fits
        e0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), device=device)
        for b in range(0, len(x), sweep.batch_size):
            idx = order[b:b + sweep.batch_size]
            weighted_loss(model(x[idx]), y[idx], ones).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([predicted_class(model(xt[i:i + 2000]), 2) for i in range(0, len(xt), 2000)])
        accuracy.append(float((pred == yt).float().mean()))
        sync()
        epoch_s = time.perf_counter() - e0
    return {"status": "ran", "task": task.name, "n_train": len(x), "n_test": len(xt), "model_options": options,
            "lr": sweep.lr, "batch": sweep.batch_size, "budget_s": cfg["cifar_s"], "load_s": load_s,
            "epochs": len(accuracy), "s_per_epoch": (time.perf_counter() - t0) / len(accuracy),
            "test_accuracy": accuracy[-1], "best_test_accuracy": max(accuracy), "accuracy_per_epoch": accuracy,
            "paper_accuracy": list(PAPER_ACCURACY), "reaches_paper_range": accuracy[-1] >= PAPER_ACCURACY[0]}


def project(measured: dict) -> dict:
    """(d) GPU-hours of every full-tier sweep (``iwcore.plan``) whose model and task a part here measured: model-steps
    x that part's seconds per model-step, fp32 and bf16, by claim; the other sweeps under "not_projected"."""
    rates = measured_rates(measured)
    claims, unique, not_projected = {}, {}, {}
    for row in build_plan("full", gpu_check=measured)["sweeps"]:
        rate = rates.get((row["model"], row["task"]))
        if rate is None:
            for claim in row["claims"]:
                not_projected.setdefault(claim, []).append(f"{row['name']} ({row['model']} on {row['task']})")
            continue
        unique[row["name"]] = {
            "sweep": row["name"], "model": row["model"], "n_models": row["models"], "epochs": row["epochs"],
            "n_train": row["n_train"], "steps_per_epoch": row["steps_per_epoch"], "model_steps": row["model_steps"],
            "rate_from": rate["part"],
            **{f"gpu_hours_{p}": row["model_steps"] * rate[p] / 3600 for p in PRECISIONS}}
        for claim in row["claims"]:
            claims.setdefault(claim, {"sweeps": []})["sweeps"].append(unique[row["name"]])
    for projected in claims.values():
        projected.update({f"gpu_hours_{p}": sum(r[f"gpu_hours_{p}"] for r in projected["sweeps"]) for p in PRECISIONS})
    return {
        "method": "per sweep of the full tier's plan (iwcore.plan): models x epochs x ceil(training images / batch) "
                  "steps x the measured seconds per model-step (a stacked step's time / models in it) of the part "
                  "that measured its model on its task: C6's CNN stack for every CIFAR CNN sweep (dropout, L2, Adam, "
                  "label noise, other losses assumed to cost the same), C9's BN ResNet stack for both ResNet sweeps "
                  "(the no-BN ResNet assumed no slower), C15's MLP stack for C15. Linear in the number of models, so "
                  "small stacks (C10, C20: 9 or 18 models) are a lower bound. Training only: evaluation at the ~28 "
                  "checkpoints adds about 1% (python -m iwcore.plan counts it).",
        "claims": claims,
        "total_unique_sweeps": {f"gpu_hours_{p}": sum(r[f"gpu_hours_{p}"] for r in unique.values())
                                for p in PRECISIONS},
        "n_unique_sweeps": len(unique),
        "not_projected": {claim: "no part here measured " + "; ".join(sweeps)
                          for claim, sweeps in not_projected.items()},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="gpu_check.json")
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 folder for part (c)")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run of every part (< 30 s, one thread)")
    args = ap.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device; run it on a GPU machine, or pass --smoke for the CPU check")
    if args.smoke:
        torch.set_num_threads(1)
    device, cfg, t0 = torch.device("cpu" if args.smoke else "cuda"), SMOKE if args.smoke else GPU, time.time()
    out, path = {}, Path(args.out)

    def write():
        out["meta"]["wall_s"] = time.time() - t0
        path.write_text(json.dumps(out, indent=1, default=str))

    out["meta"] = {"smoke": args.smoke, "device": str(device), "argv": sys.argv, "torch": torch.__version__,
                   "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
                   "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                   "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                   "cudnn_benchmark": torch.backends.cudnn.benchmark, "cpu_threads": torch.get_num_threads(),
                   "peak_mem_source": "process max RSS" if args.smoke else "torch.cuda.max_memory_allocated",
                   "gpu_mem_total_gib": torch.cuda.mem_get_info()[1] / 2 ** 30 if device.type == "cuda" else None,
                   "settings": cfg, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    sized = smoke_sized if args.smoke else (lambda s: s)
    for key, sweep in (("cnn", full_tier(images.CNN)), ("resnet_bn", full_tier(images.RESNET_BN)),
                       ("mlp", full_tier(label_shift.MLP))):
        print(f"{key}: {sized(sweep).n_models} models", flush=True)
        out[key] = guarded(measure, sized(sweep), device, cfg)
        write()
    print("cifar_cnn", flush=True)
    out["cifar_cnn"] = guarded(cifar_accuracy, args.data_dir, args.smoke, device, cfg)
    write()
    out["projection"] = project(out)
    write()
    p = out["projection"]["total_unique_sweeps"]
    print(f"wrote {path}: full tier about {p['gpu_hours_fp32']:.1f} GPU-hours fp32, {p['gpu_hours_bf16']:.1f} bf16 "
          f"({time.time() - t0:.0f} s)")
    failed = [k for k, v in out.items() if "error" in v]
    if failed:
        sys.exit(f"gpu_check: parts failed (see {path}): {', '.join(failed)}")


def guarded(part, *args) -> dict:
    """A part's result, or {"error": ...} so that the other parts still run (one GPU run, no second chance)."""
    try:
        return part(*args)
    except Exception as err:  # noqa: BLE001
        print(f"  failed: {err!r}", flush=True)
        return {"error": repr(err)[:2000]}


if __name__ == "__main__":
    main()
