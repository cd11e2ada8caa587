"""Claims C1–C5 and C19 on the paper's 2D data (Section 3, Figs 1–3, A.1, A.2)."""

from __future__ import annotations

import numpy as np
import pytest

from claims.kit import TIERS, assert_reproduced, decide_per_set, figure_path, record, tiers
from iwcore import figures
from iwcore.data import build_task
from iwcore.stats import split_summaries
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, powers
from iwcore.verdicts import (SVM_COSINE_MIN, Decision, Verdict, all_of, fades, null_calibration, persists,
                             present_early)

PAPER_2D = ("512 positives from a truncated 2D normal, negatives rotated and translated; minibatch SGD, batch 8, "
            "10,000 epochs, lr 1/sigma_max(X) (~0.045)")
# Scale per tier (CLAIMS.md: data size, epochs, seeds and the number of weight ratios may change, thresholds never).
SCALE = {
    "full": dict(n_per_class=512, n_test=256, epochs=10_000, seeds=tuple(range(9)), unregularised=powers(2, 8),
                 null_epochs=1_000, null_repeats=100),
    "fast": dict(n_per_class=64, n_test=128, epochs=1_000, seeds=(0, 1, 2), unregularised=powers(4, 4),
                 null_epochs=200, null_repeats=100),
}
REGULARISED = powers(4, 4)
DECIDING = ("test", "grid")  # CLAIMS.md: the share of the grid and of the test points classified positive
REPORTED = ("off_manifold",)


def sweep(tier: str, name: str, model: str, task: str = "separable_2d", **changes) -> Sweep:
    """A 2D sweep at the tier's scale with the paper's optimiser; ``changes`` override any field."""
    s = SCALE[tier]
    fields = dict(name=f"{tier}-{name}", task=task,
                  task_options={"n_per_class": s["n_per_class"], "n_test_per_class": s["n_test"]},
                  model=model, weight_ratios=s["unregularised"], seeds=s["seeds"], epochs=s["epochs"],
                  batch_size=8, lr=INVERSE_SIGMA_MAX)
    return Sweep(**{**fields, **changes})


def unregularised(tier, model):
    return sweep(tier, f"separable-{model}", model)


def regularised(tier, model):
    return sweep(tier, f"separable-{model}-l2", model, weight_ratios=REGULARISED, l2=0.001)


def boundary_figure(report_dir, tier, result, name, title):
    task = build_task(result.config["task"], **result.config["task_options"])
    return figures.decision_boundaries(result, task.x_train.numpy(), task.y_train.numpy(),
                                       figure_path(report_dir, tier, name), title)


@pytest.mark.claim("C1")
@pytest.mark.parametrize("tier", tiers(fast_xfail=(
    "measured at fast scale (128 points, 1,000 epochs = 16k SGD steps, about 1% of the paper's 1.28M): "
    "logistic regression has not faded, F = 0.48 [0.475, 0.478] on the test points and 0.43 [0.41, 0.44] on "
    "the grid (needs <= 0.25); the MLP fades (F = 0.030 and 0.12). Extreme weights converge slowest, as the "
    "paper notes")))
def test_C1_weighting_fades_on_separable_data(tier, run_sweep, request, report_dir):
    """Weighting moves the decision boundary early, but differently weighted models converge."""
    results = {model: run_sweep(unregularised(tier, model)) for model in ("mlp", "logreg")}  # C4 trains logreg
    decision = all_of({model: decide_per_set(r, fades, DECIDING, REPORTED) for model, r in results.items()})
    figs = [boundary_figure(report_dir, tier, results["mlp"], "C1-boundaries-mlp", "C1: MLP decision surfaces"),
            boundary_figure(report_dir, tier, results["logreg"], "C1-boundaries-logreg", "C1: logistic regression"),
            figures.share_vs_epoch(results["mlp"], "grid", figure_path(report_dir, tier, "C1-grid-share-mlp"),
                                   "C1: MLP, share of the plane"),
            figures.share_vs_weight(results["mlp"], list(DECIDING + REPORTED),
                                    figure_path(report_dir, tier, "C1-final-share-mlp"), "C1: MLP")]
    record(request, report_dir, claim_id="C1", tier=tier, decision=decision, results=list(results.values()),
           figures=figs,
           claim="On separable 2D data, weighting moves the decision boundary early, but the boundaries of "
                 "differently weighted models converge (logistic regression and MLP).",
           criterion="Fades on the test points and on the grid, for both models: lower 95% bound of E_peak > 0, "
                     "upper 95% bound of F <= 0.5 and F <= 0.25",
           paper=f"Fig 1. {PAPER_2D}; 17 weight ratios 2^-8..2^8",
           setting=f"{SCALE[tier]['n_per_class']} points per class, {len(SCALE[tier]['unregularised'])} weight ratios")
    assert_reproduced("C1", decision)


