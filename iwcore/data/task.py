"""The task contract every data source fulfils.

A task is small enough to live on the device as whole tensors, so the trainer indexes minibatches
directly instead of going through a DataLoader. Evaluation sets carry a role so that the
statistics know which one decides a verdict (``in_domain``; the 2D claims also the ``grid``) and which are
reported beside it; a ``validation`` set (for model selection, C18) never decides.

Replicates. A seed of a sweep is an independent replicate that draws its own training sample (CLAIMS.md,
"Replication unit"). A task with a ``sampler`` draws one from its population or pool for a sample seed;
the evaluation sets are the task's own and shared by every replicate (the estimand is conditional on
them). A task without one has a single fixed training set (e.g. all of CIFAR-10's training images).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

ROLES = ("in_domain", "out_of_domain", "noise", "grid", "validation")


@dataclass
class EvalSet:
    """Inputs on which the share classified positive is measured; labels where they exist."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    role: str = "in_domain"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown evaluation-set role {self.role!r}; expected one of {ROLES}")
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.x)} inputs but {len(self.y)} labels")


@dataclass(frozen=True)
class TrainingSample:
    """One replicate's training set; ``meta`` (JSON-serialisable) describes the draw, e.g. its SVM."""

    x: torch.Tensor
    y: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"training sample has {len(self.x)} inputs but {len(self.y)} labels")


@dataclass
class Task:
    """Training data plus evaluation sets. Binary tasks use label 1 for the positive class.

    ``x_train``/``y_train`` are the training sample of the task's own seed (input shape, learning
    rate, figures). ``sampler(sample_seed)`` draws another replicate's sample of the same size;
    None means every replicate trains on ``x_train``/``y_train``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    eval_sets: dict[str, EvalSet]
    num_classes: int = 2
    class_names: tuple[str, ...] = ("negative", "positive")
    meta: dict = field(default_factory=dict)
    sampler: Callable[[int], TrainingSample] | None = None

    def __post_init__(self):
        if len(self.x_train) == 0:
            raise ValueError(f"task {self.name!r} has an empty training set")
        if len(self.x_train) != len(self.y_train):
            raise ValueError(f"task {self.name!r}: {len(self.x_train)} inputs but {len(self.y_train)} labels")
        if "test" not in self.eval_sets or self.eval_sets["test"].role != "in_domain":
            raise ValueError(f"task {self.name!r} needs an in-domain evaluation set named 'test'")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def training_samples(self, sample_seeds: list[int]) -> list[TrainingSample]:
        """One training sample per sample seed, ``meta`` carrying its ``sample_seed`` (None where the
        task has no sampler and every seed gets the task's own tensors). All have ``len(x_train)``
        examples."""
        if self.sampler is None:
            return [TrainingSample(self.x_train, self.y_train, {"sample_seed": None})] * len(sample_seeds)
        samples = []
        for seed in sample_seeds:
            drawn = self.sampler(seed)
            samples.append(TrainingSample(drawn.x, drawn.y, {"sample_seed": seed, **drawn.meta}))
        wrong = {s.meta["sample_seed"]: len(s.x) for s in samples if len(s.x) != len(self.x_train)}
        if wrong:
            raise ValueError(f"task {self.name!r}: every training sample must have {len(self.x_train)} examples, "
                             f"as the task's own one; these differ (sample seed: size): {wrong}")
        return samples

    def to(self, device) -> "Task":
        moved = {k: EvalSet(v.x.to(device), None if v.y is None else v.y.to(device), v.role)
                 for k, v in self.eval_sets.items()}
        x_train, y_train = self.x_train.to(device), self.y_train.to(device)
        moved_train = {id(self.x_train): (self.x_train, x_train), id(self.y_train): (self.y_train, y_train)}
        sampler = None if self.sampler is None else _on_device(self.sampler, device, moved_train)
        return Task(self.name, x_train, y_train, moved, self.num_classes, self.class_names, self.meta, sampler)


def _on_device(sampler: Callable[[int], TrainingSample], device,
               already_moved: dict) -> Callable[[int], TrainingSample]:
    """``sampler`` with its samples on ``device``. A sample tensor that is a key of ``already_moved``
    (id -> (tensor, its copy on the device); the dict keeps the tensor alive, so its id stays its own)
    becomes that copy: a sample that is the task's own training set is not copied again."""
    def to_device(t: torch.Tensor) -> torch.Tensor:
        original, moved = already_moved.get(id(t), (None, None))
        return moved if original is t else t.to(device)

    def sample_on_device(sample_seed: int) -> TrainingSample:
        sample = sampler(sample_seed)
        return TrainingSample(to_device(sample.x), to_device(sample.y), sample.meta)

    return sample_on_device
