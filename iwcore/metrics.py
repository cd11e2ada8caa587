"""What is measured on an evaluation set: the share predicted as each class and, where labels
exist, the accuracy. The classification ratio of CLAIMS.md is the share predicted positive."""

from __future__ import annotations

import torch


def predicted_class(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class predictions from stacked logits: (models, n) for binary, (models, n, classes) else."""
    return (logits > 0).long() if num_classes == 2 else logits.argmax(-1)


def class_shares(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(models, n) predictions -> (models, classes) share of examples predicted as each class."""
    counts = torch.zeros(pred.shape[0], num_classes, device=pred.device)
    counts.scatter_add_(1, pred, torch.ones_like(pred, dtype=counts.dtype))
    return counts / pred.shape[1]


def class_means(values: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(models, n) per-example values and (n,) labels -> (models, classes) mean within each true
    class (NaN for a class absent from the set)."""
    y = y.long()
    per_class = torch.zeros(values.shape[0], num_classes, device=values.device).index_add_(1, y, values.float())
    return per_class / torch.bincount(y, minlength=num_classes).float()


def class_recall(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Accuracy within each true class, (models, classes)."""
    return class_means((pred == y.long().unsqueeze(0)).float(), y, num_classes)
