import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from iwcore import losses as losses_module
from iwcore import training
from iwcore.losses import (NORMALISATIONS, class_weights_for_ratio, l2_penalty, loss_entry, per_example_loss,
                           poly_loss, register_loss, registered_losses, resolved_options, weighted_loss)
from iwcore.sweep import Sweep
from iwcore.training import class_weight_table, train_sweep

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


# The loss registry

BUILT_IN = ("ce", "poly", "ldam", "logit_adjust", "vs")
WITH_NEUTRAL = [name for name in BUILT_IN if loss_entry(name).neutral is not None]
LOG1P_E_MINUS_1 = math.log1p(math.exp(-1))


def stacked_batch(models, n, classes, seed, one_logit):
    """Stacked logits, labels and per-model class counts (each model with its own, unequal counts)."""
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(models, n, *(() if one_logit else (classes,)), generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (models, n), generator=g)
    counts = torch.randint(1, 500, (models, classes), generator=g).double()
    return logits, y, counts


def poly(v, alpha=1.0):
    return poly_loss(torch.as_tensor(v, dtype=torch.float64), torch.ones(np.shape(v), dtype=torch.long), alpha=alpha)


@given(alpha=st.floats(0.1, 5))
def test_poly_loss_is_continuous_at_margin_one(alpha):
    eps = 1e-9
    below, at, above = poly([1 - eps, 1.0, 1 + eps], alpha).tolist()
    assert at == pytest.approx(1.0) and below == pytest.approx(1.0, abs=1e-7) and above == pytest.approx(1.0, abs=1e-7)


@given(alpha=st.floats(0.1, 5), margins=st.lists(st.floats(-20, 1e4), min_size=2, max_size=20))
def test_poly_loss_decreases_in_the_margin(alpha, margins):
    values = poly(sorted(margins), alpha)
    assert (values[1:] <= values[:-1]).all()
    grid = torch.linspace(-5, 50, 1000, dtype=torch.float64)  # strictly, where margins differ visibly
    assert (poly(grid, alpha).diff() < 0).all()


@given(v=st.floats(-20, 1), alpha=st.floats(0.1, 5))
def test_poly_loss_is_scaled_logistic_up_to_margin_one_and_a_power_after(v, alpha):
    assert float(poly([v], alpha)[0]) == pytest.approx(math.log1p(math.exp(-v)) / LOG1P_E_MINUS_1, rel=1e-9)
    w = 2 - v  # > 1
    assert float(poly([w], alpha)[0]) == pytest.approx(w ** -alpha, rel=1e-9)


def test_poly_tail_is_polynomial_not_exponential():
    """Negative control: at large margins the poly loss is far above (scaled) cross-entropy."""
    v = torch.tensor([10.0, 100.0], dtype=torch.float64)
    ce = per_example_loss(v, torch.ones(2)) / LOG1P_E_MINUS_1
    assert torch.allclose(poly(v), 1 / v) and (poly(v) > 100 * ce).all()


def test_poly_loss_of_a_softmax_model_uses_the_multiclass_margin():
    logits = torch.tensor([[2.0, 5.0, -1.0], [0.5, 0.25, 0.0]], dtype=torch.float64)
    y = torch.tensor([1, 2])
    assert torch.allclose(poly_loss(logits, y), poly([3.0, -0.5]))
    f, y2 = torch.randn(7, dtype=torch.float64), torch.randint(0, 2, (7,))  # one logit f is the two logits (0, f)
    assert torch.allclose(poly_loss(f, y2), poly_loss(torch.stack([torch.zeros_like(f), f], -1), y2))


@pytest.mark.parametrize("one_logit", [True, False], ids=["one-logit", "softmax"])
@pytest.mark.parametrize("name", WITH_NEUTRAL)
def test_every_loss_is_cross_entropy_at_its_neutral_options(name, one_logit):
    classes = 2 if one_logit else 4
    logits, y, counts = stacked_batch(3, 16, classes, seed=1, one_logit=one_logit)
    entry = loss_entry(name)
    assert torch.allclose(entry.fn(logits, y, counts, **resolved_options(name, entry.neutral)),
                          per_example_loss(logits, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in WITH_NEUTRAL if loss_entry(n).neutral])
