"""A fused SGD epoch for stacks of the 2D models (logistic regression, one-hidden-layer MLP).

The 2D sweeps train hundreds of models of a few hundred parameters for 1.28M steps each, so on a
CPU a step costs per-operation overhead (autograd's graph, the loss's small kernels, the optimizer's
loop over parameters), not arithmetic. Here the step is written out by hand, without autograd:
forward, the gradient of the weighted loss (binary cross-entropy or the polynomially-tailed loss:
``LOSSES``), backward and the SGD update; for logistic regression as a few batched tensor operations,
for the MLP as one function that ``torch.compile`` fuses into a few loops (compiled once per process
and loss, ≈ 5 s, then ≈ 1.5x faster than the same step as eager batched products). Per epoch, every
model's minibatches, labels and per-example gradient factors (class weight x step size / batch
normalisation) are gathered once, and the loss is computed from the stored logits only at epochs that
record it.

It trains the same models as the generic loop in ``training._train_group``: same initialisation and
minibatch order, the same dropout masks (each model's, from its own stream, in the same order),
the same loss normalisation, L2 term and per-ratio learning rates; results differ from the generic
loop by float round-off only (tests/test_fused2d.py).

``fused_trainer`` returns None, and the generic loop runs, for anything else: a loss not in
``LOSSES`` (LDAM, logit adjustment, VS, a user's loss, or a loss of those names registered with another
function), an optimizer other than plain SGD (Adam, or any ``optimizer_options`` such as momentum),
bf16 precision, multiclass (several outputs), layers other than Flatten, Linear, ReLU, Dropout in the
order of ``iwcore.models.small``, models trained one at a time (``models_per_step=1``), and training
sets whose size is not a multiple of the batch size.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn

from iwcore.losses import POLY_LR_FACTOR, loss_entry, per_example_loss, poly_loss, resolved_options
from iwcore.stacking import StackedSequential, padded

# The layer sequences of iwcore.models.small, without the output squeeze.
LAYOUTS = ([nn.Flatten, nn.Linear], [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear],
           [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear])


def _ce_gradient(z, y):
    """d/dz of the logistic loss ``losses.per_example_loss`` of one-logit models: sigmoid(z) - y."""
    return torch.sigmoid(z).sub_(y)


def _poly_gradient(z, y, *, alpha):
    """d/dz of ``losses.poly_loss`` of one-logit models: with the margin v = (2y - 1) z, (2y - 1) times
    -sigmoid(-v) / log(1 + e^-1) (the derivative of softplus(-v) / log(1 + e^-1)) for v <= 1 and
    -alpha v^(-alpha - 1) for v > 1."""
    sign = 2 * y - 1
    v = sign * z
    return -sign * torch.where(v <= 1, torch.sigmoid(-v) / POLY_LR_FACTOR, alpha * v.clamp_min(1) ** (-alpha - 1))


# The losses the fused path trains: name -> (its gradient with respect to the logit, the registered loss function it
# is the gradient of). Both take the logits and float labels, then the loss's options as keywords.
LOSSES = {"ce": (_ce_gradient, per_example_loss), "poly": (_poly_gradient, poly_loss)}


def fused_trainer(sweep, stacked, data, sample_row: torch.Tensor, class_weights: torch.Tensor,
                  grad_scale: torch.Tensor | None, lr: float):
    """A ``FusedSGD`` for this group of models, or None where the generic path must run. ``data``:
    the training samples (``training._TrainingData``), ``sample_row[j, 0]``: model j's sample;
    ``class_weights``, ``grad_scale``: per model, as in the generic loop."""
    if (sweep.loss not in LOSSES or LOSSES[sweep.loss][1] is not loss_entry(sweep.loss).fn
            or sweep.optimizer != "sgd" or sweep.optimizer_options or sweep.precision != "fp32" or sweep.max_steps
            or not isinstance(stacked, StackedSequential) or data.x.shape[1] % sweep.batch_size):
        return None
    layers = [layer for layer in stacked.layers if type(layer).__name__ != "_Squeeze"]
    if [type(layer) for layer in layers] not in LAYOUTS or layers[-1].out_features != 1:
        return None
    return FusedSGD(sweep, stacked, data, sample_row, class_weights, grad_scale, lr)


class FusedSGD:
    """Trains a ``StackedSequential`` of single-logit models in place, one epoch per call.

    Within an epoch the first layer is held as one augmented matrix ``[W^T; b]`` (models, in + 1, out)
    and the inputs get a column of ones, so one batched product gives its output and one its gradient,
    bias included; the stack's own parameters are read before and written back after every epoch."""

    def __init__(self, sweep, stacked: StackedSequential, data, sample_row, class_weights, grad_scale, lr: float):
        samples, n = data.x.shape[:2]
        x = data.x.reshape(samples, n, -1)
        self.inputs = torch.cat([x, torch.ones_like(x[..., :1])], -1).view(samples * n, -1)  # each point, then a 1
        self.labels = data.y.reshape(samples * n)
        m = len(sample_row)
        # Every per-model tensor of the step is padded to a multiple of MODEL_LANES models (copies of the first),
        # as the generic loop's losses are, so that a model's result does not depend on its stack's size.
        self.offset = padded(sample_row * n)  # model j's sample starts at row sample_row[j] * n
        self.model = torch.arange(len(self.offset), device=x.device)[:, None]
        linears = [i for i, layer in enumerate(stacked.layers) if isinstance(layer, nn.Linear)]
        self.weights = [stacked.params[f"{i}.weight"] for i in linears]  # (models, out, in)
        self.biases = [stacked.params[f"{i}.bias"] for i in linears]  # (models, out)
        self.stacked = stacked
        dropout = [layer.p for layer in stacked.layers if isinstance(layer, nn.Dropout)]
        self.dropout = dropout[0] if dropout else 0.0
        self.batch = sweep.batch_size
        self.weight_sum = sweep.normalisation == "weight_sum"
        self.gradient, self.loss = LOSSES[sweep.loss]
        self.loss_options = resolved_options(sweep.loss, sweep.loss_options)
        self.class_weights = padded(class_weights)
        # each model's SGD step size: lr, times its lr_by_ratio factor
        self.step_size = padded((torch.full((m,), lr, device=x.device) if grad_scale is None
                                 else lr * grad_scale)[:, None])
        # L2: theta <- theta - (step size * grad(loss) + step size * l2 * theta), the SGD step on
        # loss + l2/2 ||theta||^2 (not theta * (1 - step size * l2): in float32 that factor would change l2 by ~0.1%)
        self.shrink = (self.step_size * sweep.l2)[..., None] if sweep.l2 else None

    @torch.no_grad()
    def epoch(self, order: torch.Tensor, epoch_loss: torch.Tensor, with_loss: bool = True):
        """One epoch over the minibatches ``order[:, b:b + batch]`` of each model's sample. Adds to
        ``epoch_loss`` each model's batch losses times the batch size, as the generic loop does; with
        ``with_loss=False`` (an epoch whose loss is not recorded) only 0, or NaN for a model with a
        non-finite logit, so that divergence is still dated to its epoch."""
        models, n = order.shape
        order = padded(order)
        m = len(order)
        steps, b = n // self.batch, self.batch
        rows = (order + self.offset).view(m, steps, b).transpose(0, 1)  # (steps, models, batch)
        flat = rows.reshape(-1)
        xs = self.inputs.index_select(0, flat).view(steps, m, b, -1)  # (steps, models, batch, in + 1)
        labels = self.labels.index_select(0, flat).view(steps, m, b).long()
        w = self.class_weights[self.model, labels]
        norm = w.sum(-1, keepdim=True) if self.weight_sum else b
        coef = (w * (self.step_size / norm)).unsqueeze(-1)  # d(step size * loss) / d(logit) = coef * gradient
        ys = labels.unsqueeze(-1).to(torch.float32)
        logits = torch.empty(steps, m, b, 1, device=xs.device)
        w1, c1 = self.weights[0], self.biases[0]
        first = padded(torch.cat([w1.transpose(1, 2), c1.unsqueeze(1)], 1))  # (models, in + 1, out)
        later = [padded(p) for p in (*self.weights[1:], *self.biases[1:])]  # the MLP's output layer
        step = self._mlp_step if later else self._linear_step
        for k in range(steps):
            step(first, *later, xs[k], ys[k], coef[k], logits[k])
        w1.copy_(first[:models, :-1].transpose(1, 2))
        c1.copy_(first[:models, -1])
        for param, trained in zip((*self.weights[1:], *self.biases[1:]), later):
            param.copy_(trained[:models])
        if not with_loss:
            epoch_loss += (logits[:, :models] * 0).sum((0, 2, 3))
            return
        losses = (w * self.loss(logits.squeeze(-1), ys.squeeze(-1), None, **self.loss_options)).sum(-1)
        epoch_loss += (losses / norm.squeeze(-1) if self.weight_sum else losses / b).sum(0)[:models] * b

    def _linear_step(self, first, x, y, coef, z):
        torch.bmm(x, first, out=z)
        g = self.gradient(z, y, **self.loss_options).mul_(coef)  # (models, batch, 1)
        _sgd(first, torch.bmm(x.transpose(1, 2), g), self.shrink)

    def _mlp_step(self, first, w2, c2, x, y, coef, z):
        b, hidden = x.shape[1], first.shape[2]
        keep = None
        if self.dropout:  # the generic path's mask: the same draws, from each model's own stream
            keep = padded((self.stacked._uniform((b, hidden)) >= self.dropout).float().div_(1 - self.dropout))
        z.copy_(_compiled_mlp_step()(first, w2, c2, x, y, coef, keep, self.shrink, self.gradient, self.loss_options))


