"""The paper's CNN and ResNet: shapes, sizes, options, and equivalence under stacked (vmapped) training."""

import copy

import pytest
import torch
import torch.nn as nn
from torch.func import functional_call, grad, stack_module_state

from iwcore.models import build_model

SMALL_INPUT = (3, 16, 16)


@pytest.mark.parametrize("name,options", [("cnn", {}), ("cnn", {"dropout": 0.5}),
                                          ("resnet", {}), ("resnet", {"batch_norm": False})])
@pytest.mark.parametrize("input_shape", [(3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("num_classes,out_shape", [(2, (5,)), (10, (5, 10))])
def test_output_shapes(name, options, input_shape, num_classes, out_shape):
    model = build_model(name, input_shape, num_classes, width=0.25, **options)
    assert model(torch.rand(5, *input_shape)).shape == out_shape


def test_parameter_counts_at_width_one():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # CNN: convs 1,792 + 36,928 + 73,856 + 2 x 147,584; dense 8,192*512+512, 512*128+128, 128+1.
    assert count(build_model("cnn", (3, 32, 32), 2)) == 4_668_353
    # ResNet: 15 convs (stem, 12 in blocks, 2 projections), BN instead of conv bias; dense 256->512->1.
    assert count(build_model("resnet", (3, 32, 32), 2)) == 2_910_273
    # Without BN each of the 15 convs has a bias (c) instead of BN's scale and shift (2c): 2,240 fewer.
    assert count(build_model("resnet", (3, 32, 32), 2, batch_norm=False)) == 2_910_273 - 2_240


def test_width_scales_every_layer():
    model = build_model("cnn", (3, 32, 32), 2, width=0.5)
    assert [m.out_channels for m in model if isinstance(m, nn.Conv2d)] == [32, 32, 64, 64, 64]
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [256, 64, 1]


def test_cnn_dropout_follows_each_hidden_dense_relu():
    layers = list(build_model("cnn", (3, 32, 32), 2, dropout=0.5))
    dropouts = [i for i, m in enumerate(layers) if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 2
    assert all(isinstance(layers[i - 1], nn.ReLU) and isinstance(layers[i - 2], nn.Linear) for i in dropouts)
    assert not any(isinstance(m, nn.Dropout) for m in build_model("cnn", (3, 32, 32), 2))
    with pytest.raises(ValueError):
        build_model("cnn", (3, 32, 32), 2, dropout=1.0)


def test_resnet_batch_norm_after_every_conv():
    with_bn = build_model("resnet", (3, 32, 32), 2)
    convs = [m for m in with_bn.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 15 and all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules()) == 15
    without_bn = build_model("resnet", (3, 32, 32), 2, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without_bn.modules())
    strides = [c.stride[0] for c in without_bn.modules() if isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3)]
    assert strides == [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1]


def _models(name, n_models=3, **options):
    """Differently initialised models whose BN running statistics also differ from model to model."""
    models = []
    for seed in range(n_models):
        torch.manual_seed(seed)
        model = build_model(name, SMALL_INPUT, 2, width=0.125, **options)
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
        models.append(model)
    return models


def _vmapped(models, train: bool):
    """The trainer's recipe: stacked params and buffers (in_dims=0) through functional_call."""
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta").train(train)

    def forward(p, b, x):
        return functional_call(base, (p, b), (x,))

    return params, buffers, base, torch.vmap(forward, in_dims=(0, 0, 0), randomness="different")


@pytest.mark.parametrize("name,options", [("cnn", {}), ("resnet", {"batch_norm": True}),
                                          ("resnet", {"batch_norm": False})])
@pytest.mark.parametrize("train", [True, False])
def test_vmapped_forward_matches_each_model_and_keeps_per_model_bn_statistics(name, options, train):
    models = _models(name, **options)
    references = [copy.deepcopy(m).train(train) for m in models]
    x = torch.randn(len(models), 4, *SMALL_INPUT)
    params, buffers, _, forward = _vmapped(models, train)

    out = forward(params, buffers, x)

    for i, reference in enumerate(references):
        torch.testing.assert_close(out[i], reference(x[i]), rtol=1e-5, atol=1e-5)
        for key, value in reference.named_buffers():
            torch.testing.assert_close(buffers[key][i], value, rtol=1e-5, atol=1e-6, msg=f"model {i} {key}")
    if train and options.get("batch_norm"):
        key = next(k for k in buffers if k.endswith("running_mean"))
        assert not torch.equal(buffers[key][0], buffers[key][1])
        assert buffers[key.replace("running_mean", "num_batches_tracked")].tolist() == [1, 1, 1]


def test_vmapped_gradients_match_each_model_with_batch_norm():
    models = _models("resnet", batch_norm=True)
    references = copy.deepcopy(models)
    x, y = torch.randn(len(models), 4, *SMALL_INPUT), torch.rand(len(models), 4)
    params, buffers, base, _ = _vmapped(models, train=True)

    def loss(p, b, xi, yi):
        return nn.functional.binary_cross_entropy_with_logits(functional_call(base, (p, b), (xi,)), yi)

    grads = torch.vmap(grad(loss), in_dims=(0, 0, 0, 0), randomness="different")(params, buffers, x, y)

    for i, reference in enumerate(references):
        nn.functional.binary_cross_entropy_with_logits(reference(x[i]), y[i]).backward()
        for key, p in reference.named_parameters():
            torch.testing.assert_close(grads[key][i], p.grad, rtol=1e-4, atol=1e-6, msg=f"model {i} {key}")


def test_vmapped_dropout_draws_different_masks_per_model():
    model = build_model("cnn", SMALL_INPUT, 2, width=0.125, dropout=0.5)
    params, buffers, _, forward = _vmapped([model] * 3, train=True)
    out = forward(params, buffers, torch.randn(1, 8, *SMALL_INPUT).expand(3, -1, -1, -1, -1))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("name", ["cnn", "resnet"])
def test_he_init_zeroes_biases_and_scales_weights_by_fan_in(name):
    torch.manual_seed(0)
    model = build_model(name, (3, 32, 32), 2, init="he", batch_norm=False) if name == "resnet" else \
        build_model(name, (3, 32, 32), 2, init="he")
    for layer in (m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))):
        assert not layer.bias.any()
        fan_in = layer.weight[0].numel()
        if layer.weight.numel() > 1000:
            assert abs(layer.weight.std().item() - (2 / fan_in) ** 0.5) < 0.15 * (2 / fan_in) ** 0.5
    with pytest.raises(ValueError, match="unknown init"):
        build_model(name, (3, 32, 32), 2, init="xavier")
