"""The paper's image claims C6-C14 and C18 (Section 4, Figs 4, A.3-A.9) and their subjects: CIFAR-10 at the
paper's settings in the full tier; in the fast tier, real images that ship offline (scikit-learn's 8x8
digits, one pair of digits as the binary task and the other eight as the out-of-domain set) at a CPU scale.

The fast tier's scale was chosen once, by the time budget (the whole image fast tier in about 6 minutes on a
2-core CPU under ``-n auto``), not by outcomes: the paper's CNN and ResNet at width 1/8, 5 weight ratios
spanning the paper's range 2^-8..2^8, 100 epochs, 200 noise images; since CLAIMS.md revision 2, 5 seeds, each
an independent replicate training on its own random 80% of each class's training pool (the test,
other-digit, noise and validation sets are fixed by the task seed). Optimiser settings are the paper's in both
tiers (SGD lr 0.1, batch 16, no momentum; Adam lr 1e-4). The paper does not state its initialisation; both
tiers use He et al.'s init. Under PyTorch's default the width-1/8 CNN sat on its initial loss plateau
(unweighted training loss 0.693) through epoch 100 for all three measured seeds on digits, and the width-1
CNN on real CIFAR-10 cat/dog (2000 training images, SGD 0.1, batch 16) stayed at loss 0.6936 and 50% test
accuracy through epoch 3; with He init the digits CNN's loss is below 0.01 by epoch 20 and the CIFAR CNN
reached 57% then 59% test accuracy after epochs 1 and 2 (see models/convnets.py).
"""

from __future__ import annotations

import numpy as np

from iwcore import figures
from iwcore.battery.claim import (PLAN_ONLY, Claim, Context, Unavailable, data_folder, decide_sets, each_subject,
                                  over_sets, summarize, with_learning)
from iwcore.battery.paper.synthetic import LOGREG, MLP
from iwcore.battery.shapes import deciding_text, draw_effect_figures, fades_shape, persists_shape, settings
from iwcore.battery.subject import Subject
from iwcore.data.images import load_cifar10, validate_cifar10
from iwcore.losses import class_weights_for_ratio
from iwcore.results import SweepResult
from iwcore.stats import (agreement_per_seed, chosen_checkpoints, factor_slopes, permutation_seed,
                          present_at_selected_test, weight_and_seed_agreement, weighted_class_loss)
from iwcore.sweep import Sweep, early_window_end, powers
from iwcore.verdicts import (AGREEMENT_MARGIN, ALPHA, FADES, PERSISTS_OVER_BASELINE, REWEIGHT_REMOVED_MAX,
                             SEVERAL_PARTS, Decision, Row, Verdict, combine, fades, persists, present, ratio_row,
                             t_rule)

SCALE = {
    "full": dict(task="cifar_pair", pair=("dog", "cat"), second_pair=("truck", "automobile"), width=1.0,
                 init="he", n_noise=1000, val_per_class=0, seeds=tuple(range(9)), epochs=1000,
                 unregularised=powers(2, 8), regularised=powers(4, 4), factors=tuple(2 ** k for k in range(9)),
                 train_fraction=1.0),
    "fast": dict(task="digits_pair", pair=("8", "3"), second_pair=("7", "1"), width=0.125, init="he",
                 n_noise=200, val_per_class=20, seeds=tuple(range(5)), epochs=100, unregularised=powers(16, 2),
                 regularised=powers(16, 2), factors=(1, 2, 4, 8), train_fraction=0.8),
}
# The long tier (CLAIMS.md revision 3): the fast tier's data and models at the paper's 1,000 epochs, 10 seeds
# (CLAIMS.md's power analysis: fades at F = 0.1 decided in 67-91% of sweeps with 10 seeds, 29-51% with 5) and
# the paper's 1,000 noise images; set from cost, before any long-tier run.
SCALE["long"] = {**SCALE["fast"], "seeds": tuple(range(10)), "epochs": 1000, "n_noise": 1000}
# CLAIMS.md revision 3: the image claims are decided on every set their sentence names: the pair's test images,
# the other classes (out-of-domain) and the noise images
IMAGE_DECIDING_ROLES = ("in_domain", "out_of_domain", "noise")
# The early-stopping claim needs a validation split from the training images. The fast tier holds one out in
# every sweep; the full tier keeps the paper's 5000 training images per class for the CNN's sweep and trains it
# once more with this many per class held out.
FULL_VALIDATION_PER_CLASS = 500
PAPER_CNN = ("CIFAR-10 cat (negative) vs dog (positive), 5000 training images per class; CNN conv 64, conv 64, "
             "maxpool, conv 128 x3, maxpool, dense 512, dense 128; SGD lr 0.1, batch 16, no momentum, 1000 epochs; "
             "17 weight ratios 2^-8..2^8 x 9 seeds; 2000 pair test images, 8000 other-class images, 1000 noise "
             "images")


