"""Training every (weight ratio, seed) model of a sweep together.

Models are stacked (see ``iwcore.stacking``) and take one optimizer step together per minibatch.
Each seed is a replicate with its own training sample (``Task.training_samples`` for
``sample_seed(task seed, seed)``); the samples are stacked ``(distinct samples, n, ...)`` on the
device and each model's minibatch is taken from its seed's. Each model has its own seed-determined
initialisation and minibatch order, so a model trained in a stack equals the same model trained
alone, up to float round-off. Dropout masks are drawn per model and per epoch from seeded generators:
for the 2D models (``StackedSequential``) from each model's own stream, so a model's masks do not
depend on which other models share its stack (a sweep trained in shards equals it trained whole);
for vmapped models (``VmapStack``) from one generator seeded by the stack's first model, so there they
depend on the stack. Losses are computed on stacks padded to a multiple of ``MODEL_LANES`` models
(``_padded``), so on a CPU a 2D model's result is bit-identical whatever else its stack holds
(vmapped stacks: see ``iwcore.shards``). Runs
are deterministic given the seeds on a given device (CPU here); CUDA kernels
may add run-to-run differences of round-off size.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from iwcore.data import build_task
from iwcore.fused2d import fused_trainer
from iwcore.losses import class_weights_for_ratio, l2_penalty, per_example_loss, weighted_loss
from iwcore.metrics import class_means, class_recall, class_shares, predicted_class
from iwcore.models import build_model
from iwcore.progress import duration
from iwcore.results import SweepResult
from iwcore.stacking import padded, stack
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, sample_seed

PARAM_TRACE_LIMIT = 1024  # models with at most this many parameters have them kept at every checkpoint
EVAL_CHUNK = 4096  # most examples per evaluation forward pass ...
EVAL_STACKED_INPUT = 2 ** 24  # ... and at most this many input elements over all models (bounds memory for big stacks)
# ... and on a CPU at most this many input elements per model, so that a chunk's feature maps stay in cache (the
# digits CNNs evaluate 2-3x faster in chunks of 128 images than of 1,000; 2D points keep EVAL_CHUNK). Per model, not
# over all models, so that (below EVAL_STACKED_INPUT's bound) a model's chunks do not depend on its stack's size.
EVAL_CPU_INPUT = 2 ** 13
SAVE_EVERY_S = 10.0  # progress is saved at least this often ...
SAVE_COST_SHARE = 0.1  # ... unless saving would take more than this share of the training time


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; expected auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def environment(device: torch.device) -> dict:
    env = {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
           "platform": platform.platform(), "processor": platform.machine(), "cpu_threads": torch.get_num_threads(),
           "device": str(device)}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def model_seed(ratio: float, seed: int) -> int:
    """A model's own seed, from its seed and its weight ratio (not its position in the sweep), so
    the same model trained alone or in any stack starts and shuffles the same way."""
    return int(np.random.SeedSequence([seed, *struct.unpack("<II", struct.pack("<d", ratio))]).generate_state(1)[0])


def class_weight_table(sweep: Sweep, num_classes: int) -> np.ndarray:
    """(ratios, classes) weights: explicit rows, all ones for a null sweep, or from each binary ratio;
    raised to the sweep's ``weight_exponent``."""
    if sweep.null_weights:
        return np.ones((len(sweep.weight_ratios), num_classes))
    if sweep.class_weights:
        table = np.array(sweep.class_weights, dtype=float)
        if table.shape[1] != num_classes:
            raise ValueError(f"class_weights rows have {table.shape[1]} entries; the task has {num_classes} classes")
        return table ** sweep.weight_exponent
    if num_classes != 2:
        raise ValueError("weight ratios describe binary tasks; this task has "
                         f"{num_classes} classes")
    return np.array([class_weights_for_ratio(r) for r in sweep.weight_ratios]) ** sweep.weight_exponent


def learning_rate(sweep: Sweep, x_train: torch.Tensor) -> float:
    """The sweep's learning rate times its ``lr_factor``; ``inverse_sigma_max`` is computed on ``x_train``, which
    the trainer passes as the task seed's own sample, so every seed of a sweep trains at one rate."""
    if sweep.lr == INVERSE_SIGMA_MAX:
        sigma_max = torch.linalg.matrix_norm(x_train.reshape(len(x_train), -1).double(), ord=2)
        return sweep.lr_factor * float(1.0 / sigma_max)
    return sweep.lr_factor * float(sweep.lr)


