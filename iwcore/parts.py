"""A user's own model, task and loss as registry names: a sweep names its parts declaratively, and a callable
is registered under its module and qualified name (``Subject.create``). Another process (a Ray worker) gets
the callables a sweep needs from ``own_parts`` and registers them with ``register_parts`` (this module imports
nothing of pytest: Ray workers import it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from iwcore.sweep import Sweep


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


def registered_model(model) -> str:
    from iwcore.models import MODELS

    return _register(MODELS, model)


def registered_task(task) -> str:
    from iwcore.data import TASKS

    return _register(TASKS, task)


def registered_loss(loss) -> str:
    """A loss's registry name; a callable is registered as ``user_<module>_<qualname>`` (the registry's names
    are lower-case identifiers), again when its module is reloaded (the newest definition wins)."""
    from iwcore.losses import loss_entry, register_loss, registered_losses

    if isinstance(loss, str):
        return loss
    name = "user_" + re.sub(r"[^a-z0-9_]", "_", callable_name(loss).lower())
    if name in registered_losses() and callable_name(loss_entry(name).fn) != callable_name(loss):
        raise ValueError(f"another loss is registered as {name!r} (from {callable_name(loss_entry(name).fn)}, "
                         f"not {callable_name(loss)}); rename one of them")
    if name not in registered_losses() or loss_entry(name).fn is not loss:
        register_loss(name, loss, neutral=None, replace=True)
    return name


_REGISTRARS = {"model": registered_model, "task": registered_task, "loss": registered_loss}


def own_parts(sweep: Sweep) -> dict[str, Callable]:
    """The model, task and loss of ``sweep`` that are callables of a user's (registered in this process by
    ``Subject.create``, not iwcore's own), by kind: what another process (a Ray worker) must register too."""
    from iwcore.data import TASKS
    from iwcore.losses import loss_entry
    from iwcore.models import MODELS

    parts = {"model": MODELS[sweep.model], "task": TASKS[sweep.task], "loss": loss_entry(sweep.loss).fn}
    return {kind: fn for kind, fn in parts.items() if fn.__module__.partition(".")[0] != "iwcore"}


def register_parts(parts: Mapping[str, Callable]) -> None:
    """Register ``own_parts``'s callables in this process, under the names the sweep gives them."""
    for kind, fn in parts.items():
        _REGISTRARS[kind](fn)
