import numpy as np
import pytest
import torch

from iwcore.stacking import StackedSequential
from iwcore.sweep import Sweep
from iwcore.training import resolve_device, train_sweep

CPU = torch.device("cpu")
RATIOS, SEEDS = (0.25, 1.0, 4.0), (0, 1)


def small(**changes) -> Sweep:
    base = dict(name="t", task="separable_2d", task_options={"n_per_class": 20, "n_test_per_class": 8}, model="mlp",
                weight_ratios=RATIOS, seeds=SEEDS, epochs=5, batch_size=8, lr=0.2)
    return Sweep(**{**base, **changes})


def train(sweep):
    return train_sweep(sweep, CPU, show_progress=False)


@pytest.fixture(params=["native", "vmap"])
def stacking_path(request, monkeypatch):
    """Run a test on both stacked paths: batched products written out, and torch.func's vmap."""
    if request.param == "vmap":
        monkeypatch.setattr(StackedSequential, "supports", classmethod(lambda cls, model: False))
    return request.param


@pytest.mark.parametrize("model", ["logreg", "mlp"])
@pytest.mark.parametrize("per_step", [0, 4])
def test_stacked_training_equals_training_one_by_one(model, per_step, stacking_path):
    """Each seed trains on its own sample (separable_2d draws one per seed), alone or stacked."""
    stacked = train(small(model=model, models_per_step=per_step))
    assert stacked.meta["samples"][0]["svm_coef"] != stacked.meta["samples"][1]["svm_coef"]
    for i, r in enumerate(RATIOS):
        for j, s in enumerate(SEEDS):
            alone = train(small(model=model, weight_ratios=(r,), seeds=(s,), models_per_step=1))  # plain nn.Module
            assert alone.meta["samples"] == [stacked.meta["samples"][j]]
            np.testing.assert_allclose(stacked.param_trace[:, i, j], alone.param_trace[:, 0, 0], rtol=1e-4, atol=1e-5)
            for name in stacked.shares:
                np.testing.assert_allclose(stacked.shares[name][:, i, j], alone.shares[name][:, 0, 0], atol=0.02)


def test_weighting_moves_the_boundary_early():
    result = train(small(weight_ratios=(2.0 ** -6, 2.0 ** 6), epochs=1, task_options={"n_per_class": 64}))
    grid = result.ratio("grid")[0]
    assert (grid[1] > grid[0]).all()  # up-weighting the positive class gives it more of the plane


def test_training_is_deterministic_given_the_seeds():
    a, b = train(small(model_options={"dropout": 0.5})), train(small(model_options={"dropout": 0.5}))
    np.testing.assert_array_equal(a.param_trace, b.param_trace)
    c = train(small(model_options={"dropout": 0.5}).with_base_seed(7))
    assert not np.array_equal(a.param_trace, c.param_trace)


def test_a_diverged_model_is_recorded_and_left_out():
    result = train(small(lr_by_ratio={4.0: 1e30}))
    assert (result.diverged_epoch[2] > 0).all() and (result.diverged_epoch[:2] == 0).all()
    assert np.isnan(result.ratio("test")[-1, 2]).all() and np.isfinite(result.ratio("test")[-1, :2]).all()
    assert "ratio=4" in result.diverged_models()[0]


def test_per_ratio_learning_rate_matches_a_sweep_at_that_rate():
    mixed = train(small(lr_by_ratio={1.0: 0.05}))
    plain = train(small(lr=0.05, weight_ratios=(1.0,)))
    np.testing.assert_allclose(mixed.param_trace[:, 1], plain.param_trace[:, 0], rtol=1e-4, atol=1e-6)


def test_null_sweep_trains_every_model_unweighted():
    null = train(small(weight_ratios=(1.0, 2.0), seeds=(0,)).null())
    plain = train(small(weight_ratios=(1.0,), seeds=(0,)))
    np.testing.assert_allclose(null.param_trace[:, 0], plain.param_trace[:, 0], rtol=1e-5, atol=1e-7)


def test_adam_and_weight_sum_normalisation_run():
    result = train(small(optimizer="adam", lr=1e-2, normalisation="weight_sum"))
    assert np.isfinite(result.train_loss).all()


def test_unknown_device_and_missing_cuda_are_clear_errors():
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")


def test_explicit_class_weights_equal_the_ratio_they_encode():
    explicit = train(small(weight_ratios=(0.25, 4.0), class_weights=((1.0, 0.25), (0.25, 1.0))))
    from_ratio = train(small(weight_ratios=(0.25, 4.0)))
    np.testing.assert_array_equal(explicit.param_trace, from_ratio.param_trace)
    swapped = train(small(weight_ratios=(0.25, 4.0), class_weights=((0.25, 1.0), (1.0, 0.25))))
    assert not np.array_equal(swapped.param_trace, from_ratio.param_trace)
    with pytest.raises(ValueError, match="one row of positive weights"):
        small(class_weights=((1.0, 0.0),) * 3)