class _Recorder:
    """Fills the result arrays of one sweep as checkpoints come in."""

    def __init__(self, sweep: Sweep, task):
        n_ckpt, n_r, n_s = len(sweep.checkpoint_epochs), len(sweep.weight_ratios), len(sweep.seeds)
        c = task.num_classes
        self.shares = {k: np.full((n_ckpt, n_r, n_s, c), np.nan, np.float32) for k in task.eval_sets}
        labelled = [k for k, v in task.eval_sets.items() if v.y is not None]
        self.recall = {k: np.full((n_ckpt, n_r, n_s, c), np.nan, np.float32) for k in labelled}
        self.class_loss = {k: np.full((n_ckpt, n_r, n_s, c), np.nan, np.float32) for k in labelled}
        self.predictions = {k: np.zeros((len(sweep.snapshots), n_r, n_s, len(v.x)), np.uint8)
                            for k, v in task.eval_sets.items()}
        self.train_loss = np.full((n_ckpt, n_r, n_s), np.nan, np.float32)
        self.diverged_epoch = np.zeros((n_r, n_s), np.int64)
        self.param_trace = None

    def state(self) -> dict:
        return dict(vars(self))

    def load_state(self, state: dict):
        vars(self).update(state)


def train_sweep(sweep: Sweep, device: torch.device, progress_file: Path | None = None,
                show_progress: bool = True, progress=None, say=None) -> SweepResult:
    """Train every model of ``sweep`` and measure it at every checkpoint.

    With ``progress_file``, state is saved there every ``SAVE_EVERY_S`` seconds (less often only when a
    save costs more than ``SAVE_COST_SHARE`` of the time) and at the end of every group of models, and a
    later call resumes from it, telling ``say`` (a callable taking one line) what it resumes from.
    """
    start = time.time()
    if sweep.precision == "bf16" and device.type != "cuda":
        raise ValueError(f"precision 'bf16' is a CUDA option; sweep {sweep.name!r} runs on {device}")
    task = _measured_sets(build_task(sweep.task, **sweep.task_options), sweep).to(device)
    samples = task.training_samples([sample_seed(sweep.task_options.get("seed", 0), s) for s in sweep.seeds])
    data = _TrainingData(samples)
    lr = learning_rate(sweep, task.x_train)
    weights = torch.tensor(class_weight_table(sweep, task.num_classes), dtype=torch.float32, device=device)
    grid = sweep.model_grid()
    per_step = sweep.models_per_step or len(grid)
    groups = [grid[i:i + per_step] for i in range(0, len(grid), per_step)]
    recorder = _Recorder(sweep, task)
    resume = _load_progress(progress_file, sweep)
    elapsed_before = resume["elapsed"] if resume else 0.0
    if resume:
        recorder.load_state(resume["recorder"])
        if say is not None:
            say(f"resuming {sweep.name} from saved progress: group {resume['group'] + 1}/{len(groups)}, epoch "
                f"{resume['epoch']}/{sweep.last_epoch} ({duration(elapsed_before)} of training kept)")
    # ``progress``: a tqdm-like factory (e.g. iwcore.progress.SweepProgress, which reports to pytest's terminal)
    bar = (progress or tqdm)(total=sweep.last_epoch * len(groups), desc=sweep.name, unit="epoch",
                             disable=not show_progress, leave=False, mininterval=2.0, dynamic_ncols=True)
    for g, members in enumerate(groups):
        if resume and g < resume["group"]:
            bar.update(sweep.last_epoch)
            continue
        group_resume = resume if resume and resume["group"] == g and resume["epoch"] else None
        _train_group(sweep, task, data, lr, weights, members, recorder, device, bar,
                     group_resume, progress_file, g, start - elapsed_before)
    bar.close()
    n_params = sum(p.numel() for p in build_model(sweep.model, task.input_shape, task.num_classes,
                                                  **sweep.model_options).parameters())
    meta = {"wall_time_s": time.time() - start + elapsed_before, "lr": lr, "n_params_per_model": n_params,
            "environment": environment(device), "task_meta": task.meta, "class_names": list(task.class_names),
            "class_counts": {k: torch.bincount(v.y.long(), minlength=task.num_classes).tolist()
                             for k, v in task.eval_sets.items() if v.y is not None},
            "eval_roles": {k: v.role for k, v in task.eval_sets.items()},
            "samples": [s.meta for s in samples]}
    if progress_file is not None and progress_file.exists():
        progress_file.unlink()
    return SweepResult(config=sweep.config(), key="", epochs=np.array(sweep.checkpoint_epochs),
                       shares=recorder.shares, recall=recorder.recall, class_loss=recorder.class_loss,
                       train_loss=recorder.train_loss,
                       snapshot_epochs=np.array(sweep.snapshots), predictions=recorder.predictions,
                       diverged_epoch=recorder.diverged_epoch, param_trace=recorder.param_trace, meta=meta)


