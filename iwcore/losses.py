"""Importance-weighted losses (IW-ERM with class-conditioned weights), the registry of per-example
training losses they weigh, and the explicit L2 term.

Two batch normalisations are offered, by name, because they are not the same estimator:
``"mean"`` averages ``w_i * l_i`` over the batch (an unbiased estimate of the weighted risk; the
default), ``"weight_sum"`` divides ``sum(w_i * l_i)`` by ``sum(w_i)`` (what PyTorch's
``weight=`` argument of ``cross_entropy`` does). Under ``"weight_sum"`` a batch of one class is
unaffected by its weight, so the two give different training dynamics.

Losses. Each registered loss is ``fn(logits, y, class_counts, **options) -> per-example loss``:
``logits`` are (..., batch) for one-logit binary models (labels shaped alike) or (..., batch,
classes) for softmax models, ``y`` is (..., batch), and ``class_counts`` (..., classes) counts each
class in the training sample of the model the logits belong to, so that every model of a stack gets
its own per-class parameters (LDAM, logit adjustment, VS). Options are the function's keyword
parameters after the first three, their defaults the registered defaults. The softmax-based losses
read a one-logit model's logit ``f`` as the two logits ``(0, f)``, for which softmax cross-entropy is
exactly the logistic loss. The cache key hashes the source of the loss function a sweep uses, so each
loss keeps its formula inside its own function.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

NORMALISATIONS = ("mean", "weight_sum")
DEFAULT_LOSS = "ce"


def class_weights_for_ratio(ratio: float) -> tuple[float, float]:
    """(negative, positive) class weights whose ratio positive/negative is ``ratio``.

    The class being down-weighted gets ``min(ratio, 1/ratio)`` and the other 1, as the paper
    down-weights one class by ``2^-k``; no weight exceeds 1, so step sizes stay bounded.
    """
    if not ratio > 0 or ratio != ratio or ratio == float("inf"):
        raise ValueError(f"weight ratios must be positive and finite, got {ratio}")
    return (1.0, ratio) if ratio <= 1 else (1.0 / ratio, 1.0)


def per_example_loss(logits: torch.Tensor, y: torch.Tensor, class_counts: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy per example: binary logistic where there is one logit per example (logits
    shaped like the labels), softmax cross-entropy over the last axis otherwise. ``class_counts`` is
    unused (the registry's common signature)."""
    if logits.shape == y.shape:
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), reduction="none").view(y.shape)


def _class_logits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logits with a class axis: a one-logit model's ``f`` becomes the two logits ``(0, f)``."""
    if logits.shape == y.shape:
        return torch.stack([torch.zeros_like(logits), logits], -1)
    return logits


def _counts(class_counts: torch.Tensor | None, loss: str) -> torch.Tensor:
    """Per-class counts broadcastable against (..., batch, classes) logits. A class absent from a
    model's training sample counts as one example, so its margin and prior stay finite."""
    if class_counts is None:
        raise ValueError(f"loss {loss!r} needs the class counts of each model's training sample")
    return class_counts.clamp_min(1).unsqueeze(-2)


# The poly loss divides softplus by log(1 + e^-1) ~ 0.313, so at margins <= 1 its gradient is 3.2x cross-entropy's;
# CLAIMS.md revision 3 trains it at the subject's learning rate times this factor, which makes the two equal there.
POLY_LR_FACTOR = math.log1p(math.exp(-1))