def _mlp_step(first, w2, c2, x, y, coef, keep, shrink, gradient, loss_options):
    """One SGD step of every MLP in place; returns the logits (models, batch, 1). ``first``: the
    augmented first layer (models, in + 1, hidden), ``w2``, ``c2``: the output layer, ``keep``: the
    dropout mask scaled by 1 / (1 - p) or None, ``shrink``: step size x L2 per model or None,
    ``gradient``, ``loss_options``: the loss's gradient (``LOSSES``) and its options.
    Written as broadcast products and sums, not batched matrix products, so that ``torch.compile``
    fuses the step into a few loops (measured in isolation on 153 MLPs: 94 µs per step compiled with
    dynamic shapes, as here, 74 µs with static shapes, 166 µs as eager batched products)."""
    a = torch.relu((x.unsqueeze(-1) * first.unsqueeze(1)).sum(2))  # (models, batch, hidden)
    h = a if keep is None else a * keep
    z = (h * w2).sum(-1, keepdim=True) + c2.unsqueeze(1)
    g = gradient(z, y, **loss_options) * coef  # step size x d(loss) / d(logit)
    dh = g * w2 if keep is None else g * w2 * keep
    dz = torch.where(a > 0, dh, 0.0)
    _sgd(first, (x.unsqueeze(-1) * dz.unsqueeze(2)).sum(1), shrink)
    _sgd(w2, (g * h).sum(1, keepdim=True), shrink)
    _sgd(c2, g.sum(1), shrink)
    return z


def _sgd(param, step, shrink):
    """``param -= step``, plus the L2 term ``shrink * param`` where ``shrink`` (models, 1, 1) is given."""
    param.sub_(step if shrink is None else step + param * shrink.view(-1, *[1] * (param.ndim - 1)))


@functools.cache
def _compiled_mlp_step():
    """``_mlp_step`` compiled once per process and loss, for any number of models (dynamic shapes). A loss's
    options are compiled in as constants, guarded by value (``specialize_float``): left symbolic, as torch 2.14
    does by default, a float exponent such as the poly loss's -alpha - 1 keeps the value it was compiled with,
    unguarded, so a second alpha in the process would train with the first's exponent."""
    return torch._dynamo.config.patch(specialize_float=True)(torch.compile(_mlp_step, dynamic=True))
