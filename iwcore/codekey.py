"""The code a sweep actually runs, as a fingerprint for its cache key.

A cached result is valid while the code that produced it is unchanged. Hashing the whole package would
retrain every sweep whenever anything is added (a new loss, a new model); hashing too little would let an
edited model hit a stale entry. So the fingerprint covers:

- the training core, whole files: the trainer, the stacking, the metrics, the sweep and result types and
  the task contract (every sweep runs them);
- the sweep's own model factory, task factory and training loss, each with the source of every function
  and class it reaches by name within its own module or within ``iwcore`` (a user's model defined in a
  test file is covered, and only it: editing another test in that file changes nothing).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import types
from pathlib import Path

_PACKAGE = Path(__file__).parent
CORE = ("training.py", "stacking.py", "fused2d.py", "shards.py", "metrics.py", "sweep.py", "results.py", "data/task.py")


@functools.lru_cache(maxsize=None)
def _core_digest() -> bytes:
    digest = hashlib.sha256()
    for entry in CORE:
        path = _PACKAGE / entry
        if path.exists():
            digest.update(entry.encode())
            digest.update(path.read_bytes())
    return digest.digest()


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _own_code(obj) -> list[types.CodeType]:
    """The code objects of a function, or of every method of a class."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        return [obj.__code__]
    if isinstance(obj, type):
        codes = []
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, types.FunctionType):
                codes.append(member.__code__)
        return codes
    return []


def source_closure(root) -> str:
    """The source of ``root`` and of every function or class it reaches by global name, following names
    defined in ``root``'s own module or in ``iwcore`` (library code outside them is versioned by its
    package, not hashed). Sorted by qualified name, so the result does not depend on the order of use."""
    home = getattr(root, "__module__", None)
    seen: dict[str, str] = {}
    pending = [root]
    while pending:
        obj = pending.pop()
        name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
        if name in seen:
            continue
        try:
            seen[name] = inspect.getsource(obj)
        except (OSError, TypeError):  # built in, or defined interactively: its name stands for it
            seen[name] = name
        module = inspect.getmodule(obj)
        namespace = vars(module) if module is not None else {}
        for code in _own_code(obj):
            for used in _names_used(code):
                target = namespace.get(used)
                target_module = getattr(target, "__module__", None) or ""
                if (isinstance(target, (types.FunctionType, type))
                        and (target_module == home or target_module.startswith("iwcore"))):
                    pending.append(target)
    return "\n".join(f"# {name}\n{text}" for name, text in sorted(seen.items()))


@functools.lru_cache(maxsize=None)
def _part_digest(part) -> str:
    return hashlib.sha256(source_closure(part).encode()).hexdigest()


def sweep_code_version(sweep) -> str:
    """Fingerprint of the code ``sweep`` runs: the training core plus its model, task and loss."""
    from iwcore.data import TASKS
    from iwcore.losses import loss_entry, weighted_loss
    from iwcore.models import MODELS

    digest = hashlib.sha256(_core_digest())
    for part in (MODELS[sweep.model], TASKS[sweep.task], weighted_loss, loss_entry(sweep.loss).fn):
        digest.update(_part_digest(part).encode())
    return digest.hexdigest()[:12]