@pytest.mark.claim("C2")
@pytest.mark.parametrize("tier", TIERS)
def test_C2_l2_keeps_the_effect_on_2d_data(tier, run_sweep, request, report_dir):
    """With L2 (0.001) both models give less of the space to the down-weighted class, lastingly."""
    parts, results = {}, []
    for model in ("logreg", "mlp"):
        reg, unreg = run_sweep(regularised(tier, model)), run_sweep(unregularised(tier, model))
        results += [reg, unreg]
        parts[model] = decide_per_set(reg, persists, DECIDING, REPORTED, baseline=unreg)
    decision = all_of(parts)
    figs = [boundary_figure(report_dir, tier, results[2], "C2-boundaries-mlp-l2", "C2: MLP with L2 0.001"),
            figures.share_vs_weight(results[2], list(DECIDING + REPORTED),
                                    figure_path(report_dir, tier, "C2-final-share-mlp-l2"), "C2: MLP, L2 0.001")]
    record(request, report_dir, claim_id="C2", tier=tier, decision=decision, results=results, figures=figs,
           claim="With L2 regularization (coefficient 0.001) the effect on 2D data persists: both models give less "
                 "of the space to the down-weighted class.",
           criterion="Persists on the test points and the grid, both models: E_peak lower bound > 0, E_final lower "
                     "bound > 0, and E_final - unregularised E_final with its 95% CI above 0",
           paper=f"Fig 2. {PAPER_2D}; L2 0.001; weight ratios 4^-4..4^4",
           setting=f"{SCALE[tier]['n_per_class']} points per class; L2 0.001 as 0.001/2*||theta||^2")
    assert_reproduced("C2", decision)


@pytest.mark.claim("C3")
@pytest.mark.parametrize("tier", TIERS)
def test_C3_dropout_does_not_keep_the_effect(tier, run_sweep, request, report_dir):
    """With dropout 0.5 on the hidden units the MLP behaves like the unregularised one."""
    result = run_sweep(sweep(tier, "separable-mlp-dropout", "mlp", model_options={"dropout": 0.5}))
    decision = decide_per_set(result, fades, DECIDING, REPORTED)
    figs = [boundary_figure(report_dir, tier, result, "C3-boundaries-mlp-dropout", "C3: MLP with dropout 0.5"),
            figures.share_vs_epoch(result, "grid", figure_path(report_dir, tier, "C3-grid-share"),
                                   "C3: MLP with dropout, share of the plane")]
    record(request, report_dir, claim_id="C3", tier=tier, decision=decision, results=[result], figures=figs,
           claim="With dropout (p = 0.5 on hidden units) the MLP behaves like the unregularized one.",
           criterion="Fades on the test points and on the grid",
           paper=f"Fig 3. {PAPER_2D}; dropout 0.5",
           setting=f"{SCALE[tier]['n_per_class']} points per class, {len(SCALE[tier]['unregularised'])} weight ratios")
    assert_reproduced("C3", decision)


def svm_cosines(result) -> np.ndarray:
    """(checkpoints, ratios, seeds) cosine between the logistic-regression weight vector and the
    hard-margin SVM's normal vector (the bias left out)."""
    w = result.param_trace[..., :2].astype(float)
    svm = np.asarray(result.meta["task_meta"]["svm_coef"], float)
    return (w @ svm) / (np.linalg.norm(w, axis=-1) * np.linalg.norm(svm))


@pytest.mark.claim("C4")
@pytest.mark.parametrize("tier", tiers(fast_xfail=(
    "measured at fast scale (16k SGD steps): the cosine to the SVM direction ends at 0.946-0.982 across "
    "weight ratios (needs >= 0.99), and for w = 64 it is no higher than at epoch 1 (0.983 -> 0.978); the "
    "direction converges only logarithmically in the number of steps"), full_xfail=(
    "measured at the paper's scale (1,024 points, 10,000 epochs, 9 seeds; CPU, 2026-11-29): the cosine rises "
    "for every ratio but ends at 0.975-0.992; it is below 0.99 for w <= 0.25 (0.975 at 2^-8) and 0.990-0.992 "
    "for w >= 0.5. Convergence in direction is logarithmic in the steps, and the reference SVM leaves its bias "
    "unregularised while SGD's implicit bias acts on the bias too")))
