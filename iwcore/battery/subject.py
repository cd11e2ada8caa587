"""A subject: what a claim is about — a model, a training loss, the optimizer settings and a task, at the
scale of each tier.

The paper's subjects (its CNN on CIFAR-10, its MLP on the 2D data, …) are defined in
``iwcore.battery.paper``; a user describes their own with ``Subject.create``, naming registered parts or
passing their own callables:

- a model: a factory ``(input_shape, n_outputs, **model_options) -> nn.Module`` (one output for a binary
  task). The trainer seeds torch before each call, so every model of a sweep starts from its own seed;
- a loss: ``(logits, y, class_counts, **loss_options) -> per-example loss`` (see ``iwcore.losses``);
- a task: a factory ``(**task_options) -> iwcore.data.Task`` (training tensors plus named evaluation sets,
  one ``"test"`` set of role ``in_domain``).

A callable is registered under its module and qualified name, so sweeps stay declarative and the cache keys
the callable's own source (``iwcore.codekey``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from iwcore.sweep import Sweep

MERGED_OPTIONS = ("task_options", "model_options", "optimizer_options", "loss_options")


@dataclass(frozen=True)
class Subject:
    """``tiers`` maps a tier to the subject's base sweep there (task, model, loss, optimizer, weight ratios,
    seeds, epochs); a variant changes fields of it (dict options are merged). ``data(tier, options)`` gives
    the options that depend on the run, by option dict (``{"task_options": {"data_dir": ...}}``; a pretrained
    model's folder goes in ``model_options``), or raises ``Unavailable``. ``deciding_roles``: the
    evaluation-set roles whose share decides an effect claim. ``separable``: the training data are separable by
    the model (what "fades" claims presuppose). ``paper``: one of the paper's own subjects. ``shares``: a tier
    that runs another tier's sweeps, named after that tier so the cache trains them once (the long tier's 2D
    claims are the full tier's)."""

    name: str
    label: str
    tiers: Mapping[str, Sweep]
    data: Callable[[str, dict], dict] | None = None
    deciding_roles: tuple[str, ...] = ("in_domain",)
    separable: bool = True
    paper: bool = False
    shares: Mapping[str, str] = field(default_factory=dict)

    def sweep(self, tier: str, options: dict | None = None, variant: str = "", **changes) -> Sweep:
        from iwcore.battery.claim import Unavailable

        tier = self.shares.get(tier, tier)
        if tier not in self.tiers:
            raise Unavailable(f"subject {self.name!r} defines no {tier} tier (it has {sorted(self.tiers)})")
        base = self.tiers[tier]
        extra = self.data(tier, options or {}) if self.data is not None else {}
        for name in MERGED_OPTIONS:
            changes[name] = {**getattr(base, name), **extra.get(name, {}), **changes.get(name, {})}
        return base.scaled(name=f"{tier}-{self.name}" + (f"-{variant}" if variant else ""), **changes)

    def describe(self, tier: str) -> str:
        s = self.tiers[self.shares.get(tier, tier)]
        loss = s.loss + (f" {s.loss_options}" if s.loss_options else "")
        model = f"{s.model} {s.model_options}" if s.model_options else s.model
        return (f"{self.label}: {model} on {s.task}; loss {loss}; {s.optimizer} lr {s.lr}, "
                f"batch {s.batch_size}; {len(s.weight_ratios)} weight ratios {min(s.weight_ratios):g}.."
                f"{max(s.weight_ratios):g}; {len(s.seeds)} seeds; {s.epochs} epochs")

    @classmethod
    def create(cls, name: str, *, model: str | Callable, task: str | Callable, tiers: Mapping[str, dict],
               label: str = "", model_options: dict | None = None, task_options: dict | None = None,
               loss: str | Callable = "ce", loss_options: dict | None = None, optimizer: str = "sgd",
               optimizer_options: dict | None = None, lr: float = 0.1, batch_size: int = 16,
               deciding_roles: tuple[str, ...] = ("in_domain",), separable: bool = True) -> "Subject":
        """A user's subject. ``tiers``: per tier the scale, ``{"fast": dict(weight_ratios=..., seeds=...,
        epochs=...), "full": {...}}`` (any other Sweep field may be set there too)."""
        shared = dict(task=_registered_task(task), model=_registered_model(model), loss=_registered_loss(loss),
                      task_options=dict(task_options or {}), model_options=dict(model_options or {}),
                      loss_options=dict(loss_options or {}), optimizer=optimizer,
                      optimizer_options=dict(optimizer_options or {}), lr=lr, batch_size=batch_size)
        sweeps = {tier: Sweep(name=f"{tier}-{name}", **{**shared, **scale}) for tier, scale in tiers.items()}
        return cls(name=name, label=label or name, tiers=sweeps, deciding_roles=deciding_roles, separable=separable)


def callable_name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _register(registry: dict, fn: Callable | str) -> str:
    """The registry name of ``fn``: itself when a name; for a callable its qualified name, registered (again,
    when a module is reloaded: the newest definition wins)."""
    if isinstance(fn, str):
        return fn
    name = callable_name(fn)
    registry[name] = fn
    return name


def _registered_model(model) -> str:
    from iwcore.models import MODELS

    return _register(MODELS, model)


def _registered_task(task) -> str:
    from iwcore.data import TASKS

    return _register(TASKS, task)


def _registered_loss(loss) -> str:
    """A loss's registry name; a callable is registered as ``user_<module>_<qualname>`` (the registry's names
    are lower-case identifiers), once."""
    from iwcore.losses import loss_entry, register_loss, registered_losses

    if isinstance(loss, str):
        return loss
    name = "user_" + re.sub(r"[^a-z0-9_]", "_", callable_name(loss).lower())
    if name not in registered_losses():
        register_loss(name, loss, neutral=None)
    elif loss_entry(name).fn is not loss:
        raise ValueError(f"another loss is registered as {name!r} (from {callable_name(loss)}); rename one of them")
    return name
