"""Many independent models evaluated as one: parameters stacked along a leading model axis.

``VmapStack`` runs any ``nn.Module`` architecture with ``torch.func`` (``stack_module_state``,
``functional_call``, ``vmap``): each model keeps its own parameters, buffers (batch-norm running
statistics are updated per model) and dropout masks. ``SingleModel`` is the same interface for one
model run directly, for architectures that ``vmap`` cannot trace (Hugging Face transformers).
``StackedSequential`` is a faster path for plain stacks of linear layers (the 2D models): on a
CPU, ``vmap``'s batching of tiny matrix products costs several times the arithmetic, so these
models are run with batched products written out directly; it gives the same numbers.
``GroupedConvStack`` is the same for the paper's image models without dropout (the CNN, the ResNet with
or without batch norm): the models' channels side by side, each convolution one grouped ``conv2d`` in
channels-last layout; it gives the same numbers up to round-off.
Dropout: ``seed_dropout(seeds)`` (one seed per model) fixes the masks of what follows.
``StackedSequential`` draws each model's masks from that model's own generator, so they do not
depend on the stack; ``VmapStack`` draws the whole stack's masks from one generator (vmap's
``randomness="different"``) seeded with the first model's seed, so there they depend on the stack.
Since the models share no parameters, the gradient of the sum of their losses is each model's own
gradient, so one backward pass and one optimizer step over the stacked tensors train them all.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from iwcore.models.convnets import _BasicBlock
from iwcore.models.small import _Squeeze

DROPOUT_CHUNK = 1 << 14  # uniform numbers drawn per model at once for dropout masks


def _seed_global(seeds: list[int]):
    """Dropout from the global generator, seeded with the first model's seed."""
    torch.manual_seed(seeds[0])


MODEL_LANES = 32  # stacks are padded to a multiple of this many models where a model's result must not depend on it


def padded(t: torch.Tensor) -> torch.Tensor:
    """``t`` (models first) padded to a multiple of ``MODEL_LANES`` models by copies of its first model, detached
    from the graph. CPU kernels compute the vectorised body and the scalar tail of an elementwise exp or log
    differently, so on the unpadded stack a model's result would depend on where the stack's size puts it."""
    extra = -t.shape[0] % MODEL_LANES
    return torch.cat([t, t[:1].detach().expand(extra, *t.shape[1:])]) if extra else t


class VmapStack:
    def __init__(self, models: list[nn.Module]):
        params, buffers = stack_module_state(models)
        self.params = params
        self.buffers = buffers
        self.n_models = len(models)
        self._template = copy.deepcopy(models[0]).to("meta")

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True):
        self._template.train(mode)

    seed_dropout = staticmethod(_seed_global)

    def _call(self, params, buffers, x):
        return functional_call(self._template, (params, buffers), (x,))

    def forward(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """Logits of every model: ``x`` is (models, batch, ...) or, if ``shared_input``, one
        (batch, ...) seen by all models."""
        in_dims = (0, 0, None if shared_input else 0)
        return torch.vmap(self._call, in_dims=in_dims, randomness="different")(self.params, self.buffers, x)

    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.params.items()}, "buffers": dict(self.buffers)}

    def load_state(self, state: dict):
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
            for k, v in state["buffers"].items():
                self.buffers[k].copy_(v)

    def flat_parameters(self) -> torch.Tensor:
        """(models, n_params) view of every model's parameters, in registration order."""
        return torch.cat([p.detach().reshape(self.n_models, -1) for p in self.params.values()], 1)


