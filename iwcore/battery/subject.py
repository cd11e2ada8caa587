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

A callable is registered under its module and qualified name (``iwcore.parts``), so sweeps stay declarative
and the cache keys the callable's own source (``iwcore.codekey``).

A subject also declares the verdicts a claim about it is expected to give (``expected``, like scikit-learn's
``expected_failed_checks``): the claim's test is then a strict expected failure for exactly those verdicts. The
paper's subjects declare the paper's findings (``iwcore.battery.findings``), a user's subject its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from iwcore.battery.findings import EXPECTED, Expected
from iwcore.parts import registered_loss, registered_model, registered_task
from iwcore.sweep import Sweep
from iwcore.verdicts import Verdict

MERGED_OPTIONS = ("task_options", "model_options", "optimizer_options", "loss_options")


@dataclass(frozen=True)
class Subject:
    """``tiers`` maps a tier to the subject's base sweep there (task, model, loss, optimizer, weight ratios,
    seeds, epochs); a variant changes fields of it (dict options are merged). ``data(tier, options)`` gives
    the options that depend on the run, by option dict (``{"task_options": {"data_dir": ...}}``; a pretrained
    model's folder goes in ``model_options``), or raises ``Unavailable``. ``deciding_roles``: the
    evaluation-set roles whose share decides an effect claim. ``separable``: the training data are separable by
    the model (what "fades" claims presuppose). ``paper``: one of the paper's own subjects. ``expected``: the
    declared verdicts of claims about this subject, by (claim id, tier); a paper subject's are the paper's
    findings (``iwcore.battery.findings.EXPECTED``). ``shares``: a tier that runs another tier's sweeps, named
    after that tier so the cache trains them once (the long tier's 2D claims are the full tier's)."""

    name: str
    label: str
    tiers: Mapping[str, Sweep]
    data: Callable[[str, dict], dict] | None = None
    deciding_roles: tuple[str, ...] = ("in_domain",)
    separable: bool = True
    paper: bool = False
    shares: Mapping[str, str] = field(default_factory=dict)
    expected: Mapping[tuple[str, str], Expected] = field(default_factory=dict)

    def __post_init__(self):
        if self.paper and not self.expected:
            object.__setattr__(self, "expected", EXPECTED)

    def declaring(self, expected: Mapping | None) -> "Subject":
        """This subject with ``expected`` declared too (see ``Subject.create``); the new declarations win."""
        if not expected:
            return self
        return replace(self, expected={**self.expected, **self._declarations(expected)})

    def _declarations(self, expected: Mapping) -> dict[tuple[str, str], Expected]:
        from iwcore.battery.paper import CLAIMS

        if not isinstance(expected, Mapping):
            raise TypeError(f"expected= maps claim ids to verdicts, e.g. {{'C14': {{'INCONCLUSIVE'}}}}; "
                            f"got {expected!r}")
        out = {}
        for key, value in expected.items():
            if isinstance(key, str):
                claim, tiers = key, tuple(self.tiers)
            elif isinstance(key, tuple) and len(key) == 2:
                claim, tiers = key[0], (key[1],)
            else:
                raise ValueError(f"expected= key {key!r}: a claim id ('C14') or a (claim id, tier) pair")
            if claim not in CLAIMS:
                raise ValueError(f"expected= names claim {claim!r}; the battery has "
                                 f"{', '.join(sorted(CLAIMS, key=lambda c: int(c[1:])))}")
            for tier in tiers:
                if tier not in self.tiers:
                    raise ValueError(f"expected= names tier {tier!r} of {claim}; subject {self.name!r} defines "
                                     f"{sorted(self.tiers)}")
                out[(claim, tier)] = _expected(value, f"{claim} ({tier})", f"declared by the subject {self.name}")
        return out

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
               deciding_roles: tuple[str, ...] = ("in_domain",), separable: bool = True,
               expected: Mapping | None = None) -> "Subject":
        """A user's subject. ``tiers``: per tier the scale, ``{"fast": dict(weight_ratios=..., seeds=...,
        epochs=...), "full": {...}}`` (any other Sweep field may be set there too). ``expected``: the verdicts
        the subject is known to give, ``{"C14": {"INCONCLUSIVE"}, ("C17", "fast"): {"UNDECIDED", "NOT
        REPRODUCED"}}`` (a claim id alone: every tier), each a verdict name, a set of them or an ``Expected``
        with its reason; such a claim's test is a strict expected failure for exactly those verdicts."""
        shared = dict(task=registered_task(task), model=registered_model(model), loss=registered_loss(loss),
                      task_options=dict(task_options or {}), model_options=dict(model_options or {}),
                      loss_options=dict(loss_options or {}), optimizer=optimizer,
                      optimizer_options=dict(optimizer_options or {}), lr=lr, batch_size=batch_size)
        sweeps = {tier: Sweep(name=f"{tier}-{name}", **{**shared, **scale}) for tier, scale in tiers.items()}
        subject = cls(name=name, label=label or name, tiers=sweeps, deciding_roles=deciding_roles,
                      separable=separable)
        return subject.declaring(expected)


def _expected(value, what: str, reason: str) -> Expected:
    """An ``Expected`` from a declaration's value: a verdict name, a set of them, or an ``Expected``."""
    if isinstance(value, Expected):
        verdicts, reason = value.verdicts, value.reason
    else:
        verdicts = {value} if isinstance(value, (str, Verdict)) else value
    names = [v.value for v in Verdict]
    if not isinstance(verdicts, Iterable) or not verdicts or any(v not in names for v in verdicts):
        raise ValueError(f"expected= for {what}: {value!r}; give one or more of {names}")
    return Expected(frozenset(Verdict(v) for v in verdicts), reason)
