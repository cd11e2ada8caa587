"""Statistics of the image claims: agreement (C11), the shift over sub-sampling factors (C10) and the
checkpoint chosen by weighted validation loss (C18), with negative controls that show each check can fail."""

import numpy as np
import pytest

from iwcore.stats import (agreement_per_seed, chosen_checkpoints, factor_slopes, majority_vote, mode_share,
                          present_early_test, weight_and_seed_agreement, weighted_class_loss)
from iwcore.sweep import powers
from iwcore.verdicts import AGREEMENT_MARGIN, REWEIGHT_REMOVED_MAX, Verdict, present, t_rule

FACTORS = (1, 2, 4, 8)
RATIOS = powers(4, 2)


def test_mode_share_and_majority_vote_by_hand():
    labels = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 1], [1, 0, 0]])
    assert mode_share(labels, axis=1).tolist() == pytest.approx([2 / 3, 1, 2 / 3, 2 / 3])
    assert majority_vote(labels, axis=1).tolist() == [1, 0, 1, 0]
    assert majority_vote(np.array([[0, 1]]), axis=1).tolist() == [0]  # a tie goes to the lower label


def test_agreement_follows_the_papers_recipe():
    # 3 ratios x 3 seeds x 2 examples. Example 0: every model says 1. Example 1: ratio 0 votes 0 (2 of 3
    # seeds), ratios 1 and 2 vote 1 unanimously.
    preds = np.array([[[1, 0], [1, 0], [1, 1]],
                      [[1, 1], [1, 1], [1, 1]],
                      [[1, 1], [1, 1], [1, 1]]])
    weight, seed = weight_and_seed_agreement(preds)
    assert weight == pytest.approx((1 + 2 / 3) / 2)
    assert seed == pytest.approx((1 + 2 / 3 + 4) / 6)


def agreement_rule(predictions):
    return t_rule(agreement_per_seed(predictions), -AGREEMENT_MARGIN, "weight - seed agreement")


def test_agreement_criterion_fails_when_weights_decide_the_labels():  # negative control for C11
    rng = np.random.default_rng(0)
    n_ratios, n_seeds, n = 5, 5, 500
    truth = rng.integers(0, 2, n)
    noisy = np.where(rng.random((n_ratios, n_seeds, n)) < 0.1, 1 - truth, truth)  # weights irrelevant
    assert agreement_rule(noisy).verdict == Verdict.REPRODUCED
    by_weight = np.where(rng.random((n_ratios, 1, n)) < 0.3, 1 - truth, truth)  # each ratio labels its own way
    split = np.where(rng.random((n_ratios, n_seeds, n)) < 0.02, 1 - by_weight, by_weight)
    assert agreement_rule(split).verdict == Verdict.NOT_REPRODUCED


def shares(slope: float, seeds: int = 5, noise: float = 0.005, seed: int = 0) -> np.ndarray:
    """(factors, seeds) shares classified positive falling by ``slope`` per doubling of the factor."""
    rng = np.random.default_rng(seed)
    x = np.log2(FACTORS)[:, None]
    return 0.5 + slope * x + rng.normal(0, noise, (len(FACTORS), seeds))


def test_factor_slope_recovers_a_known_slope():
    assert factor_slopes(shares(-0.07, noise=0), FACTORS) == pytest.approx([-0.07] * 5)


def subsampling_rule(without, with_iw):
    """C10's two parts on the pair's test images: a shift towards the majority class, and IW removing less
    than half of it."""
    return (t_rule(without, 0.0, "shift", -1).verdict,
            t_rule(with_iw - REWEIGHT_REMOVED_MAX * without, 0.0, "removed", -1).verdict)


def test_subsampling_claim_holds_when_reweighting_barely_moves_the_shift():
    without, with_iw = factor_slopes(shares(-0.08), FACTORS), factor_slopes(shares(-0.07, seed=1), FACTORS)
    assert subsampling_rule(without, with_iw) == (Verdict.REPRODUCED, Verdict.REPRODUCED)


def test_subsampling_claim_fails_when_reweighting_restores_balance():  # negative control for C10
    without, restored = factor_slopes(shares(-0.08), FACTORS), factor_slopes(shares(0.0, seed=1), FACTORS)
    assert subsampling_rule(without, restored)[1] == Verdict.NOT_REPRODUCED


def test_a_shift_towards_the_minority_class_is_not_the_claim():
    assert subsampling_rule(factor_slopes(shares(0.08), FACTORS), factor_slopes(shares(0.07), FACTORS))[0] == \
        Verdict.NOT_REPRODUCED


def test_weighted_class_loss_weighs_each_class_by_its_weight_and_count():
    class_loss = np.array([[[[1.0, 3.0]]]])  # one checkpoint, ratio, seed; classes 0 and 1
    assert weighted_class_loss(class_loss, np.array([[0.25, 1.0]]), [30, 10])[0, 0, 0] == pytest.approx(
        (0.25 * 30 * 1 + 1 * 10 * 3) / 40)


def test_chosen_checkpoint_is_the_lowest_finite_criterion():
    criterion = np.array([[[3.0, np.nan]], [[1.0, 2.0]], [[2.0, np.inf]]])  # (checkpoints, ratios=1, seeds=2)
    assert chosen_checkpoints(criterion).tolist() == [[1, 1]]


def test_chosen_checkpoint_stays_in_the_window():
    criterion = np.array([[[3.0]], [[2.0]], [[1.0]]])
    assert chosen_checkpoints(criterion, np.array([True, True, False])).tolist() == [[1]]


def test_present_at_chosen_checkpoints_reads_each_model_at_its_own():
    x, seeds = np.log2(RATIOS), 6
    rng = np.random.default_rng(0)
    early = 0.5 + 0.05 * x[:, None] + rng.normal(0, 0.003, (len(RATIOS), seeds))
    late = 0.5 + rng.normal(0, 0.003, (len(RATIOS), seeds))
    ratio = np.stack([early, late])  # checkpoint 0 has the effect, checkpoint 1 none

    def at(checkpoint):
        picked = np.take_along_axis(ratio, np.full((1, len(RATIOS), seeds), checkpoint), axis=0)
        return present(present_early_test(picked, RATIOS, seed=1), "E").verdict

    assert at(0) == Verdict.REPRODUCED
    assert at(1) == Verdict.UNDECIDED  # negative control for C18
