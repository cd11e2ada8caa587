"""The sweep trainer on the image models: all (weight ratio, seed) CNNs / ResNets of a sweep trained
together in one stack equal the same models trained one by one, on CPU at small width."""

import numpy as np
import pytest
import torch

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
