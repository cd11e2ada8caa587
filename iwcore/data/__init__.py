"""Tasks by name: a training set and named evaluation sets, as tensors that live on the device."""

from __future__ import annotations

from collections.abc import Callable

from iwcore.data.task import EvalSet, Task

TaskFactory = Callable[..., Task]
TASKS: dict[str, TaskFactory] = {}


def register_task(name: str):
    """Decorator that makes a task factory available to sweeps under ``name``."""

    def wrap(factory: TaskFactory) -> TaskFactory:
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        TASKS[name] = factory
        return factory

    return wrap


def build_task(name: str, **options) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered: {sorted(TASKS)}")
    return TASKS[name](**options)


from iwcore.data import images, shapes, synthetic, text  # noqa: E402,F401  (registers the built-in tasks)

__all__ = ["EvalSet", "Task", "TASKS", "build_task", "register_task"]
