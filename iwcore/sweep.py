"""A sweep: the declarative description of many models trained under one setting.

A sweep names its task, model, training loss and its normalisation, optimizer, regularisation,
weight ratios, seeds, epochs, batch size and checkpoint schedule. Everything that can change a result is in the
config, so a hash of the config (plus the version of the code that trains) keys the cache.

Seeds. Each seed is an independent replicate (CLAIMS.md, "Replication unit"): its models train on
the training sample the task draws for ``sample_seed(task seed, seed)``, with initialisations,
minibatch orders and dropout masks from the model's own seed (``iwcore.training.model_seed``). The
task seed (``task_options["seed"]``, default 0) fixes the evaluation sets every seed shares.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from iwcore.losses import DEFAULT_LOSS, NORMALISATIONS, class_weights_for_ratio, resolved_options

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("fp32", "bf16")
INVERSE_SIGMA_MAX = "inverse_sigma_max"  # lr = 1 / largest singular value of the training inputs
SEED_BLOCK = 1_000_000  # base seed b owns the seeds [b * SEED_BLOCK, (b + 1) * SEED_BLOCK)
_SAMPLE_STREAM = 0x73616D70  # tags sample seeds apart from the trainer's other SeedSequence draws
# Fields left out of the config while at their defaults, so that a sweep that does not use them keeps the
# config (and cache key) it had before they existed.
_OMITTED_AT_DEFAULT = ("loss", "loss_options", "weight_exponent", "lr_factor", "max_steps")


def sample_seed(task_seed: int, seed: int) -> int:
    """The seed with which the task draws replicate ``seed``'s training sample: a 64-bit SeedSequence
    hash of (task seed, seed), so it depends on nothing else (not on which other seeds a sweep has),
    and nearby seeds give unrelated samples."""
    return int(np.random.SeedSequence([task_seed, seed, _SAMPLE_STREAM]).generate_state(1, np.uint64)[0])


def powers(base: int, k: int) -> tuple[float, ...]:
    """``base^-k, …, 1, …, base^k``: the paper's weight-ratio grids (2^±8 and 4^±4)."""
    return tuple(float(base) ** e for e in range(-k, k + 1))


