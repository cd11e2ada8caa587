"""Model factories by name, so that a sweep's config names its architecture declaratively.

A factory takes the task's input shape and number of outputs plus its own keyword options and
returns a fresh ``nn.Module``. Binary tasks use one output (a logit for the positive class);
multiclass tasks use one output per class.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

ModelFactory = Callable[..., nn.Module]
MODELS: dict[str, ModelFactory] = {}


def register(name: str):
    """Decorator that makes a factory available to sweeps under ``name``."""

    def wrap(factory: ModelFactory) -> ModelFactory:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = factory
        return factory

    return wrap


def outputs_for(num_classes: int) -> int:
    return 1 if num_classes == 2 else num_classes


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name](input_shape, outputs_for(num_classes), **options)


from iwcore.models import convnets, small, text  # noqa: E402,F401  (registers the built-in factories)
