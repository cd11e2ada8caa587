"""A task of given shapes and no data: what planning (``iwcore.plan``) builds in place of a task whose data are
absent, to size a model's memory (``iwcore.shards.model_bytes``) without reading them."""

from __future__ import annotations

import torch

from iwcore.data import register_task
from iwcore.data.task import EvalSet, Task


@register_task("planned_shape")
def planned_shape(input_shape, dtype: str, num_classes: int) -> Task:
    """One zero example of ``input_shape`` and ``dtype`` (a torch dtype's name), ``num_classes`` classes."""
    x = torch.zeros((1, *input_shape), dtype=getattr(torch, dtype))
    y = torch.zeros(1, dtype=torch.long)
    return Task("planned_shape", x, y, {"test": EvalSet(x, y)}, num_classes=num_classes,
                class_names=tuple(str(c) for c in range(num_classes)))