def poly_loss(logits: torch.Tensor, y: torch.Tensor, class_counts: torch.Tensor | None = None, *,
              alpha: float = 1.0) -> torch.Tensor:
    """Polynomially-tailed loss of Wang, Chatterji, Haque & Hashimoto (ICLR 2022) on the margin ``v``:
    ``log(1 + e^-v) / log(1 + e^-1)`` for ``v <= 1`` and ``v^-alpha`` for ``v > 1`` (both 1 at
    ``v = 1``). Its tail decays polynomially, not exponentially, which is what keeps importance
    weights effective on separable data. One-logit models: ``v = (2y - 1) f``, as in the paper.
    Softmax models (the paper defines the loss for binary classification only): the multiclass margin
    ``v = f_y - max_{c != y} f_c``, which is the same ``v`` for the logits ``(0, f)``."""
    if not alpha > 0:
        raise ValueError(f"poly loss: alpha must be > 0, got {alpha}")
    if logits.shape == y.shape:
        v = (2 * y.to(logits.dtype) - 1) * logits
    else:
        label = y.long().unsqueeze(-1)
        v = logits.gather(-1, label).squeeze(-1) - logits.scatter(-1, label, -math.inf).amax(-1)
    return torch.where(v <= 1, F.softplus(-v) / POLY_LR_FACTOR, v.clamp_min(1) ** -alpha)


def ldam_loss(logits: torch.Tensor, y: torch.Tensor, class_counts: torch.Tensor | None, *,
              max_margin: float = 0.5, s: float = 30.0) -> torch.Tensor:
    """LDAM loss of Cao, Wei, Gaidon, Arechiga & Ma (NeurIPS 2019): cross-entropy of ``s * logits``
    after subtracting from the true class's logit the margin ``Delta_c ∝ n_c^-1/4``, scaled so the
    largest margin (the rarest class's) is ``max_margin``. The defaults ``s = 30`` and
    ``max_margin = 0.5`` are those of the authors' released code; ``max_margin = 0`` with ``s = 1`` is
    cross-entropy."""
    if not s > 0 or not max_margin >= 0:
        raise ValueError(f"LDAM loss needs s > 0 and max_margin >= 0, got s={s}, max_margin={max_margin}")
    quarter_root = _counts(class_counts, "ldam") ** -0.25
    margins = max_margin * quarter_root / quarter_root.amax(-1, keepdim=True)
    class_logits = _class_logits(logits, y)
    is_true_class = F.one_hot(y.long(), class_logits.shape[-1]).to(class_logits.dtype)
    return per_example_loss(s * (class_logits - is_true_class * margins), y)


def logit_adjusted_loss(logits: torch.Tensor, y: torch.Tensor, class_counts: torch.Tensor | None, *,
                        tau: float = 1.0) -> torch.Tensor:
    """Logit-adjusted loss of Menon, Jayasumana, Rawat, Jain, Veit & Kumar (ICLR 2021): cross-entropy of
    ``f_c + tau * log(pi_c)``, ``pi_c`` the class's share of the training sample; ``tau = 0`` is
    cross-entropy."""
    counts = _counts(class_counts, "logit_adjust")
    log_priors = torch.log(counts / counts.sum(-1, keepdim=True))
    return per_example_loss(_class_logits(logits, y) + tau * log_priors, y)


def vs_loss(logits: torch.Tensor, y: torch.Tensor, class_counts: torch.Tensor | None, *,
            gamma: float = 0.3, tau: float = 1.0) -> torch.Tensor:
    """Vector-scaling loss of Kini, Paraskevas, Oymak & Thrampoulidis (NeurIPS 2021): cross-entropy of
    ``Delta_c * f_c + iota_c`` with the multiplicative adjustment ``Delta_c = (n_c / n_max)^gamma``
    and the additive one ``iota_c = tau * log(pi_c)``; ``gamma = tau = 0`` is cross-entropy. The defaults
    ``gamma = 0.3``, ``tau = 1`` are those of the authors' released code."""
    counts = _counts(class_counts, "vs")
    scale = (counts / counts.amax(-1, keepdim=True)) ** gamma
    log_priors = torch.log(counts / counts.sum(-1, keepdim=True))
    return per_example_loss(scale * _class_logits(logits, y) + tau * log_priors, y)