class _TrainingData:
    """The seeds' training samples as ``x``/``y`` of shape (distinct samples, n, ...), and ``slot[j]``,
    the row of seed ``j``'s sample. Samples made of the same tensors (a task without a sampler, or
    samples that are a whole fixed pool) share one row, a view of those tensors: a dataset is never
    copied per seed."""

    def __init__(self, samples):
        rows = {}
        self.slot = [rows.setdefault((id(s.x), id(s.y)), len(rows)) for s in samples]
        distinct = list({slot: s for slot, s in zip(self.slot, samples)}.values())
        if len(distinct) == 1:
            self.x, self.y = distinct[0].x[None], distinct[0].y[None]
        else:
            self.x, self.y = torch.stack([s.x for s in distinct]), torch.stack([s.y for s in distinct])

    def class_counts(self, num_classes: int) -> torch.Tensor:
        """(distinct samples, classes) float counts of each class in each sample."""
        return torch.stack([torch.bincount(y.long(), minlength=num_classes) for y in self.y]).float()


def _measured_sets(task, sweep: Sweep):
    """The task with only the evaluation sets the sweep asks for (all when it names none); with ``max_steps`` (a
    dry run) each set but a grid (whose shape its figures read) thinned to about ``max_steps`` minibatches, evenly
    spaced so that every class stays in it."""
    unknown = sorted(set(sweep.eval_sets) - set(task.eval_sets))
    if unknown:
        raise ValueError(f"sweep {sweep.name!r} asks for evaluation sets {unknown}; task {task.name!r} has "
                         f"{sorted(task.eval_sets)}")
    kept = {k: v for k, v in task.eval_sets.items() if not sweep.eval_sets or k in sweep.eval_sets}
    if sweep.max_steps:
        def thinned(ev):
            every = max(1, math.ceil(len(ev.x) / (sweep.max_steps * sweep.batch_size)))
            return dataclasses.replace(ev, x=ev.x[::every], y=None if ev.y is None else ev.y[::every])

        kept = {k: v if v.role == "grid" else thinned(v) for k, v in kept.items()}
    return dataclasses.replace(task, eval_sets=kept)


