"""The sweep trainer on the image models: all (weight ratio, seed) CNNs / ResNets of a sweep trained
together in one stack equal the same models trained one by one, on CPU at small width."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from iwcore.models import build_model
from iwcore.stacking import GroupedConvStack, VmapStack, stack
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

CPU = torch.device("cpu")
RATIOS, SEEDS = (0.25, 1.0, 4.0), (0, 1)


def digits(model: str, **changes) -> Sweep:
    base = dict(name="t", task="digits_pair", model=model, weight_ratios=RATIOS, seeds=SEEDS, epochs=2,
                batch_size=16, lr=0.1, checkpoints=(1, 2),
                task_options={"n_train_per_class": 24, "n_noise": 16, "n_val_per_class": 4},
                model_options={"width": 0.125, "init": "he"})
    return Sweep(**{**base, **changes})


def train(sweep):
    return train_sweep(sweep, CPU, show_progress=False)


@pytest.mark.parametrize("model,options", [("cnn", {}), ("resnet", {"batch_norm": True}),
                                           ("resnet", {"batch_norm": False})])
def test_stacked_image_models_equal_one_by_one_training(model, options):
    sweep = digits(model, model_options={"width": 0.125, "init": "he", **options})
    stacked = train(sweep)
    for i, r in enumerate(RATIOS):
        for j, s in enumerate(SEEDS):
            alone = train(digits(model, model_options=sweep.model_options, weight_ratios=(r,), seeds=(s,),
                                 models_per_step=1))
            np.testing.assert_allclose(stacked.train_loss[:, i, j], alone.train_loss[:, 0, 0], rtol=1e-3, atol=1e-5)
            for name in stacked.class_loss:
                np.testing.assert_allclose(stacked.class_loss[name][:, i, j], alone.class_loss[name][:, 0, 0],
                                           rtol=1e-3, atol=1e-4)
            for name in stacked.shares:
                np.testing.assert_allclose(stacked.shares[name][:, i, j], alone.shares[name][:, 0, 0], atol=0.02)


def test_stacked_dropout_cnn_is_deterministic_and_draws_masks_per_model():
    """Dropout masks come from a seeded generator per model and epoch: a rerun repeats them exactly,
    while two models differing only by seed see different masks (so they are not compared one by one)."""
    sweep = digits("cnn", model_options={"width": 0.125, "init": "he", "dropout": 0.5})
    a, b = train(sweep), train(sweep)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert np.isfinite(a.train_loss).all() and len(np.unique(a.train_loss[-1])) == a.train_loss[-1].size


def test_bf16_precision_is_a_cuda_option():
    with pytest.raises(ValueError, match="CUDA"):
        train(digits("cnn", precision="bf16"))
    with pytest.raises(ValueError, match="unknown precision"):
        digits("cnn", precision="fp16")


@pytest.mark.parametrize("model,options", [("cnn", {}), ("resnet", {"batch_norm": True}),
                                           ("resnet", {"batch_norm": False})])
def test_grouped_convolutions_agree_with_the_generic_vmap_path(model, options):
    """The fast path (chosen for these models) gives the generic path's logits, gradients and batch-norm running
    statistics up to round-off, in training (each model its own minibatch) and in evaluation (one shared input)."""
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(build_model(model, (1, 8, 8), 2, width=0.125, init="he", **options))
        for bn in (m for m in models[-1].modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_var.uniform_(0.5, 2.0)  # running statistics that differ from model to model
    fast, generic = stack(models), VmapStack(models)
    assert type(fast) is GroupedConvStack
    x, y = torch.rand(3, 16, 1, 8, 8), torch.randint(0, 2, (3, 16)).float()
    logits = {}
    for path in (fast, generic):
        logits[path] = path.forward(x)
        F.binary_cross_entropy_with_logits(logits[path], y, reduction="sum").backward()
    torch.testing.assert_close(logits[fast], logits[generic], rtol=1e-5, atol=1e-5)
    for key, p in generic.params.items():
        torch.testing.assert_close(fast.params[key].grad, p.grad, rtol=1e-4, atol=1e-5, msg=key)
    for key, b in generic.buffers.items():
        torch.testing.assert_close(fast.buffers[key], b, rtol=1e-5, atol=1e-6, msg=key)
    shared = torch.rand(20, 1, 8, 8)
    for path in (fast, generic):
        path.train(False)
    with torch.no_grad():
        torch.testing.assert_close(fast.forward(shared, shared_input=True), generic.forward(shared, shared_input=True),
                                   rtol=1e-5, atol=1e-5)


def test_models_outside_the_fast_path_stay_on_vmap():
    """Dropout (a stack's masks are vmap's), a dense layer on feature maps or before the first convolution, or
    batch norm without running statistics keep the generic path."""
    dropout = build_model("cnn", (1, 8, 8), 2, width=0.125, dropout=0.5)
    dense_on_maps = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Linear(8, 8), nn.Flatten(), nn.Linear(128, 1))
    dense_first = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3))
    batch_statistics = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False), nn.Flatten(),
                                     nn.Linear(72, 1))
    running_statistics = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(72, 1))
    assert type(stack([running_statistics] * 2)) is GroupedConvStack
    for model in (dropout, dense_on_maps, dense_first, batch_statistics):
        assert type(stack([model, model])) is VmapStack