def test_C4_logistic_regression_tends_to_the_svm(tier, run_sweep, request, report_dir):
    """Whatever the weights, logistic regression converges in direction to the hard-margin SVM."""
    result = run_sweep(unregularised(tier, "logreg"))
    cos = np.nanmean(svm_cosines(result), axis=2)  # (checkpoints, ratios), mean over seeds
    final_ok = bool((cos[-1] >= SVM_COSINE_MIN).all())
    rising = bool((cos[-1] > cos[0]).all())
    stat = {"min final cosine over ratios": float(cos[-1].min()),
            "final cosine per ratio": {f"{w:g}": float(c) for w, c in zip(result.weight_ratios, cos[-1])},
            "first-checkpoint cosine per ratio": {f"{w:g}": float(c) for w, c in zip(result.weight_ratios, cos[0])}}
    decision = Decision(Verdict.REPRODUCED if final_ok and rising else Verdict.NOT_REPRODUCED,
                        f"final cosine >= {SVM_COSINE_MIN} for every ratio: {final_ok} (min {cos[-1].min():.4f}); "
                        f"rising from the first checkpoint for every ratio: {rising}", stat)
    figs = [figures.lines(result.epochs, {f"w={w:g}": cos[:, i] for i, w in enumerate(result.weight_ratios)},
                          figure_path(report_dir, tier, "C4-svm-cosine"), "C4: cosine to the hard-margin SVM",
                          "epoch", "cosine(w_t, w_SVM)")]
    record(request, report_dir, claim_id="C4", tier=tier, decision=decision, results=[result], figures=figs,
           claim="Logistic regression on separable data converges in direction to the hard-margin SVM, whatever "
                 "the weights (Soudry et al. 2018).",
           criterion=f"cosine(w_t, w_SVM), mean over seeds, >= {SVM_COSINE_MIN} at the end for every weight ratio, "
                     "and higher at the end than at the first checkpoint",
           paper=f"{PAPER_2D}; SVM = scikit-learn SVC(kernel='linear', C=1e6)",
           setting=f"{SCALE[tier]['n_per_class']} points per class")
    assert_reproduced("C4", decision)


POSITIVE_CONTROLS = {  # CLAIMS.md C5: overlapping Gaussians (MLP and logistic regression), moons (logistic regression)
    "gaussians-mlp": ("gaussians", "mlp"),
    "gaussians-logreg": ("gaussians", "logreg"),
    "moons-logreg": ("moons", "logreg"),
}


@pytest.mark.claim("C5")
@pytest.mark.parametrize("tier", TIERS)
def test_C5_weighting_persists_where_data_are_not_separable(tier, run_sweep, request, report_dir):
    """Positive control: where the model cannot separate the data, weighting keeps its effect."""
    results = {k: run_sweep(sweep(tier, k, model, task=task)) for k, (task, model) in POSITIVE_CONTROLS.items()}
    decision = all_of({k: decide_per_set(r, persists, DECIDING, REPORTED) for k, r in results.items()})
    figs = [figures.share_vs_epoch(results["gaussians-mlp"], "test", figure_path(report_dir, tier, "C5-gaussians-mlp"),
                                   "C5: overlapping Gaussians, MLP"),
            boundary_figure(report_dir, tier, results["moons-logreg"], "C5-boundaries-moons", "C5: moons, logistic")]
    record(request, report_dir, claim_id="C5", tier=tier, decision=decision, results=list(results.values()),
           figures=figs,
           claim="Positive control: where the data are not separable by the model, weighting keeps its effect "
                 "(Figs A.1 and A.2: moons, overlapping Gaussians).",
           criterion="Persists against 0 on the test points and the grid: E_peak and E_final lower bounds > 0. "
                     "If this fails, every 'fades' verdict is void",
           paper="Figs A.1, A.2; settings as C1", setting=f"{SCALE[tier]['n_per_class']} points per class")
    assert_reproduced("C5", decision)


@pytest.mark.claim("C19")
@pytest.mark.parametrize("tier", tiers(fast_xfail=(
    "measured at fast scale: 'present early' fired in 56 of 100 null sweeps of 3 seeds (allowed 9.4%). "
    "With 3 seeds the percentile bootstrap of a maximum over early checkpoints is far from calibrated, so "
    "'present early' alone is no evidence at 3 seeds; compare each claim's E_peak with the null E_peak "
    "reported here")))
def test_C19_present_early_is_calibrated_under_the_null(tier, run_sweep, request, report_dir):
    """When all weights are 1 but labelled as a sweep, 'present early' fires at most at its nominal rate."""
    s = SCALE[tier]
    n_seeds, repeats = len(s["seeds"]), s["null_repeats"]
    null = run_sweep(sweep(tier, "null-logreg", "logreg", seeds=tuple(range(n_seeds * repeats)),
                           epochs=s["null_epochs"], null_weights=True))
    summaries = split_summaries(null.ratio("test"), null.weight_ratios, null.epochs, null.config["epochs"], n_seeds)
    decision = null_calibration(sum(present_early(s) for s in summaries), len(summaries))
    decision.statistic.update({"seeds_per_sweep": n_seeds,
                               "null E_peak, 95th percentile over sweeps": float(np.percentile(
                                   [s.peak.value for s in summaries], 95))})
    record(request, report_dir, claim_id="C19", tier=tier, decision=decision, results=[null], figures=[],
           claim="Null calibration: when the weights cannot matter (all weight ratios set to 1 but labelled as a "
                 "sweep), the 'present early' test fires at most at its nominal 5% rate.",
           criterion="observed false-positive rate <= 5% + 2 binomial standard errors (of the nominal rate)",
           paper="the suite's own claim (not in the paper)",
           setting=f"{repeats} null logistic-regression sweeps of {len(null.weight_ratios)} labels x {n_seeds} seeds, "
                   f"{s['null_epochs']} epochs, {s['n_per_class']} points per class, trained as one stack")
    assert_reproduced("C19", decision)
