"""The remedies the literature proposes for weighting that fades (the suite's own claims, CLAIMS.md):

- C17: with the polynomially-tailed loss of Wang, Chatterji, Haque & Hashimoto (ICLR 2022) and no
  regularisation, the effect of weighting persists on separable data (their theory: the loss has no
  max-margin limit), on C1's 2D setting and C6's image setting, against the cross-entropy sweep of the same
  subject;
- C20: under a 10:1 class imbalance, importance weighting with cross-entropy does not help balanced test
  accuracy, and the polynomially-tailed loss with weights ``w^1.5`` beats it (Wang et al. 2022, Table), with
  logit adjustment (Menon et al., ICLR 2021), the VS loss (Kini et al., NeurIPS 2021) and LDAM (Cao et al.,
  NeurIPS 2019) reported beside it.
"""

from __future__ import annotations

import numpy as np

from iwcore import figures
from iwcore.battery.claim import Claim, Context, with_learning
from iwcore.battery.paper import images, synthetic
from iwcore.battery.shapes import persists_shape, settings
from iwcore.losses import POLY_LR_FACTOR
from iwcore.results import SweepResult
from iwcore.stats import mean_interval
from iwcore.sweep import Sweep
from iwcore.verdicts import T_RULE, Decision, Row, t_rule

C17 = Claim("C17", "A polynomially-tailed loss restores the effect of weighting on separable data (Wang, Chatterji, "
                   "Haque, Hashimoto, ICLR 2022).",
            paper="Wang et al. 2022: loss on the margin v = (2y-1) f(x): softplus(-v)/log(1+e^-1) for v <= 1, v^-alpha "
                  "for v > 1, alpha = 1; on C1's and C6's settings",
            **persists_shape((synthetic.MLP, synthetic.LOGREG, images.CNN), "poly", baseline={},
                             baseline_text="the same subject with cross-entropy",
                             changes_text=f"polynomially-tailed loss, alpha = 1, no regularisation, at the subject's "
                                          f"learning rate x log(1+e^-1) = {POLY_LR_FACTOR:.3f} (CLAIMS.md revision 3: "
                                          f"the same gradient as cross-entropy at margins <= 1)",
                             loss="poly", loss_options={"alpha": 1.0}, lr_factor=POLY_LR_FACTOR))

IMBALANCE = 10  # training examples of the majority class per minority example (Wang et al.'s 10:1)
# Wang et al. 2022, Table (CIFAR-10 cat/dog, 10:1, Byrd & Lipton's CNN): balanced test accuracy, mean and standard
# error over 10 seeds.
WANG_ET_AL = {"CE, no IW": (0.605, 0.008), "CE + IW": (0.578, 0.004), "poly + IW": (0.604, 0.003),
              "poly + IW, w^1.5": (0.630, 0.006)}
# label: (sweep variant, changes, weight ratio read). The positive class is the sub-sampled minority, so IW weighs
# it IMBALANCE times the majority (ratio IMBALANCE); w^1.5 raises that weight to the power 1.5. The
# loss-based remedies train unweighted: they adjust for the class priors themselves (their papers' setting).
# CLAIMS.md revision 3: the poly arms train at lr x log(1+e^-1), as in C17; LDAM scales these models' raw logits by
# s = 1 (Cao et al.'s s = 30 multiplies normalised cosine logits, which these models do not produce).
ARMS = {
    "CE, no IW": ("imbalanced-ce", {"weight_ratios": (1.0, float(IMBALANCE))}, 1.0),
    "CE + IW": ("imbalanced-ce", {"weight_ratios": (1.0, float(IMBALANCE))}, float(IMBALANCE)),
    "poly + IW": ("imbalanced-poly", {"loss": "poly", "weight_ratios": (float(IMBALANCE),),
                                      "lr_factor": POLY_LR_FACTOR}, float(IMBALANCE)),
    "poly + IW, w^1.5": ("imbalanced-poly-w1.5", {"loss": "poly", "weight_ratios": (float(IMBALANCE),),
                                                  "weight_exponent": 1.5, "lr_factor": POLY_LR_FACTOR},
                         float(IMBALANCE)),
    "logit adjustment": ("imbalanced-logit-adjust", {"loss": "logit_adjust", "weight_ratios": (1.0,)}, 1.0),
    "VS loss": ("imbalanced-vs", {"loss": "vs", "weight_ratios": (1.0,)}, 1.0),
    "LDAM (s = 1 on raw logits)": ("imbalanced-ldam", {"loss": "ldam", "loss_options": {"s": 1.0},
                                                        "weight_ratios": (1.0,)}, 1.0),
}
CLAIMED = ("poly + IW, w^1.5", "CE + IW")  # CLAIMS.md C20: the first beats the second