def _train_group(sweep, task, data, lr, weights, members, recorder, device, bar, resume, progress_file, group_index,
                 clock_start):
    seeds = [model_seed(sweep.weight_ratios[i], s) for i, s in members]
    models = []
    for ms in seeds:
        torch.manual_seed(ms)
        models.append(build_model(sweep.model, task.input_shape, task.num_classes, **sweep.model_options).to(device))
    stacked = stack(models, vmap=sweep.models_per_step != 1)
    del models
    params = stacked.parameters()
    optimizer = _optimizer(sweep, params, lr)
    order_rngs = [np.random.default_rng(ms) for ms in seeds]
    ratio_idx = torch.tensor([i for i, _ in members], device=device)
    seed_pos = [sweep.seeds.index(s) for _, s in members]
    sample_row = torch.tensor([data.slot[j] for j in seed_pos], device=device)[:, None]
    row_idx = [i for i, _ in members]
    cw = weights[ratio_idx]
    # Per model and constant over training, so padded once here (see _padded): the class weights and the class
    # counts of each model's own sample (LDAM, LA, VS).
    loss_weights = padded(cw)
    loss_counts = padded(data.class_counts(task.num_classes)[sample_row[:, 0]])
    grad_scale = _grad_scale(sweep, lr, members, device)
    fused = fused_trainer(sweep, stacked, data, sample_row, cw, grad_scale, lr)
    first_epoch = 1
    if resume:
        stacked.load_state(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        for rng, st in zip(order_rngs, resume["order_rngs"]):
            rng.bit_generator.state = st
        first_epoch = resume["epoch"] + 1
        bar.update(resume["epoch"])
    n, batch = data.x.shape[1], sweep.batch_size
    seen = min(n, sweep.max_steps * batch) if sweep.max_steps else n  # examples stepped on per epoch
    checkpoints = {e: k for k, e in enumerate(sweep.checkpoint_epochs)}
    snapshots = {e: k for k, e in enumerate(sweep.snapshots)}
    last_save, save_cost = time.time(), 0.0
    for epoch in range(first_epoch, sweep.last_epoch + 1):
        epoch_start = time.time()
        stacked.seed_dropout([int(np.random.SeedSequence([ms, epoch]).generate_state(1)[0]) for ms in seeds])
        order = torch.from_numpy(np.stack([rng.permutation(n) for rng in order_rngs])).to(device)
        epoch_loss = torch.zeros(len(members), device=device)
        stacked.train(True)
        if fused is not None:  # the same epoch, fused (iwcore.fused2d); the loop below then runs no step
            fused.epoch(order, epoch_loss, with_loss=epoch in checkpoints)
        for b in range(0, seen, batch) if fused is None else ():
            idx = order[:, b:b + batch]
            xb, yb = data.x[sample_row, idx], data.y[sample_row, idx]
            with _autocast(sweep, device):
                logits = stacked.forward(xb)
            losses = _padded(lambda lg, y: weighted_loss(lg, y, loss_weights, sweep.normalisation, sweep.loss,
                                                         sweep.loss_options, loss_counts), logits.float(), yb)
            (losses.sum() + l2_penalty(params, sweep.l2)).backward()
            if grad_scale is not None:
                for p in params:
                    p.grad.mul_(grad_scale.view(-1, *[1] * (p.ndim - 1)))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_loss += losses.detach() * idx.shape[1]
        epoch_loss = (epoch_loss / seen).cpu().numpy()
        steps_per_s = math.ceil(seen / batch) / (time.time() - epoch_start)
        for m, (r, s) in enumerate(zip(row_idx, seed_pos)):
            if not math.isfinite(epoch_loss[m]) and recorder.diverged_epoch[r, s] == 0:
                recorder.diverged_epoch[r, s] = epoch
        if epoch in checkpoints:
            _evaluate(stacked, task, recorder, checkpoints[epoch], snapshots.get(epoch), row_idx, seed_pos, sweep,
                      device)
            recorder.train_loss[checkpoints[epoch], row_idx, seed_pos] = epoch_loss
        bar.update(1)
        bar.set_postfix(models=len(members), steps_per_s=f"{steps_per_s:.1f}", refresh=False)
        due = time.time() - last_save > max(SAVE_EVERY_S, save_cost / SAVE_COST_SHARE)
        if progress_file is not None and (due or epoch == sweep.last_epoch):
            done = epoch == sweep.last_epoch
            saving = time.time()
            _save_progress(progress_file, sweep, recorder, group_index + 1 if done else group_index,
                           0 if done else epoch, stacked, optimizer, order_rngs, time.time() - clock_start)
            last_save = time.time()
            save_cost = last_save - saving


def _padded(fn, *stacked, **options):
    """``fn(*stacked, **options)`` for stacked tensors (models first), computed on the stack padded to a multiple
    of ``MODEL_LANES`` models (by copies of its first model, outside the graph) and cut back: unpadded, a
    model's loss would depend on where the stack's size puts it (``iwcore.stacking.padded``)."""
    n = stacked[0].shape[0]
    return fn(*(padded(t) for t in stacked), **options)[:n]


def _optimizer(sweep: Sweep, params, lr: float):
    if sweep.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, **sweep.optimizer_options)
    return torch.optim.Adam(params, lr=lr, **sweep.optimizer_options)