def cifar10(options: dict, needed_by: str) -> dict:
    """The task option naming the CIFAR-10 folder of ``options``: ``Unavailable`` without ``data_dir``; a given
    but unusable folder is an error. Planned only (``PLAN_ONLY``), the folder is named without being read."""
    data_dir = options.get("data_dir")
    if options.get(PLAN_ONLY):
        return {"task_options": {"data_dir": data_folder(data_dir)}}
    if data_dir is None:
        raise Unavailable(f"{needed_by} need CIFAR-10 and no --data-dir was given: pass --data-dir DIR, a folder "
                          "holding train/<class>/*.png and test/<class>/*.png or torchvision's cifar-10-batches-py "
                          "(DIR or DIR/cifar10 are searched), or add --download to fetch it into DIR")
    validate_cifar10(load_cifar10(data_dir, download=options.get("download", False)), "full")
    return {"task_options": {"data_dir": data_folder(data_dir)}}


def image_data(tier: str, options: dict) -> dict:
    """The run's options of every image sweep: none in the fast tier; the full tier needs CUDA (unless
    ``allow_cpu`` or ``PLAN_ONLY``) and CIFAR-10."""
    if tier != "full":
        return {}
    device = options.get("device")
    if getattr(device, "type", None) != "cuda" and not (options.get("allow_cpu") or options.get(PLAN_ONLY)):
        raise Unavailable(f"full-tier image claims train hundreds of CNNs for 1000 epochs; no CUDA device here "
                          f"(device {device}). Run on a GPU machine, or pass --allow-cpu to run them on the CPU "
                          f"anyway")
    return cifar10(options, "full-tier image claims")


def image_subject(name: str, label: str, model: str, **model_options) -> Subject:
    """The paper's ``model`` on the tier's pair task (SGD lr 0.1, batch 16), at the tier's scale."""
    def base(tier: str) -> Sweep:
        s = SCALE[tier]
        positive, negative = s["pair"]
        return Sweep(name=f"{tier}-{name}", task=s["task"], model=model,
                     task_options={"positive": positive, "negative": negative, "n_noise": s["n_noise"],
                                   "n_val_per_class": s["val_per_class"], "train_fraction": s["train_fraction"]},
                     model_options={"width": s["width"], "init": s["init"], **model_options},
                     weight_ratios=s["unregularised"], seeds=s["seeds"], epochs=s["epochs"], batch_size=16, lr=0.1)

    return Subject(name=name, label=label, tiers={t: base(t) for t in SCALE}, data=image_data,
                   deciding_roles=IMAGE_DECIDING_ROLES, paper=True)


CNN = image_subject("image-cnn", "CNN", "cnn")
RESNET_BN = image_subject("image-resnet", "ResNet with BN", "resnet", batch_norm=True)
RESNET_NO_BN = image_subject("image-resnet-nobn", "ResNet without BN", "resnet", batch_norm=False)


def variants(tier: str) -> dict[str, dict]:
    """The changes to the CNN's sweep of each claim about a variant of it, at ``tier`` (the regularised sweeps
    use fewer weight ratios in the full tier; the second pair is the tier's)."""
    s = SCALE[tier]
    positive, negative = s["second_pair"]
    return {
        "l2": dict(l2=0.001, weight_ratios=s["regularised"]),
        "dropout": dict(weight_ratios=s["regularised"], model_options={"dropout": 0.5}, lr_by_ratio={1.0: 0.05}),
        "label-noise": dict(task_options={"label_noise": 0.05}),
        "second-pair": dict(task_options={"positive": positive, "negative": negative}),
        "adam": dict(optimizer="adam", lr=1e-4, optimizer_options={"betas": (0.9, 0.999), "eps": 1e-8}),
    }