def test_every_loss_differs_from_cross_entropy_at_its_defaults(name):
    """Negative control for the test above: with unequal class counts the default options change the loss."""
    logits, y, counts = stacked_batch(3, 16, 4, seed=2, one_logit=False)
    assert not torch.allclose(loss_entry(name).fn(logits, y, counts), per_example_loss(logits, y), atol=1e-3)


@pytest.mark.parametrize("one_logit", [True, False], ids=["one-logit", "softmax"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_weights_of_one_give_the_unweighted_loss_for_every_loss(name, one_logit):
    classes = 2 if one_logit else 3
    logits, y, counts = stacked_batch(2, 10, classes, seed=3, one_logit=one_logit)
    plain = loss_entry(name).fn(logits, y, counts).mean(-1)
    ones = torch.ones(2, classes, dtype=torch.float64)
    assert torch.allclose(weighted_loss(logits, y, ones, loss=name, class_counts=counts), plain)
    assert torch.allclose(weighted_loss(logits, y, ones, "weight_sum", loss=name, class_counts=counts), plain)


@pytest.mark.parametrize("one_logit", [True, False], ids=["one-logit", "softmax"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_a_stacked_call_equals_each_model_alone(name, one_logit):
    classes = 2 if one_logit else 3
    logits, y, counts = stacked_batch(4, 12, classes, seed=4, one_logit=one_logit)
    w = torch.rand(4, classes, dtype=torch.float64)
    stacked = weighted_loss(logits, y, w, loss=name, class_counts=counts)
    alone = [weighted_loss(logits[m], y[m], w[m], loss=name, class_counts=counts[m]) for m in range(4)]
    assert torch.allclose(stacked, torch.stack(alone), rtol=1e-12)


@pytest.mark.parametrize("one_logit", [True, False], ids=["one-logit", "softmax"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_every_loss_has_finite_gradients_at_extreme_logits(name, one_logit):
    logits, y, counts = stacked_batch(2, 16, 2 if one_logit else 3, seed=9, one_logit=one_logit)
    logits = (1e3 * logits).requires_grad_()
    (grad,) = torch.autograd.grad(loss_entry(name).fn(logits, y, counts).sum(), logits)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", ["ldam", "logit_adjust", "vs"])
def test_a_class_missing_from_a_sample_keeps_per_class_losses_finite(name):
    logits, y, _ = stacked_batch(2, 8, 3, seed=5, one_logit=False)
    counts = torch.tensor([[0.0, 5.0, 9.0], [4.0, 0.0, 0.0]], dtype=torch.float64)
    entry = loss_entry(name)
    for options in (entry.defaults, entry.neutral):
        assert torch.isfinite(entry.fn(logits, y, counts, **options)).all()
    with pytest.raises(ValueError, match="class counts"):
        entry.fn(logits, y, None)


@given(counts=st.lists(st.integers(1, 10_000), min_size=3, max_size=3), max_margin=st.floats(0.01, 2))
def test_ldam_margins_scale_as_the_inverse_fourth_root_of_the_class_counts(counts, max_margin):
    """With zero logits and ``s = 1`` the LDAM loss of a class-c example over 3 classes is
    ``log(1 + 2 e^{m_c})``, which gives back the margin ``m_c``."""
    n = torch.tensor(counts, dtype=torch.float64)
    y = torch.arange(3)
    loss = loss_entry("ldam").fn(torch.zeros(3, 3, dtype=torch.float64), y, n, max_margin=max_margin, s=1.0)
    margins = torch.log(torch.expm1(loss) / 2)
    expected = n ** -0.25 / (n ** -0.25).max() * max_margin
    assert torch.allclose(margins, expected, rtol=1e-9, atol=1e-12)
    assert float(margins.max()) == pytest.approx(max_margin)


def test_ldam_scales_the_logits_by_s():
    logits, y, counts = stacked_batch(1, 6, 3, seed=6, one_logit=False)
    fn = loss_entry("ldam").fn
    assert torch.allclose(fn(logits, y, counts, max_margin=0.0, s=30.0), per_example_loss(30 * logits, y))


def test_logit_adjustment_and_vs_add_the_documented_terms():
    logits, y, counts = stacked_batch(1, 6, 3, seed=7, one_logit=False)
    log_prior = torch.log(counts / counts.sum(-1, keepdim=True))[:, None]
    scale = (counts / counts.max(-1, keepdim=True).values)[:, None] ** 0.5
    assert torch.allclose(loss_entry("logit_adjust").fn(logits, y, counts, tau=2.0),
                          per_example_loss(logits + 2 * log_prior, y))
    assert torch.allclose(loss_entry("vs").fn(logits, y, counts, gamma=0.5, tau=2.0),
                          per_example_loss(scale * logits + 2 * log_prior, y))


def old_weighted_loss(logits, y, class_weights, normalisation="mean", *unused):
    """``weighted_loss`` before the registry: class-weighted cross-entropy."""
    w = torch.gather(class_weights, -1, y.long())
    weighted = w * per_example_loss(logits, y)
    return weighted.mean(-1) if normalisation == "mean" else weighted.sum(-1) / w.sum(-1)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_cross_entropy_is_bit_identical_to_the_old_formula(normalisation):
    logits, y, counts = stacked_batch(3, 9, 2, seed=8, one_logit=True)
    w = torch.rand(3, 2, dtype=torch.float64)
    assert torch.equal(weighted_loss(logits, y, w, normalisation), old_weighted_loss(logits, y, w, normalisation))
    assert torch.equal(weighted_loss(logits, y, w, normalisation, "ce", {}, counts),
                       old_weighted_loss(logits, y, w, normalisation))


def test_unknown_losses_and_options_are_errors_that_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'focal'.*'ce'.*'poly'"):
        weighted_loss(torch.zeros(2), torch.zeros(2), torch.ones(2), loss="focal")
    with pytest.raises(ValueError, match=r"unknown options \['beta'\] for loss 'poly'.*\['alpha'\]"):
        weighted_loss(torch.zeros(2), torch.zeros(2), torch.ones(2), loss="poly", loss_options={"beta": 1})


def scaled_cross_entropy(logits, y, class_counts, *, scale=1.0):
    return scale * per_example_loss(logits, y)


@pytest.fixture
def own_registry(monkeypatch):
    """The built-in registry, restored after the test."""
    monkeypatch.setattr(losses_module, "_REGISTRY", dict(losses_module._REGISTRY))


def test_registering_a_loss_checks_its_name_and_signature(own_registry):
    for bad in ("", "CE", "2x", "a-b", None):
        with pytest.raises(ValueError, match="loss name"):
            register_loss(bad, scaled_cross_entropy, neutral={"scale": 1.0})
    with pytest.raises(ValueError, match="already registered"):
        register_loss("ce", scaled_cross_entropy, neutral={"scale": 1.0})
    with pytest.raises(ValueError, match="neutral options"):
        register_loss("scaled", scaled_cross_entropy, neutral={"sclae": 1.0})
    with pytest.raises(ValueError, match="must take"):
        register_loss("no_default", lambda logits, y, class_counts, scale: logits, neutral=None)
    with pytest.raises(ValueError, match="must take"):
        register_loss("too_few", lambda logits, y: logits, neutral=None)
    entry = register_loss("scaled", scaled_cross_entropy, neutral={"scale": 1.0})
    assert entry.defaults == {"scale": 1.0} and "scaled" in registered_losses() and loss_entry("scaled") is entry


def test_a_users_loss_registered_again_takes_its_name_over(own_registry):
    """A reloaded module, or a loss sent to a Ray worker again: a newer definition of the same function replaces
    the old one; another function that would get the same registry name is an error."""
    import types

    from iwcore.parts import own_parts, register_parts, registered_loss

    def definition(module: str):
        fn = types.FunctionType(scaled_cross_entropy.__code__, scaled_cross_entropy.__globals__)
        fn.__kwdefaults__, fn.__module__ = scaled_cross_entropy.__kwdefaults__, module
        fn.__qualname__ = scaled_cross_entropy.__qualname__
        return fn

    name = registered_loss(scaled_cross_entropy)
    newer = definition(scaled_cross_entropy.__module__)
    register_parts({"loss": newer})
    assert loss_entry(name).fn is newer and own_parts(small(loss=name)) == {"loss": newer}
    assert own_parts(small()) == {}  # iwcore's own parts are on every worker
    clash = definition(scaled_cross_entropy.__module__.replace("_", "."))
    with pytest.raises(ValueError, match=f"another loss is registered as '{name}'"):
        registered_loss(clash)


CPU = torch.device("cpu")


def small(**changes) -> Sweep:
    base = dict(name="t", task="separable_2d", task_options={"n_per_class": 12, "n_test_per_class": 4},
                model="logreg", weight_ratios=(0.25, 4.0), seeds=(0, 1), epochs=3, batch_size=8, lr=0.1)
    return Sweep(**{**base, **changes})


def train(sweep):
    return train_sweep(sweep, CPU, show_progress=False)


def test_a_registered_loss_trains_in_a_sweep(own_registry):
    """With plain SGD, twice the loss is twice the learning rate."""
    register_loss("scaled", scaled_cross_entropy, neutral={"scale": 1.0})
    doubled = train(small(loss="scaled", loss_options={"scale": 2.0}))
    np.testing.assert_allclose(doubled.param_trace, train(small(lr=0.2)).param_trace, rtol=1e-5, atol=1e-6)
    assert doubled.config["loss"] == "scaled" and doubled.config["loss_options"] == {"scale": 2.0}


@pytest.mark.parametrize("name", BUILT_IN[1:])
def test_every_built_in_loss_trains_a_stack(name):
    result = train(small(loss=name, model="mlp"))
    assert np.isfinite(result.train_loss).all() and np.isfinite(result.param_trace).all()


def test_cross_entropy_sweeps_train_as_before(monkeypatch):
    """Bit-identical parameters to training with the old formula, and the config (so the cache key) of a
    cross-entropy sweep is the one it had before losses were options."""
    sweep = small(model="mlp", normalisation="weight_sum")
    now = train(sweep)
    monkeypatch.setattr(training, "weighted_loss", old_weighted_loss)
    np.testing.assert_array_equal(now.param_trace, train(sweep).param_trace)
    assert not {"loss", "loss_options", "weight_exponent"} & set(sweep.config())
    assert small(loss="poly").config()["loss"] == "poly"
    assert small(weight_exponent=1.5).config()["weight_exponent"] == 1.5
    assert small(loss="poly").key("v", "cpu") != sweep.key("v", "cpu")


def test_the_weight_exponent_raises_the_class_weights_to_its_power():
    ratios = small(weight_exponent=1.5)
    assert np.allclose(class_weight_table(ratios, 2), np.array([[1.0, 0.25], [0.25, 1.0]]) ** 1.5)
    explicit = small(class_weights=((1.0, 0.5), (0.5, 1.0)), weight_exponent=2.0)
    assert np.array_equal(class_weight_table(explicit, 2), [[1.0, 0.25], [0.25, 1.0]])
    assert np.array_equal(class_weight_table(small().null(), 2), np.ones((2, 2)))  # null stays unweighted
    squared = train(small(weight_ratios=(0.5, 2.0), weight_exponent=2.0))  # trains ratios 1/4 and 4 ...
    explicit = train(small(weight_ratios=(0.5, 2.0), class_weights=((1.0, 0.25), (0.25, 1.0))))  # ... same labels
    np.testing.assert_array_equal(squared.param_trace, explicit.param_trace)
    assert not np.array_equal(squared.param_trace, train(small(weight_ratios=(0.5, 2.0))).param_trace)


@pytest.mark.parametrize("changes, message", [
    (dict(loss="focal"), "unknown loss"),
    (dict(loss="poly", loss_options={"alhpa": 1.5}), "unknown options"),
    (dict(loss_options={"alpha": 1.5}), "unknown options"),
    (dict(weight_exponent=0.0), "weight_exponent"),
    (dict(weight_exponent=float("nan")), "weight_exponent"),
])
def test_bad_losses_fail_when_the_sweep_is_built(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)
