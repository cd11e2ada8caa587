"""The paper's 2D claims C1-C5 (Section 3, Figs 1-3, A.1, A.2) and their subjects.

Every seed draws its own training sample from the task's distribution (CLAIMS.md: seeds are independent
replicates); the test points, the grid and the off-manifold points are those of the task seed, shared by all
seeds. Scale per tier (CLAIMS.md: data size, epochs, seeds and the number of weight ratios may change,
thresholds never).
"""

from __future__ import annotations

import numpy as np

from iwcore import figures
from iwcore.battery.claim import Claim, Context, each_subject
from iwcore.battery.shapes import fades_shape, persists_shape, settings
from iwcore.battery.subject import Subject
from iwcore.results import SweepResult
from iwcore.sweep import INVERSE_SIGMA_MAX, Sweep, powers
from iwcore.verdicts import SVM_COSINE_MIN, Decision, combine, t_rule

PAPER_2D = ("512 positives from a truncated 2D normal, negatives rotated and translated; minibatch SGD, batch 8, "
            "10,000 epochs, lr 1/sigma_max(X) (~0.045)")
# The long tier runs the full tier's 2D sweeps (Subject.shares: the same sweeps, trained once through the cache).
SCALE = {
    "full": dict(n_per_class=512, n_test=256, epochs=10_000, seeds=tuple(range(9)), ratios=powers(2, 8)),
    "fast": dict(n_per_class=64, n_test=128, epochs=1_000, seeds=tuple(range(5)), ratios=powers(4, 4)),
}
REGULARISED = powers(4, 4)
DECIDING_2D = ("in_domain", "grid")  # CLAIMS.md: the share of the grid and of the test points classified positive
MODELS = {"mlp": "MLP", "logreg": "logistic regression"}


def subject_2d(model: str, task: str = "separable_2d") -> Subject:
    """The paper's ``model`` on a 2D task, with the paper's optimiser, at each tier's scale."""
    def base(tier: str) -> Sweep:
        s = SCALE[tier]
        return Sweep(name=f"{tier}-{task}-{model}", task=task, model=model, weight_ratios=s["ratios"],
                     task_options={"n_per_class": s["n_per_class"], "n_test_per_class": s["n_test"]},
                     seeds=s["seeds"], epochs=s["epochs"], batch_size=8, lr=INVERSE_SIGMA_MAX)

    name = model if task == "separable_2d" else f"{task}-{model}"
    return Subject(name=f"2d-{name}", label=MODELS[model] + ("" if task == "separable_2d" else f", {task}"),
                   tiers={t: base(t) for t in SCALE}, deciding_roles=DECIDING_2D, separable=task == "separable_2d",
                   paper=True, shares={"long": "full"})


MLP, LOGREG = subject_2d("mlp"), subject_2d("logreg")

C1 = Claim("C1", "On separable 2D data, weighting moves the decision boundary early, but the boundaries of "
                 "differently weighted models converge (logistic regression and MLP).",
           paper=f"Fig 1. {PAPER_2D}; 17 weight ratios 2^-8..2^8", **fades_shape((MLP, LOGREG)))

C2 = Claim("C2", "With L2 regularization (coefficient 0.001) the effect on 2D data persists: both models give less "
                 "of the space to the down-weighted class.",
           paper=f"Fig 2. {PAPER_2D}; L2 0.001; weight ratios 4^-4..4^4",
           **persists_shape((LOGREG, MLP), "l2", baseline={}, baseline_text="the unregularised subject",
                            changes_text="L2 0.001 as 0.001/2*||theta||^2, weight ratios 4^-4..4^4",
                            l2=0.001, weight_ratios=REGULARISED))

C3 = Claim("C3", "With dropout (p = 0.5 on hidden units) the MLP behaves like the unregularized one.",
           paper=f"Fig 3. {PAPER_2D}; dropout 0.5",
           **fades_shape((MLP,), "dropout", "dropout 0.5 on the hidden units", model_options={"dropout": 0.5}))


def svm_cosines(result) -> np.ndarray:
    """(checkpoints, ratios, seeds) cosine between the logistic-regression weight vector and the hard-margin
    SVM's normal vector of that seed's own training sample (the bias left out)."""
    w = result.param_trace[..., :2].astype(float)
    svm = np.array([sample["svm_coef"] for sample in result.meta["samples"]], float)  # (seeds, 2)
    return np.einsum("trsk,sk->trs", w, svm) / (np.linalg.norm(w, axis=-1) * np.linalg.norm(svm, axis=-1))


def tends_to_the_svm(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    result = results[LOGREG.label]
    cos = svm_cosines(result)
    decision = combine({
        "final cosine, worst ratio": t_rule(cos[-1].min(0), SVM_COSINE_MIN, "min over ratios of the final cosine"),
        "rise, worst ratio": t_rule((cos[-1] - cos[0]).min(0), 0.0, "min over ratios of final - first cosine")})
    mean_cos = cos.mean(2)
    by_ratio = {f"w={w:g}": mean_cos[:, i] for i, w in enumerate(result.weight_ratios)}
    ctx.add_figure(figures.lines(result.epochs, by_ratio, ctx.figure_path(f"{ctx.claim.id}-svm-cosine"),
                                 f"{ctx.claim.id}: cosine to the hard-margin SVM", "epoch",
                                 "cosine(w_t, w_SVM), mean over seeds", threshold=SVM_COSINE_MIN,
                                 ylim=(max(0.0, float(np.nanmin(mean_cos[-1])) - 0.05), 1.0),
                                 threshold_label=f"criterion {SVM_COSINE_MIN}"))
    return decision


C4 = Claim("C4", "Logistic regression on separable data converges in direction to the hard-margin SVM, whatever "
                 "the weights (Soudry et al. 2018).",
           paper=f"{PAPER_2D}; SVM = scikit-learn SVC(kernel='linear', C=1e6)", plan=each_subject,
           decide=tends_to_the_svm, subjects=(LOGREG,), setting=settings(),
           criterion=f"per seed, the smallest final cosine over weight ratios >= {SVM_COSINE_MIN} and the smallest "
                     "rise (final - first checkpoint) > 0: one-sided t over seeds (each seed against the SVM of its "
                     "own sample)")

# CLAIMS.md C5: overlapping Gaussians (MLP and logistic regression), moons (logistic regression)
NOT_SEPARABLE = (subject_2d("mlp", "gaussians"), subject_2d("logreg", "gaussians"), subject_2d("logreg", "moons"))

C5 = Claim("C5", "Positive control: where the data are not separable by the model, weighting keeps its effect "
                 "(Figs A.1 and A.2: moons, overlapping Gaussians).",
           paper="Figs A.1, A.2; settings as C1",
           **persists_shape(NOT_SEPARABLE, note="if this fails, every 'fades' verdict is void"))

CLAIMS = (C1, C2, C3, C4, C5)
