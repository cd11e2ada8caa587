"""The paper's 2D models: logistic regression and a one-hidden-layer ReLU MLP."""

from __future__ import annotations

import math

import torch.nn as nn

from iwcore.models import register


@register("logreg")
def logistic_regression(input_shape, n_outputs):
    """A linear score; with one output it is binary logistic regression."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), n_outputs), _Squeeze(n_outputs))


@register("mlp")
def mlp(input_shape, n_outputs, hidden: int = 64, dropout: float = 0.0):
    """One hidden ReLU layer; ``dropout`` applies to the hidden units (the paper's Fig 3 MLP)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layers = [nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(hidden, n_outputs), _Squeeze(n_outputs)]
    return nn.Sequential(*layers)


class _Squeeze(nn.Module):
    """Drops the trailing output axis of a single-logit model, so binary logits have shape (batch,)."""

    def __init__(self, n_outputs: int):
        super().__init__()
        self.single = n_outputs == 1

    def forward(self, x):
        return x.squeeze(-1) if self.single else x
