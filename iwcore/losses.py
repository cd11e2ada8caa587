"""Importance-weighted losses (IW-ERM with class-conditioned weights) and the explicit L2 term.

Two batch normalisations are offered, by name, because they are not the same estimator:
``"mean"`` averages ``w_i * l_i`` over the batch (an unbiased estimate of the weighted risk; the
default), ``"weight_sum"`` divides ``sum(w_i * l_i)`` by ``sum(w_i)`` (what PyTorch's
``weight=`` argument of ``cross_entropy`` does). Under ``"weight_sum"`` a batch of one class is
unaffected by its weight, so the two give different training dynamics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NORMALISATIONS = ("mean", "weight_sum")


def class_weights_for_ratio(ratio: float) -> tuple[float, float]:
    """(negative, positive) class weights whose ratio positive/negative is ``ratio``.

    The class being down-weighted gets ``min(ratio, 1/ratio)`` and the other 1, as the paper
    down-weights one class by ``2^-k``; no weight exceeds 1, so step sizes stay bounded.
    """
    if not ratio > 0 or ratio != ratio or ratio == float("inf"):
        raise ValueError(f"weight ratios must be positive and finite, got {ratio}")
    return (1.0, ratio) if ratio <= 1 else (1.0 / ratio, 1.0)


def per_example_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per example: binary logistic where there is one logit per example (logits
    shaped like the labels), softmax cross-entropy over the last axis otherwise."""
    if logits.shape == y.shape:
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), reduction="none").view(y.shape)


def weighted_loss(logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor,
                  normalisation: str = "mean") -> torch.Tensor:
    """Class-weighted cross-entropy of a batch; ``class_weights[..., c]`` weighs examples of class c.

    Leading axes are kept: stacked logits (models, batch[, classes]) with labels (models, batch)
    and weights (models, classes) give one loss per model.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; expected one of {NORMALISATIONS}")
    w = torch.gather(class_weights, -1, y.long())
    weighted = w * per_example_loss(logits, y)
    if normalisation == "mean":
        return weighted.mean(-1)
    return weighted.sum(-1) / w.sum(-1)


def l2_penalty(params, coefficient: float) -> torch.Tensor | float:
    """``coefficient / 2 * ||theta||^2`` over all parameters: the same gradient as SGD's
    ``weight_decay=coefficient``, written out so it is part of the objective, not an optimizer default."""
    if coefficient == 0:
        return 0.0
    return 0.5 * coefficient * sum((p * p).sum() for p in params)