@dataclass(frozen=True)
class Sweep:
    """Every (weight ratio, seed) model of one experimental setting."""

    name: str
    task: str
    model: str
    weight_ratios: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float | str
    task_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    optimizer: str = "sgd"
    optimizer_options: dict = field(default_factory=dict)
    l2: float = 0.0
    normalisation: str = "mean"
    lr_by_ratio: dict = field(default_factory=dict)  # e.g. {1.0: 0.05}: the paper's unweighted dropout CNN
    null_weights: bool = False  # train every model unweighted while keeping the ratio labels (C19)
    class_weights: tuple[tuple[float, ...], ...] = ()  # explicit per-class weights, one row per weight ratio (multiclass)
    checkpoints: tuple[int, ...] = ()  # epochs to evaluate at; empty means default_schedule(epochs)
    # Train only through this epoch (0: all ``epochs``); the early window and the checkpoint schedule stay
    # those of ``epochs``, less the checkpoints after it. For cheap null sweeps that need only the early window.
    train_until: int = 0
    # Evaluation sets to measure (empty: all of the task's). Null sweeps measure only the deciding set: on many
    # small models evaluation, not training, dominates the cost.
    eval_sets: tuple[str, ...] = ()
    # SGD steps per epoch, and about as many minibatches of each evaluation set (0: all of them): a dry run's
    # truncation (``iwcore.dryrun``), part of the config, so a truncated result never shares a cache entry with a
    # real one.
    max_steps: int = 0
    snapshot_epochs: tuple[int, ...] = ()  # epochs whose per-example predictions are kept (figures, agreement)
    models_per_step: int = 0  # how many models share one stacked step; 0 means all of them
    # "fp32" (the default, as the paper) or "bf16": forward passes under CUDA autocast to bfloat16 (losses,
    # parameters and optimizer state stay fp32). A documented speed option for CUDA only; it is part of the
    # config, so it never shares a cache entry with an fp32 run.
    precision: str = "fp32"
    # The per-example training loss, a name in iwcore.losses' registry ("ce", "poly", "ldam", "logit_adjust",
    # "vs" or a user's own), and its options (unset ones take the loss's defaults).
    loss: str = DEFAULT_LOSS
    loss_options: dict = field(default_factory=dict)
    # Class weights are raised to this power before training (Wang et al., ICLR 2022, find w^1.5 helps their
    # polynomially-tailed loss); the weight ratios stay the labels of the models, the ratio trained is ratio^p.
    weight_exponent: float = 1.0
    # The learning rate (a number or inverse_sigma_max) is multiplied by this: a loss whose gradient is a constant
    # multiple of cross-entropy's trains at the same step size (the poly loss: iwcore.losses.POLY_LR_FACTOR).
    lr_factor: float = 1.0

    def __post_init__(self):
        if not self.weight_ratios:
            raise ValueError(f"sweep {self.name!r} has no weight ratios")
        if not self.seeds:
            raise ValueError(f"sweep {self.name!r} has no seeds")
        for r in self.weight_ratios:
            class_weights_for_ratio(r)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"sweep {self.name!r} repeats a seed: {self.seeds}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"sweep {self.name!r}: epochs and batch size must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalisation!r}; expected one of {NORMALISATIONS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of {PRECISIONS}")
        resolved_options(self.loss, self.loss_options)
        if not 0 < self.lr_factor < math.inf:
            raise ValueError(f"lr_factor must be positive and finite, got {self.lr_factor}")
        if not 0 < self.weight_exponent < math.inf:
            raise ValueError(f"weight_exponent must be positive and finite, got {self.weight_exponent}")
        if isinstance(self.lr, str) and self.lr != INVERSE_SIGMA_MAX:
            raise ValueError(f"lr must be a number or {INVERSE_SIGMA_MAX!r}, got {self.lr!r}")
        if self.lr_by_ratio and self.optimizer != "sgd":
            raise ValueError("a learning rate per weight ratio is only supported with plain SGD")
        if self.class_weights and (len(self.class_weights) != len(self.weight_ratios)
                                   or any(not w > 0 for row in self.class_weights for w in row)):
            raise ValueError("class_weights needs one row of positive weights per weight ratio")
        if self.l2 < 0:
            raise ValueError(f"L2 coefficient must be >= 0, got {self.l2}")
        bad = [e for e in self.checkpoints if not 1 <= e <= self.epochs]
        if bad:
            raise ValueError(f"checkpoints outside 1..{self.epochs}: {bad}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be 0 (every minibatch) or positive, got {self.max_steps}")
        if not 0 <= self.train_until <= self.epochs:
            raise ValueError(f"train_until must be 0 (all epochs) or in 1..{self.epochs}, got {self.train_until}")

    @property
    def n_models(self) -> int:
        return len(self.weight_ratios) * len(self.seeds)

    @property
    def last_epoch(self) -> int:
        """The last epoch trained: ``train_until``, or ``epochs`` when that is 0."""
        return self.train_until or self.epochs

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        schedule = tuple(sorted(set(self.checkpoints) | {1, self.epochs})) if self.checkpoints \
            else default_schedule(self.epochs)
        return tuple(e for e in schedule if e <= self.last_epoch)

    @property
    def snapshots(self) -> tuple[int, ...]:
        """Epochs with kept per-example predictions: by default the first, the end of the early
        window and the last."""
        if self.snapshot_epochs:
            return tuple(sorted(set(self.snapshot_epochs) & set(self.checkpoint_epochs)))
        early = [e for e in self.checkpoint_epochs if e <= early_window_end(self.epochs)]
        return tuple(sorted({self.checkpoint_epochs[0], early[-1], self.checkpoint_epochs[-1]}))

    def model_grid(self):
        """(ratio index, seed) of every model, in the order the trainer stacks them."""
        return [(i, s) for i in range(len(self.weight_ratios)) for s in self.seeds]

    def with_base_seed(self, base_seed: int) -> "Sweep":
        """The same sweep on other replicates: seed ``s`` becomes ``s + base_seed * SEED_BLOCK`` and the task
        seed grows by ``base_seed``, so different base seeds share no seed (and no model)."""
        if base_seed < 0:
            raise ValueError(f"base seed must be >= 0, got {base_seed}")
        if base_seed == 0:
            return self
        outside = [s for s in self.seeds if not 0 <= s < SEED_BLOCK]
        if outside:
            raise ValueError(f"sweep {self.name!r}: seeds {outside} lie outside 0..{SEED_BLOCK - 1}, so shifting "
                             "them by a base seed would not keep base seeds disjoint")
        options = dict(self.task_options)
        options["seed"] = options.get("seed", 0) + base_seed
        return dataclasses.replace(self, seeds=tuple(s + base_seed * SEED_BLOCK for s in self.seeds),
                                   task_options=options)

    def null(self) -> "Sweep":
        """The same sweep with every model trained unweighted, each keeping its weight-ratio label (the
        null of "the weights do not affect the models"); named ``<name>-null``."""
        if self.null_weights:
            return self
        return dataclasses.replace(self, name=f"{self.name}-null", null_weights=True)

    def scaled(self, **changes) -> "Sweep":
        return dataclasses.replace(self, **changes)

    def config(self) -> dict:
        fields = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.name in _OMITTED_AT_DEFAULT and fields[f.name] == _default(f):
                del fields[f.name]
        return json.loads(json.dumps(fields, sort_keys=True, default=str))

    def key(self, code_version: str, device_type: str) -> str:
        """Cache key: the full config, the training code's version and the device type."""
        blob = json.dumps({"config": self.config(), "code": code_version, "device": device_type}, sort_keys=True)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def early_window_end(epochs: int) -> int:
    """The last epoch of the first 10% of training, where ``E_peak`` is looked for."""
    return max(1, math.floor(0.1 * epochs))


def default_schedule(epochs: int, early_points: int = 12, late_points: int = 16) -> tuple[int, ...]:
    """Checkpoints dense over the first 10% of training (where weighting acts, often within the
    first few epochs) and log-spaced after it, always including the first and the last epoch."""
    early_end = early_window_end(epochs)
    early = np.unique(np.concatenate([np.arange(1, min(early_end, 4) + 1), np.geomspace(1, early_end, early_points)]))
    late = np.geomspace(max(early_end, 1), epochs, late_points) if epochs > early_end else []
    return tuple(sorted({int(round(e)) for e in [*early, *late, 1, epochs]}))