def imbalanced_sweeps(ctx: Context) -> dict[str, Sweep]:
    """One sweep of the CNN per loss on the imbalanced task, by variant (CE's serves both CE arms)."""
    subject = images.CNN
    imbalance = {"subsample_class": ctx.sweep(subject).task_options["positive"], "subsample_factor": IMBALANCE}
    return {variant: ctx.sweep(subject, variant, task_options=imbalance, **changes)
            for variant, changes, _ in ARMS.values()}


def balanced_accuracies(results: dict[str, SweepResult]) -> dict[str, np.ndarray]:
    """Final balanced test accuracy (mean recall over classes) of every arm, per seed."""
    accuracy = {}
    for label, (variant, _, ratio) in ARMS.items():
        result = results[variant]
        accuracy[label] = result.recall["test"][-1, list(result.weight_ratios).index(ratio)].mean(-1)
    return accuracy


def remedies_beat_weighting(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    accuracy = balanced_accuracies(results)
    better, worse = CLAIMED
    decision = t_rule(accuracy[better] - accuracy[worse], 0.0, f"balanced accuracy: {better} - {worse}", +1)
    for label, values in accuracy.items():
        estimate = mean_interval(values)
        paper = WANG_ET_AL.get(label)
        decision.rows.append(Row(label, "test", "balanced test accuracy, mean over seeds", estimate.value,
                                 estimate.low, estimate.high,
                                 rule=f"Wang et al.: {paper[0]:.3f} ± {paper[1]:.3f} (s.e.)" if paper else ""))
    ctx.add_figure(figures.accuracy_bars(accuracy, ctx.figure_path(f"{ctx.claim.id}-balanced-accuracy"),
                                         f"{ctx.claim.id}: balanced test accuracy under {IMBALANCE}:1 imbalance",
                                         paper=WANG_ET_AL, paper_label="Wang et al. 2022 (CIFAR cat/dog)"))
    return with_learning(decision, {"CNN, CE, no IW": results[ARMS["CE, no IW"][0]]})


C20 = Claim("C20", "Under class imbalance, importance weighting with cross-entropy does not beat no weighting on "
                   "balanced test accuracy, and the remedies do: the polynomially-tailed loss with weights w^1.5 beats "
                   "CE with IW (Wang et al. 2022, Table; logit adjustment, VS loss and LDAM reported).",
            paper="Wang et al. 2022, Table: CIFAR-10 cat/dog with a 10:1 imbalance in training, Byrd & Lipton's CNN, "
                  "balanced test accuracy, 10 seeds: " + "; ".join(f"{k} {m:.3f} ± {s:.3f}"
                                                                   for k, (m, s) in WANG_ET_AL.items()),
            criterion=f"paired by seed, balanced accuracy of {CLAIMED[0]} - {CLAIMED[1]} > 0; {T_RULE}; the other "
                      "losses reported with 95% t intervals",
            plan=imbalanced_sweeps, decide=remedies_beat_weighting, subjects=(images.CNN,),
            setting=settings(f"the positive class sub-sampled {IMBALANCE}:1 in training; one sweep per loss, "
                             f"arms: {', '.join(ARMS)}"))

CLAIMS = (C17, C20)
