"""The task contract every data source fulfils.

A task is small enough to live on the device as whole tensors, so the trainer indexes minibatches
directly instead of going through a DataLoader. Evaluation sets carry a role so that the
statistics know which one decides a verdict (``in_domain``) and which are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

ROLES = ("in_domain", "out_of_domain", "noise", "grid")


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


@dataclass
class Task:
    """Training data plus evaluation sets. Binary tasks use label 1 for the positive class."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    eval_sets: dict[str, EvalSet]
    num_classes: int = 2
    class_names: tuple[str, ...] = ("negative", "positive")
    meta: dict = field(default_factory=dict)

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

    def to(self, device) -> "Task":
        moved = {k: EvalSet(v.x.to(device), None if v.y is None else v.y.to(device), v.role)
                 for k, v in self.eval_sets.items()}
        return Task(self.name, self.x_train.to(device), self.y_train.to(device), moved,
                    self.num_classes, self.class_names, self.meta)