class SingleModel:
    """One model behind the stacked interface (a model axis of length 1)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.n_models = 1

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def train(self, mode: bool = True):
        self.model.train(mode)

    seed_dropout = staticmethod(_seed_global)

    def forward(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        return self.model(x if shared_input else x[0]).unsqueeze(0)

    def state(self) -> dict:
        return {"model": self.model.state_dict()}

    def load_state(self, state: dict):
        self.model.load_state_dict(state["model"])

    def flat_parameters(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(1, -1) for p in self.model.parameters()], 1)


class StackedSequential:
    """Stacked ``nn.Sequential`` models made of Flatten, Linear, ReLU, Dropout and output squeeze."""

    SUPPORTED = (nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout)

    def __init__(self, models: list[nn.Module]):
        self.layers = list(models[0])
        self.n_models = len(models)
        self.params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_()
                       for name, _ in models[0].named_parameters()}
        self.buffers = {}
        self.training = True
        self._generators, self._uniforms, self._used = [], None, 0

    @classmethod
    def supports(cls, model: nn.Module) -> bool:
        return isinstance(model, nn.Sequential) and all(
            isinstance(layer, cls.SUPPORTED) or type(layer).__name__ == "_Squeeze" for layer in model)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True):
        self.training = mode

    def seed_dropout(self, seeds: list[int]):
        device = next(iter(self.params.values())).device
        self._generators = [torch.Generator(device).manual_seed(s) for s in seeds]
        self._uniforms, self._used = torch.empty(len(seeds), 0, device=device), 0

    def _uniform(self, shape: torch.Size) -> torch.Tensor:
        """(models, *shape) uniform numbers, each model's taken in order from its own stream: the streams
        are refilled in chunks whose sizes depend only on what was taken, never on the stack."""
        need = math.prod(shape)
        if self._used + need > self._uniforms.shape[1]:
            fresh = torch.stack([torch.rand(max(need, DROPOUT_CHUNK), generator=g, device=g.device)
                                 for g in self._generators])
            self._uniforms, self._used = torch.cat([self._uniforms[:, self._used:], fresh], 1), 0
        taken = self._uniforms[:, self._used:self._used + need]
        self._used += need
        return taken.reshape(self.n_models, *shape)

    def forward(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        h = x.expand(self.n_models, *x.shape) if shared_input else x
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Flatten):
                h = h.reshape(*h.shape[:2], -1)
            elif isinstance(layer, nn.Linear):
                h = _stacked_linear(h, self.params[f"{i}.weight"], self.params[f"{i}.bias"])
            elif isinstance(layer, nn.ReLU):
                h = torch.relu(h)
            elif isinstance(layer, nn.Dropout):
                if self.training and layer.p > 0:
                    h = h * (self._uniform(h.shape[1:]) >= layer.p) / (1 - layer.p)
            else:
                h = layer(h)
        return h

    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.params.items()}, "buffers": {}}

    load_state = VmapStack.load_state
    flat_parameters = VmapStack.flat_parameters


class GroupedConvStack(VmapStack):
    """Stacked image models run as one network whose channels are every model's channels side by side.

    Feature maps are (batch, models x channels, H, W) in channels-last layout, so a convolution of every model is
    one ``conv2d`` with ``groups = models`` (vmap makes the same grouped call, but in NCHW layout, where the
    tiny per-model convolutions, pools and ReLUs of the digits models run 1.2-3x slower on a CPU; see
    bench/bench_images.py), and batch norm is one ``batch_norm`` over those channels: each model's statistics are
    its own, and its running statistics are updated in place in the stacked buffers, as under vmap. Dense
    layers are batched products (models, batch, features). A shared input (evaluation) meets the first
    convolution as one ordinary convolution with every model's filters. Parameters, buffers, state and the
    optimizer are ``VmapStack``'s; dropout is not supported (such models stay on ``VmapStack``)."""

    LAYERS = (nn.Sequential, _BasicBlock, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d,
              nn.Flatten, nn.Linear, nn.Identity, _Squeeze)

    @classmethod
    def supports(cls, model: nn.Module) -> bool:
        """A sequence of these layers (batch norm affine, with running statistics): convolutional ones from a first
        convolution to one Flatten, then only Linear and ReLU (and the output squeeze)."""
        if not isinstance(model, nn.Sequential):
            return False
        leaves = [m for m in model.modules() if not isinstance(m, (nn.Sequential, _BasicBlock))]
        flat = [i for i, m in enumerate(leaves) if isinstance(m, nn.Flatten)]
        return (all(isinstance(m, cls.LAYERS) for m in leaves) and len(flat) == 1 and isinstance(leaves[0], nn.Conv2d)
                and not any(isinstance(m, nn.Linear) for m in leaves[:flat[0]])
                and all(isinstance(m, (nn.Linear, nn.ReLU, _Squeeze)) for m in leaves[flat[0] + 1:])
                and all(m.affine and m.track_running_stats and m.momentum is not None
                        for m in leaves if isinstance(m, nn.BatchNorm2d)))

    def forward(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        if shared_input:  # (batch, C, H, W), the same for every model until the first convolution
            h = x
        else:  # (models, batch, C, H, W) -> (batch, models x C, H, W)
            h = x.transpose(0, 1).reshape(x.shape[1], -1, *x.shape[3:])
        return self._run(self._template, "", h.contiguous(memory_format=torch.channels_last), shared_input)[0]

    def _run(self, module: nn.Module, name: str, h: torch.Tensor, shared: bool) -> tuple[torch.Tensor, bool]:
        """``module`` (at parameter prefix ``name``) applied to ``h``; ``shared`` while ``h`` is one input for
        all models (only before the first convolution). Returns the output and whether it is still shared."""
        if isinstance(module, nn.Sequential):
            for i, layer in enumerate(module):
                h, shared = self._run(layer, f"{name}{i}.", h, shared)
            return h, shared
        if isinstance(module, _BasicBlock):
            residual, _ = self._run(module.residual, f"{name}residual.", h, shared)
            shortcut, _ = self._run(module.shortcut, f"{name}shortcut.", h, shared)
            return torch.relu(residual + shortcut), False
        if isinstance(module, nn.Conv2d):
            w, bias = self.params[f"{name}weight"], self.params.get(f"{name}bias")
            return F.conv2d(h, w.reshape(-1, *w.shape[2:]), None if bias is None else bias.reshape(-1), module.stride,
                            module.padding, module.dilation, module.groups * (1 if shared else self.n_models)), False
        if isinstance(module, (nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity)):
            return module(h), False
        if isinstance(module, nn.BatchNorm2d):
            return self._batch_norm(module, name, h), False
        if isinstance(module, nn.Flatten):  # -> (models, batch, features), each model's features in NCHW order
            return h.reshape(h.shape[0], self.n_models, -1).transpose(0, 1), False
        if isinstance(module, nn.Linear):
            return _stacked_linear(h, self.params[f"{name}weight"], self.params[f"{name}bias"]), False
        return module(h), False  # _Squeeze

    def _batch_norm(self, module: nn.BatchNorm2d, name: str, h: torch.Tensor) -> torch.Tensor:
        """Batch norm over the stacked channels: each model's own statistics and running statistics."""
        mean, var = self.buffers[f"{name}running_mean"], self.buffers[f"{name}running_var"]
        if module.training:
            self.buffers[f"{name}num_batches_tracked"].add_(1)
        return F.batch_norm(h, mean.view(-1), var.view(-1), self.params[f"{name}weight"].reshape(-1),
                            self.params[f"{name}bias"].reshape(-1), module.training, module.momentum, module.eps)


def _stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(models, batch, in) x (models, out, in) -> (models, batch, out)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def stack(models: list[nn.Module], vmap: bool = True):
    """The stacked form of ``models``; ``vmap=False`` requires a single model."""
    if vmap:
        for fast in (StackedSequential, GroupedConvStack):
            if fast.supports(models[0]):
                return fast(models)
        return VmapStack(models)
    if len(models) != 1:
        raise ValueError("without vmap, models are trained one at a time (models_per_step=1)")
    return SingleModel(models[0])
