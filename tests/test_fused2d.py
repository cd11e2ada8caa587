"""The fused 2D path (iwcore/fused2d.py) trains the same models as the generic autograd loop."""

import dataclasses

import numpy as np
import pytest
import torch

from iwcore import fused2d, losses, training
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

CPU = torch.device("cpu")


def small(**changes) -> Sweep:
    base = dict(name="t", task="separable_2d", task_options={"n_per_class": 20, "n_test_per_class": 8}, model="mlp",
                weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1), epochs=6, batch_size=8, lr=0.2, checkpoints=(2, 3))
    return Sweep(**{**base, **changes})


@pytest.fixture
def fused_epochs(monkeypatch):
    """Counts the epochs the fused path trains."""
    calls = []
    epoch = fused2d.FusedSGD.epoch

    def counted(self, *args, **kwargs):
        calls.append(1)
        return epoch(self, *args, **kwargs)

    monkeypatch.setattr(fused2d.FusedSGD, "epoch", counted)
    return calls


def generic(sweep, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(training, "fused_trainer", lambda *args: None)
        return train_sweep(sweep, CPU, show_progress=False)


# The poly loss over 30 epochs, so that many training margins pass 1 and its polynomial tail is trained
# (test_a_wrong_tail_gradient_is_detected shows they do).
POLY = dict(loss="poly", epochs=30, checkpoints=(2, 30))

CASES = {
    "logreg": dict(model="logreg"),
    "mlp": dict(),
    "mlp dropout": dict(model_options={"dropout": 0.5}),
    "mlp L2": dict(l2=0.01),
    "logreg L2": dict(model="logreg", l2=0.01),
    # 3,000 steps of a small decay (step size x L2 = 2e-5): a decay factor 1 - 2e-5 rounded to float32 would
    # change L2 by ~0.1% and show here
    "logreg small L2, long": dict(model="logreg", l2=1e-4, epochs=600, checkpoints=(300,)),
    "lr by ratio": dict(lr_by_ratio={4.0: 0.05}, l2=0.01),
    "null weights": dict(null_weights=True),
    "weight_sum": dict(normalisation="weight_sum", model_options={"dropout": 0.3}),
    "groups of 4, explicit weights": dict(models_per_step=4, class_weights=((1.0, 0.5), (1.0, 1.0), (0.2, 1.0))),
    "batch 20, hidden 5": dict(batch_size=20, model_options={"hidden": 5}),
    "poly logreg": dict(POLY, model="logreg"),
    "poly mlp": dict(POLY),
    "poly mlp dropout": dict(POLY, model_options={"dropout": 0.5}),
    "poly mlp L2": dict(POLY, l2=0.01),
    "poly logreg L2": dict(POLY, model="logreg", l2=0.01),
    # C17's settings: alpha 1 at lr x log(1 + e^-1), a learning rate per ratio and the other normalisation
    "poly mlp, C17's lr, lr by ratio, weight_sum": dict(POLY, loss_options={"alpha": 1.0}, lr=0.5,
                                                        lr_factor=losses.POLY_LR_FACTOR, lr_by_ratio={4.0: 0.05},
                                                        normalisation="weight_sum"),
    "poly logreg alpha 0.5": dict(POLY, model="logreg", loss_options={"alpha": 0.5}),
    "poly mlp alpha 3": dict(POLY, loss_options={"alpha": 3.0}),
}


@pytest.mark.parametrize("case", CASES)
def test_fused_path_equals_the_generic_path(case, monkeypatch, fused_epochs):
    sweep = small(**CASES[case])
    fused = train_sweep(sweep, CPU, show_progress=False)
    assert len(fused_epochs) == sweep.epochs * (2 if sweep.models_per_step else 1)
    plain = generic(sweep, monkeypatch)
    assert len(fused_epochs) == sweep.epochs * (2 if sweep.models_per_step else 1)  # the generic run used none
    np.testing.assert_allclose(fused.param_trace, plain.param_trace, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.train_loss, plain.train_loss, rtol=1e-5, atol=1e-7)
    for name in plain.shares:
        np.testing.assert_array_equal(fused.predictions[name], plain.predictions[name])
        np.testing.assert_allclose(fused.shares[name], plain.shares[name], atol=1e-6)
    np.testing.assert_array_equal(fused.diverged_epoch, plain.diverged_epoch)


def test_divergence_is_dated_to_the_same_epoch(monkeypatch, fused_epochs):
    """Between checkpoints the fused path computes no loss, only which models have non-finite logits.
    With step size 3 and L2 1 the ratio-4 models' parameters are multiplied by about -2 per step."""
    sweep = small(lr_by_ratio={4.0: 3.0}, l2=1.0, epochs=40, checkpoints=(40,))
    fused = train_sweep(sweep, CPU, show_progress=False)
    plain = generic(sweep, monkeypatch)
    assert fused_epochs and (plain.diverged_epoch[2] > 1).all() and (plain.diverged_epoch[:2] == 0).all()
    np.testing.assert_array_equal(fused.diverged_epoch, plain.diverged_epoch)


def test_poly_alphas_in_one_process(monkeypatch):
    """Two alphas trained one after the other by the compiled MLP step each train with their own exponent
    (torch.compile with its default symbolic floats kept the first alpha's exponent for the second)."""
    for alpha in (1.0, 3.0):
        sweep = small(**POLY, loss_options={"alpha": alpha})
        fused, plain = train_sweep(sweep, CPU, show_progress=False), generic(sweep, monkeypatch)
        np.testing.assert_allclose(fused.param_trace, plain.param_trace, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_a_wrong_tail_gradient_is_detected(model, monkeypatch):
    """The negative control: cross-entropy's gradient divided by log(1 + e^-1) is the poly loss's at margins
    <= 1 and wrong beyond, so the comparison above must tell it from the poly gradient."""
    sweep = small(**POLY, model=model)
    plain = generic(sweep, monkeypatch)
    scaled_ce = lambda z, y, alpha: fused2d._ce_gradient(z, y) / losses.POLY_LR_FACTOR  # noqa: E731
    monkeypatch.setitem(fused2d.LOSSES, "poly", (scaled_ce, losses.poly_loss))
    wrong = train_sweep(sweep, CPU, show_progress=False)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong.param_trace, plain.param_trace, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change", [dict(optimizer="adam", lr=0.01), dict(optimizer_options={"momentum": 0.9}),
                                    dict(batch_size=7), dict(loss="ldam"), dict(loss="poly", reregistered=True)])
