"""The paper's image models: the plain CNN (Fig 4) and the ResNet with or without batch norm (Fig A.5).

Choices the paper leaves open, made here once:

- Padding: every 3x3 (and the ResNet's 5x5) convolution uses "same" padding with stride 1, so only
  the max-pools (CNN) and the stride-2 convolutions (ResNet) shrink the image; any input size works
  (32x32 CIFAR becomes 8x8 before the CNN's dense layers, 8x8 digits become 2x2).
- Dropout (CNN ``dropout=p``): applied after the ReLU of each hidden dense layer (512 and 128
  units), the paper's "hidden units"; not on convolutional feature maps nor on the output.
- ResNet: the paper's "first layer with 512 filters" is read as the first of the 256 stage (there
  is no 512-filter convolution). Blocks are He et al.'s basic blocks (conv-BN-ReLU-conv-BN, add the
  shortcut, ReLU) with a 1x1 projection (plus BN when ``batch_norm``) where shape changes.
  ``batch_norm=True`` puts BN after every convolution, before its ReLU, and those convolutions
  drop their then-redundant bias.
- ``width`` multiplies every channel and hidden-unit count (rounded, at least 1), for cheap tiers.
- Initialisation (``init``): ``"default"`` keeps PyTorch's; ``"he"`` draws every conv and dense weight
  from He et al.'s normal (fan-in, ReLU gain) with zero biases. PyTorch's default shrinks the signal's
  variance about 6x per ReLU layer, so the plain CNN starts with near-constant outputs and can sit
  on a loss plateau for a long time (on 8x8 digits at width 1/8: 100+ epochs at lr 0.1; "he": ~5).

Stacked training: both models work under ``torch.func.stack_module_state`` +
``functional_call`` + ``torch.vmap`` with parameters and buffers stacked on dim 0 (``in_dims=0``).
PyTorch's batch-norm batching rule handles a batched ``running_mean``/``running_var``: in train
mode each model's slice of the stacked buffers is updated in place with that model's own batch
statistics, exactly as the model alone would update them (tests/test_convnets.py proves it), so
no custom BN module is needed. The stacked buffer tensors passed in are the ones mutated.
"""

from __future__ import annotations

import torch.nn as nn

INITS = ("default", "he")

from iwcore.models import register
from iwcore.models.small import _Squeeze


@register("cnn")
def cnn(input_shape, n_outputs, width: float = 1.0, dropout: float = 0.0, init: str = "default"):
    """conv 64, conv 64, maxpool 2, conv 128 x3, maxpool 2, dense 512, dense 128, output; ReLU."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    channels, height, width_px = input_shape
    c64, c128, d512, d128 = (_scaled(n, width) for n in (64, 128, 512, 128))
    layers = [*_conv_relu(channels, c64), *_conv_relu(c64, c64), nn.MaxPool2d(2),
              *_conv_relu(c64, c128), *_conv_relu(c128, c128), *_conv_relu(c128, c128), nn.MaxPool2d(2),
              nn.Flatten()]
    flat = c128 * (height // 4) * (width_px // 4)
    for n_in, n_out in ((flat, d512), (d512, d128)):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(d128, n_outputs), _Squeeze(n_outputs)]
    return _initialised(nn.Sequential(*layers), init)


@register("resnet")
def resnet(input_shape, n_outputs, batch_norm: bool = True, width: float = 1.0, init: str = "default"):
    """conv 5x5 64; 2 blocks of 64, 2 of 128 (stride 2), 2 of 256 (stride 2); global avg pool; dense 512; output."""
    c64, c128, c256, d512 = (_scaled(n, width) for n in (64, 128, 256, 512))
    layers = [_conv(input_shape[0], c64, 5, 1, batch_norm), nn.ReLU()]
    n_in = c64
    for n_out, stride in ((c64, 1), (c64, 1), (c128, 2), (c128, 1), (c256, 2), (c256, 1)):
        layers.append(_BasicBlock(n_in, n_out, stride, batch_norm))
        n_in = n_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c256, d512), nn.ReLU(),
               nn.Linear(d512, n_outputs), _Squeeze(n_outputs)]
    return _initialised(nn.Sequential(*layers), init)


def _initialised(model: nn.Module, init: str) -> nn.Module:
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {INITS}")
    if init == "he":
        for layer in model.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return model


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (identity, or a 1x1 projection when the shape changes)."""

    def __init__(self, n_in: int, n_out: int, stride: int, batch_norm: bool):
        super().__init__()
        self.residual = nn.Sequential(_conv(n_in, n_out, 3, stride, batch_norm), nn.ReLU(),
                                      _conv(n_out, n_out, 3, 1, batch_norm))
        self.shortcut = (nn.Identity() if stride == 1 and n_in == n_out
                         else _conv(n_in, n_out, 1, stride, batch_norm))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.residual(x) + self.shortcut(x))


def _conv(n_in: int, n_out: int, kernel: int, stride: int, batch_norm: bool) -> nn.Module:
    """A "same"-padded convolution, followed by batch norm when asked."""
    conv = nn.Conv2d(n_in, n_out, kernel, stride, padding=kernel // 2, bias=not batch_norm)
    return nn.Sequential(conv, nn.BatchNorm2d(n_out)) if batch_norm else conv


def _conv_relu(n_in: int, n_out: int) -> list[nn.Module]:
    return [_conv(n_in, n_out, 3, 1, batch_norm=False), nn.ReLU()]


def _scaled(n: int, width: float) -> int:
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, round(n * width))