def _autocast(sweep: Sweep, device: torch.device):
    """bfloat16 autocast around forward passes when the sweep asks for it (CUDA only); otherwise a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=sweep.precision == "bf16")


def _grad_scale(sweep: Sweep, lr: float, members, device):
    """Per-model factor lr_model / lr, which with plain SGD is a per-model learning rate."""
    if not sweep.lr_by_ratio:
        return None
    by_ratio = {float(k): float(v) for k, v in sweep.lr_by_ratio.items()}
    return torch.tensor([by_ratio.get(sweep.weight_ratios[i], lr) / lr for i, _ in members],
                        dtype=torch.float32, device=device)


@torch.no_grad()
def _evaluate(stacked, task, recorder, ckpt, snapshot, row_idx, seed_pos, sweep, device):
    stacked.train(False)
    c = task.num_classes
    for name, ev in task.eval_sets.items():
        chunk = max(1, min(EVAL_CHUNK, EVAL_STACKED_INPUT // (stacked.n_models * ev.x[0].numel()),
                           EVAL_CPU_INPUT // ev.x[0].numel() if device.type == "cpu" else EVAL_CHUNK))
        with _autocast(sweep, device):
            logits = torch.cat([stacked.forward(ev.x[i:i + chunk], shared_input=True).float()
                                for i in range(0, len(ev.x), chunk)], 1)
        pred = predicted_class(logits, c)
        recorder.shares[name][ckpt, row_idx, seed_pos] = class_shares(pred, c).cpu().numpy()
        if ev.y is not None:
            recorder.recall[name][ckpt, row_idx, seed_pos] = class_recall(pred, ev.y, c).cpu().numpy()
            # the unweighted cross-entropy per class: a metric, whatever loss the sweep trains with
            loss = _padded(per_example_loss, logits, ev.y.expand(pred.shape))
            recorder.class_loss[name][ckpt, row_idx, seed_pos] = class_means(loss, ev.y, c).cpu().numpy()
        if snapshot is not None:
            recorder.predictions[name][snapshot, row_idx, seed_pos] = pred.to(torch.uint8).cpu().numpy()
    flat = stacked.flat_parameters()
    if flat.shape[1] <= PARAM_TRACE_LIMIT:
        if recorder.param_trace is None:
            shape = (len(sweep.checkpoint_epochs), len(sweep.weight_ratios), len(sweep.seeds), flat.shape[1])
            recorder.param_trace = np.full(shape, np.nan, np.float32)
        recorder.param_trace[ckpt, row_idx, seed_pos] = flat.cpu().numpy()
    stacked.train(True)


def _save_progress(path: Path, sweep, recorder, group, epoch, stacked, optimizer, order_rngs, elapsed):
    """Everything needed to resume: finished groups' results and the current group's state. Arrays are
    stored as tensors, so the file loads with ``weights_only=True`` (no pickled objects)."""
    state = {"config": sweep.config(), "recorder": _as_tensors(recorder.state()), "group": group, "epoch": epoch,
             "elapsed": elapsed}
    if epoch:
        state.update(model=stacked.state(), optimizer=optimizer.state_dict(),
                     order_rngs=[rng.bit_generator.state for rng in order_rngs])
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _load_progress(path: Path | None, sweep: Sweep) -> dict | None:
    if path is None or not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["config"] != sweep.config():
            raise ValueError("the saved progress belongs to another config")
    except OSError:  # an I/O or permission error says nothing about the file: never set it aside for one
        raise
    except Exception as err:  # a torn or foreign file is never trusted: start over
        import warnings

        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        path.replace(aside)
        warnings.warn(f"ignoring unreadable training progress {path} ({err}); moved it to {aside.name}",
                      stacklevel=2)
        return None
    state["recorder"] = _as_arrays(state["recorder"])
    return state


def _as_tensors(value):
    """``value`` with every numpy array in it (nested in dicts) as a tensor."""
    if isinstance(value, dict):
        return {k: _as_tensors(v) for k, v in value.items()}
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def _as_arrays(value):
    if isinstance(value, dict):
        return {k: _as_arrays(v) for k, v in value.items()}
    return value.numpy() if isinstance(value, torch.Tensor) else value