@dataclass(frozen=True)
class LossEntry:
    """A registered loss: its function, its options' defaults (from the function's signature) and the
    options at which it is cross-entropy (``None``: no options make it cross-entropy)."""

    name: str
    fn: Callable[..., torch.Tensor]
    defaults: dict
    neutral: dict | None


_REGISTRY: dict[str, LossEntry] = {}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_loss(name: str, fn: Callable[..., torch.Tensor], neutral: dict | None,
                  replace: bool = False) -> LossEntry:
    """Add a loss to the registry so that sweeps can name it. ``fn(logits, y, class_counts, **options)``
    returns the per-example loss (see the module docstring); every option must have a default. Define
    ``fn`` in a source file: the cache key hashes its source. ``replace``: a newer definition of a registered
    loss (a reloaded module, or a user's loss sent to a Ray worker again) takes the name over."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a loss name is lower-case letters, digits and underscores, starting with a letter; "
                         f"got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a loss named {name!r} is already registered")
    if not callable(fn):
        raise ValueError(f"loss {name!r}: {fn!r} is not callable")
    params = list(inspect.signature(fn).parameters.values())
    inputs, options = params[:3], params[3:]
    if len(inputs) < 3 or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in inputs) \
            or any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.default is p.empty for p in options):
        raise ValueError(f"loss {name!r}: the function must take (logits, y, class_counts, <options with defaults>)")
    defaults = {p.name: p.default for p in options}
    if neutral is not None and set(neutral) - set(defaults):
        raise ValueError(f"loss {name!r}: neutral options {sorted(set(neutral) - set(defaults))} are not options "
                         f"of the function; its options are {sorted(defaults)}")
    entry = LossEntry(name, fn, defaults, None if neutral is None else dict(neutral))
    _REGISTRY[name] = entry
    return entry


def registered_losses() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def loss_entry(name: str) -> LossEntry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; expected one of {registered_losses()}")
    return _REGISTRY[name]


def resolved_options(name: str, options: dict | None) -> dict:
    """The loss's defaults updated with ``options``; an unknown loss or option is a ValueError."""
    entry = loss_entry(name)
    unknown = sorted(set(options or {}) - set(entry.defaults))
    if unknown:
        raise ValueError(f"unknown options {unknown} for loss {name!r}; its options are {sorted(entry.defaults)}")
    return {**entry.defaults, **(options or {})}


register_loss(DEFAULT_LOSS, per_example_loss, neutral={})
register_loss("poly", poly_loss, neutral=None)
register_loss("ldam", ldam_loss, neutral={"max_margin": 0.0, "s": 1.0})
register_loss("logit_adjust", logit_adjusted_loss, neutral={"tau": 0.0})
register_loss("vs", vs_loss, neutral={"gamma": 0.0, "tau": 0.0})


def weighted_loss(logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor,
                  normalisation: str = "mean", loss: str = DEFAULT_LOSS, loss_options: dict | None = None,
                  class_counts: torch.Tensor | None = None) -> torch.Tensor:
    """Class-weighted ``loss`` (a registered name, default cross-entropy) of a batch;
    ``class_weights[..., c]`` weighs examples of class c.

    Leading axes are kept: stacked logits (models, batch[, classes]) with labels (models, batch),
    weights (models, classes) and class counts (models, classes) give one loss per model.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; expected one of {NORMALISATIONS}")
    options = resolved_options(loss, loss_options)
    w = torch.gather(class_weights, -1, y.long())
    weighted = w * loss_entry(loss).fn(logits, y, class_counts, **options)
    if normalisation == "mean":
        return weighted.mean(-1)
    return weighted.sum(-1) / w.sum(-1)


def l2_penalty(params, coefficient: float) -> torch.Tensor | float:
    """``coefficient / 2 * ||theta||^2`` over all parameters: the same gradient as SGD's
    ``weight_decay=coefficient``, written out so it is part of the objective, not an optimizer default."""
    if coefficient == 0:
        return 0.0
    return 0.5 * coefficient * sum((p * p).sum() for p in params)