def test_what_the_fused_path_does_not_cover_runs_generic(change, fused_epochs, monkeypatch):
    change = dict(change)
    if change.pop("reregistered", False):  # another function registered as "poly": its gradient is not known here
        entry = losses.loss_entry("poly")
        monkeypatch.setitem(losses._REGISTRY, "poly", dataclasses.replace(entry, fn=lambda *a, **k: entry.fn(*a, **k)))
    train_sweep(small(epochs=3, **change), CPU, show_progress=False)
    assert not fused_epochs


def test_fused_path_resumes_from_saved_progress(tmp_path, monkeypatch):
    """A run stopped mid-group and resumed equals one uninterrupted run: the stack's parameters, which
    progress saves, are the fused path's state between epochs."""
    sweep = dataclasses.replace(small(), models_per_step=3)
    whole = train_sweep(sweep, CPU, show_progress=False)
    progress = tmp_path / "progress.pt"
    monkeypatch.setattr(training, "SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(training, "SAVE_COST_SHARE", float("inf"))  # save after every epoch
    original = fused2d.FusedSGD.epoch

    def stop_in_the_second_group(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if progress.exists() and torch.load(progress, weights_only=False)["group"] == 1 \
                and torch.load(progress, weights_only=False)["epoch"] == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(fused2d.FusedSGD, "epoch", stop_in_the_second_group)
        with pytest.raises(KeyboardInterrupt):
            train_sweep(sweep, CPU, progress_file=progress, show_progress=False)
    resumed = train_sweep(sweep, CPU, progress_file=progress, show_progress=False)
    np.testing.assert_array_equal(resumed.param_trace, whole.param_trace)