def subsampled(tier: str, factor: int) -> dict:
    """The positive class sub-sampled by ``factor``: trained unweighted (ratio 1) and with the non-sub-sampled
    (negative) class down-weighted by the same factor (ratio ``factor``)."""
    return dict(weight_ratios=tuple(sorted({1.0, float(factor)})),
                task_options={"subsample_class": SCALE[tier]["pair"][0], "subsample_factor": factor})


def with_validation(tier: str) -> tuple[str, dict]:
    """The variant of the CNN's sweep with a validation split: the sweep itself where the tier holds one out."""
    return ("", {}) if SCALE[tier]["val_per_class"] else \
        ("val", dict(task_options={"n_val_per_class": FULL_VALIDATION_PER_CLASS}))


def of_the_cnn(shape, variant: str, **kwargs) -> dict:
    """``shape`` about the CNN's ``variant``, with that variant's changes at each tier."""
    return shape((CNN,), variant, per_tier=lambda tier: variants(tier)[variant], **kwargs)


C6 = Claim("C6", "CIFAR-10 cat vs dog, CNN: weighting changes the share classified as dog early; by epoch 1000 there "
                 "is no clear relation between weight and share, on test images, on the other 8 classes and on "
                 "random noise.",
           paper=f"Fig 4a-d. {PAPER_CNN}; unweighted test accuracy 80-85%", **fades_shape((CNN,)))

C7 = Claim("C7", "L2 (0.001) keeps an effect on the CNN and slows convergence of the ratios.",
           paper=f"Figs 4e, A.3. {PAPER_CNN}; L2 0.001 (as 0.001/2*||theta||^2); 9 weight ratios 4^-4..4^4",
           **of_the_cnn(persists_shape, "l2", baseline={}, baseline_text="the unregularised CNN",
                        changes_text="L2 0.001 as 0.001/2*||theta||^2, the regularised weight ratios"))

C8 = Claim("C8", "Dropout (0.5 on hidden units) does not keep the effect.",
           paper=f"Figs 4f, A.4. {PAPER_CNN}; dropout 0.5; 9 weight ratios 4^-4..4^4; lr 0.05 for the unweighted "
                 "dropout model",
           **of_the_cnn(fades_shape, "dropout", changes_text="dropout 0.5 on the hidden dense units, the regularised "
                                                             "weight ratios, lr 0.05 for the unweighted model"))


