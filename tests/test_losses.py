import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from iwcore.losses import class_weights_for_ratio, l2_penalty, per_example_loss, weighted_loss

floats = st.floats(min_value=-5, max_value=5, allow_nan=False)


def batch(n, seed, multiclass=False):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 3, generator=g) if multiclass else torch.randn(n, generator=g)
    y = torch.randint(0, 3 if multiclass else 2, (n,), generator=g)
    return logits.requires_grad_(), y


@given(n=st.integers(1, 40), seed=st.integers(0, 10_000), c=st.floats(0.01, 100), multiclass=st.booleans())
def test_uniform_weights_give_the_unweighted_loss(n, seed, c, multiclass):
    logits, y = batch(n, seed, multiclass)
    plain = per_example_loss(logits, y).mean()
    k = 3 if multiclass else 2
    assert torch.allclose(weighted_loss(logits, y, torch.ones(k)), plain, atol=1e-6)
    # sum(w l)/sum(w) ignores a common scale entirely
    assert torch.allclose(weighted_loss(logits, y, torch.full((k,), c), "weight_sum"), plain, rtol=1e-5, atol=1e-6)


@given(n=st.integers(1, 40), seed=st.integers(0, 10_000), c=st.floats(0.01, 100))
def test_scaling_all_weights_scales_the_gradient(n, seed, c):
    logits, y = batch(n, seed)
    w = torch.tensor([0.3, 0.9])
    (g1,) = torch.autograd.grad(weighted_loss(logits, y, w), logits)
    (gc,) = torch.autograd.grad(weighted_loss(logits, y, c * w), logits)
    assert torch.allclose(gc, c * g1, rtol=1e-4, atol=1e-7)


def test_the_two_normalisations_differ_on_an_unbalanced_batch():
    logits, y = torch.zeros(3), torch.tensor([1, 1, 0])
    w = torch.tensor([1.0, 0.25])
    assert not torch.allclose(weighted_loss(logits, y, w, "mean"), weighted_loss(logits, y, w, "weight_sum"))


def test_stacked_losses_equal_one_loss_per_model():
    logits, y = torch.randn(4, 6), torch.randint(0, 2, (4, 6))
    w = torch.rand(4, 2)
    stacked = weighted_loss(logits, y, w)
    assert torch.allclose(stacked, torch.stack([weighted_loss(logits[m], y[m], w[m]) for m in range(4)]))


@given(st.floats(1e-3, 1e3))
def test_weights_for_a_ratio(ratio):
    neg, pos = class_weights_for_ratio(ratio)
    assert pos / neg == pytest.approx(ratio) and max(neg, pos) == 1.0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_weight_ratio_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="positive"):
        class_weights_for_ratio(bad)


def test_unknown_normalisation_is_an_error():
    with pytest.raises(ValueError, match="unknown normalisation"):
        weighted_loss(torch.zeros(2), torch.zeros(2), torch.ones(2), "median")


def test_l2_penalty_has_weight_decay_gradient():
    p = torch.randn(5, requires_grad=True)
    (g,) = torch.autograd.grad(l2_penalty([p], 0.001), p)
    assert torch.allclose(g, 0.001 * p)
    assert l2_penalty([p], 0.0) == 0.0