def bn_keeps_an_effect(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    """With BN: persists above the no-BN ResNet; without BN: fades."""
    bn, plain = results[RESNET_BN.label], results[RESNET_NO_BN.label]
    for result, subject in ((bn, RESNET_BN), (plain, RESNET_NO_BN)):
        draw_effect_figures(ctx, result, subject, subject.label)
    return with_learning(combine({"with BN": decide_sets(bn, persists, RESNET_BN.deciding_roles, baseline=plain),
                                  "without BN": decide_sets(plain, fades, RESNET_NO_BN.deciding_roles)}),
                         {RESNET_BN.label: bn, RESNET_NO_BN.label: plain})


C9 = Claim("C9", "A ResNet with batch norm keeps an effect after 1000 epochs; the same ResNet without batch norm "
                 "behaves like the CNN.",
           paper="Fig A.5. ResNet: conv 5x5 64; 2 residual blocks of 64, 2 of 128, 2 of 256 (stride 2 at the first of "
                 "the 128 and 256 stages); average pooling; dense 512; BN between all conv layers, or none; "
                 "otherwise as C6",
           plan=each_subject, decide=bn_keeps_an_effect, subjects=(RESNET_BN, RESNET_NO_BN), setting=settings(),
           criterion=f"with BN: {PERSISTS_OVER_BASELINE} (baseline: the ResNet without BN); without BN: {FADES}; "
                     f"{deciding_text((RESNET_BN, RESNET_NO_BN))}")


def subsampling_sweeps(ctx: Context) -> dict[str, Sweep]:
    """The CNN's sweep with the positive class sub-sampled by each of the tier's factors, by factor."""
    return {f"subsample-{f}": ctx.sweep(CNN, f"subsample-{f}", **subsampled(ctx.tier, f))
            for f in SCALE[ctx.tier]["factors"]}


def reweighting_does_not_undo_subsampling(ctx: Context, by_factor: dict[str, SweepResult]) -> Decision:
    """Per eval set, at the end: the slope of the share classified positive against log2 f without IW, and what
    IW removes of it."""
    factors = SCALE[ctx.tier]["factors"]
    results = list(by_factor.values())
    sets = list(results[0].meta["eval_roles"])
    # (factors, seeds) share classified positive at the end: unweighted (ratio 1, the first) and re-weighted (last)
    without = {name: np.stack([r.ratio(name)[-1, 0] for r in results]) for name in sets}
    with_iw = {name: np.stack([r.ratio(name)[-1, -1] for r in results]) for name in sets}

    # The positive class is sub-sampled, so the claimed shift is towards the negative (majority) class: a
    # negative slope of the share classified positive against log2 f. IW removes less than half of it when the
    # slope with IW stays below half the slope without it (per seed: slope(IW) - 0.5 slope(no IW) < 0).
    def decide(name: str) -> Decision:
        shift, remaining = factor_slopes(without[name], factors), factor_slopes(with_iw[name], factors)
        shifted = t_rule(shift, 0.0, "slope of r vs log2 f without IW", -1, eval_set=name)
        removed = t_rule(remaining - REWEIGHT_REMOVED_MAX * shift, 0.0,
                         f"slope(IW) - {REWEIGHT_REMOVED_MAX} slope(no IW)", -1, eval_set=name)
        if shifted.verdict != Verdict.REPRODUCED:  # without a shift, the share IW removes means nothing
            removed = Decision(Verdict.INCONCLUSIVE, "no shift shown to remove", removed.rows)
        decision = combine({"shift without IW": shifted, "IW removes < half": removed})
        decision.rows.append(ratio_row(shift - remaining, shift, "fraction of the shift removed by IW", eval_set=name))
        return decision

    for name in sets:
        ctx.add_figure(figures.share_vs_factor(factors, {f"{name}, no IW": without[name], f"{name}, IW": with_iw[name]},
                                               ctx.figure_path(f"{ctx.claim.id}-{name}-share-vs-factor"),
                                               f"{ctx.claim.id}: sub-sampling, {name}"))
    return with_learning(over_sets(results[0], decide, CNN.deciding_roles), {"CNN, no sub-sampling": results[0]})


def subsampling_setting(ctx: Context) -> str:
    return settings(f"positive class sub-sampled by {SCALE[ctx.tier]['factors']}")(ctx)


C10 = Claim("C10", "Sub-sampling a class shifts the predictions towards the majority class (in-domain, out-of-domain "
                   "and noise), and re-weighting to undo the imbalance does not restore balance.",
            paper="Fig A.6. As C6 with the cat or the dog class sub-sampled by factor f; with IW the other class is "
                  "down-weighted by f. The factors on Fig A.6's axis are not in the text; the full tier uses 2^0..2^8 "
                  "(the paper's weight range) and sub-samples the positive class (dog)",
            plan=subsampling_sweeps, decide=reweighting_does_not_undo_subsampling, subjects=(CNN,),
            setting=subsampling_setting,
            criterion=f"On the pair's test images, the other classes and the noise images at the end, one-sided t "
                      f"over seeds: the slope of r vs log2 f "
                      f"without IW is below 0 (towards the majority class), and slope(IW) - {REWEIGHT_REMOVED_MAX} "
                      f"slope(no IW) is below 0 (IW removes less than half of the shift; the fraction removed is "
                      f"reported with its Fieller interval); {SEVERAL_PARTS}")

# The paper's vote-based agreements (weight, seed) by evaluation-set role
PAPER_AGREEMENT = {"in_domain": (0.82, 0.78), "out_of_domain": (0.74, 0.71)}
AGREEMENT_ROLES = ("in_domain", "out_of_domain")  # the pair's test images and the other classes decide


def weighted_models_agree(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    """Per pair of seeds, weight agreement minus seed agreement at the last epoch; the paper's vote-based
    agreements beside it."""
    result = results[CNN.label]
    roles = result.meta["eval_roles"]
    final = {name: result.predictions[name][-1] for name in roles}  # (ratios, seeds, examples)
    decision = with_learning(over_sets(result, lambda name: t_rule(
        agreement_per_seed(final[name]), -AGREEMENT_MARGIN, "weight - seed agreement (pairs of seeds; jackknife)",
        +1, eval_set=name), AGREEMENT_ROLES), {CNN.label: result})
    paper = {name: PAPER_AGREEMENT[role] for name, role in roles.items() if role in PAPER_AGREEMENT}
    votes = {name: weight_and_seed_agreement(final[name]) for name in roles}
    for name, (weight, seed) in votes.items():
        decision.rows += [Row("paper's definition", name, "weight agreement (vote over seeds)", weight,
                              rule=f"paper: {paper[name][0]}" if name in paper else ""),
                          Row("paper's definition", name, "seed agreement", seed,
                              rule=f"paper: {paper[name][1]}" if name in paper else "")]
    decision.rows += [Row("", name, "noise images classified negative", float(1 - final[name].mean()))
                      for name, role in roles.items() if role == "noise"]
    ctx.add_figure(figures.agreement_bars({k: v[0] for k, v in votes.items()}, {k: v[1] for k, v in votes.items()},
                                          ctx.figure_path(f"{ctx.claim.id}-agreement"),
                                          f"{ctx.claim.id}: agreement (the paper's vote-based definition)",
                                          paper=paper))
    return decision


def agreement_setting(ctx: Context) -> str:
    n_ratios, n_seeds = len(ctx.results[0].weight_ratios), len(ctx.results[0].seeds)
    return settings(f"chance floors of a mode share: {(n_ratios // 2 + 1) / n_ratios:.2f} for {n_ratios} votes, "
                    f"{(n_seeds // 2 + 1) / n_seeds:.2f} for {n_seeds} seeds")(ctx)


C11 = Claim("C11", "Differently weighted models agree with each other on test labels about as much as models that "
                   "differ only by seed.",
            paper="C6's sweep. Weight agreement (majority vote over 9 seeds per ratio; share of the 17 votes equal to "
                  "their mode): 82% (cat/dog test), 74% (other 8 classes). Seed agreement: 78% and 71%. Noise: "
                  "near-perfect agreement, nearly all called cat",
            plan=each_subject, decide=weighted_models_agree, subjects=(CNN,), setting=agreement_setting,
            criterion=f"weight agreement >= seed agreement - {AGREEMENT_MARGIN} on the pair's test images and on the "
                      f"other classes at the last epoch: per pair of seeds, the agreement of their models with "
                      f"different weight ratios minus that with equal ratios; one-sided t over seeds on its jackknife "
                      f"pseudo-values (noise images reported; the paper's vote-based agreements beside it)")

C12 = Claim("C12", "With 5% of each class's training labels flipped (true classes not separable, the sample still "
                   "is), weighting still has little effect at the end.",
            paper=f"Fig A.7. {PAPER_CNN}; 5% of each class's training labels flipped",
            **of_the_cnn(fades_shape, "label-noise", changes_text="5% of each class's training labels flipped"))

C13 = Claim("C13", "The same holds for automobile vs truck.",
            paper="Fig A.8. As C6 on automobile (negative) vs truck (positive)",
            **of_the_cnn(fades_shape, "second-pair", changes_text="the second pair: " + ", ".join(
                f"{SCALE[t]['second_pair'][0]} (positive) vs {SCALE[t]['second_pair'][1]} on {SCALE[t]['task']}"
                for t in SCALE)))

C14 = Claim("C14", "The same holds with Adam.", paper="Fig A.9. As C6 with Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8",
            **of_the_cnn(fades_shape, "adam", changes_text="Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8"))


def present_at_best_validation(result: SweepResult, eval_set: str, validation: str, salt: str) -> \
        tuple[Decision, np.ndarray]:
    """Present-early's permutation test with each model read at its checkpoint of lowest weighted loss on the
    ``validation`` set within the early window. The weights are those of the model's label, so the choice is
    redone for every label a permutation gives it (the test stays exact). Also the chosen epochs (ratios, seeds)."""
    window = result.epochs <= early_window_end(result.config["epochs"])
    labels = np.array([class_weights_for_ratio(w) for w in result.weight_ratios])
    ratio = result.ratio(eval_set)
    losses, counts = result.class_loss[validation], result.meta["class_counts"][validation]
    value_if_labelled = np.empty(ratio.shape[1:] + (len(labels),))  # (models, seeds, labels)
    for k, weights in enumerate(labels):
        loss = weighted_class_loss(losses, np.repeat(weights[None], len(labels), 0), counts)
        value_if_labelled[..., k] = np.take_along_axis(ratio, chosen_checkpoints(loss, window)[None], axis=0)[0]
    own = weighted_class_loss(losses, labels, counts)
    test = present_at_selected_test(value_if_labelled, result.weight_ratios,
                                    permutation_seed(f"{result.key}/{eval_set}/{salt}"))
    return present(test, "E at the validation-chosen checkpoints", "", eval_set,
                   n_seeds=ratio.shape[2]), result.epochs[chosen_checkpoints(own, window)]


def validated_sweeps(ctx: Context) -> dict[str, Sweep]:
    """C1's 2D sweeps and C6's CNN sweep with a validation split."""
    variant, changes = with_validation(ctx.tier)
    return {f"2D {MLP.label}": ctx.sweep(MLP), f"2D {LOGREG.label}": ctx.sweep(LOGREG),
            f"image {CNN.label}": ctx.sweep(CNN, variant, **changes)}


def early_stopping_keeps_the_effect(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    """Present early at the checkpoints chosen by weighted validation loss, on the in-domain set of each sweep
    (the other sets, but the validation set, reported)."""
    parts, reported = {}, []
    for name, result in results.items():
        roles = result.meta["eval_roles"]
        validation = next(k for k, role in roles.items() if role == "validation")
        for eval_set, role in roles.items():
            if role == "in_domain":
                parts[name], epochs = present_at_best_validation(result, eval_set, validation, ctx.claim.id)
                parts[name].rows.append(Row("", validation, "median chosen epoch", float(np.median(epochs))))
            elif role != "validation":
                reported += [Row(**{**vars(r), "part": name}) for r in present_at_best_validation(
                    result, eval_set, validation, ctx.claim.id)[0].reported()]
        s = summarize(result)
        ctx.add_figure(figures.effect_over_epochs(s.epochs, s.effect, s.effect_low, s.effect_high,
                                                  ctx.figure_path(f"{ctx.claim.id}-{name.replace(' ', '-')}"),
                                                  f"{ctx.claim.id}: {name}, E(t) on the test set", s.early_end))
    decision = with_learning(combine(parts), results)
    decision.rows += reported
    return decision


C18 = Claim("C18", "Early stopping is where weighting acts: the model chosen by a validation criterion early in "
                   "training still shows the effect.",
            paper="the suite's own claim (not in the paper); C1's and C6's settings",
            plan=validated_sweeps, decide=early_stopping_keeps_the_effect, subjects=(MLP, LOGREG, CNN),
            setting=settings("the 2D validation split drawn like the test split; the CNN's validation split: "
                             f"{SCALE['fast']['val_per_class']} training images per class in every fast-tier sweep, "
                             f"{FULL_VALIDATION_PER_CLASS} per class held out in a sweep of its own in the full tier"),
            criterion=f"Per sweep, each model is read at its checkpoint of lowest weighted validation loss "
                      f"(sum_c w_c n_c loss_c / n, its own class weights) within the early window; the within-seed "
                      f"permutation test of present early with T = E at the chosen checkpoints, p <= {ALPHA}, for "
                      f"C1's MLP and logistic regression and C6's CNN")

CLAIMS = (C6, C7, C8, C9, C10, C11, C12, C13, C14, C18)
