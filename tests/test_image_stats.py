"""Statistics and criteria of the image claims: agreement (C11), the shift over sub-sampling factors
(C10) and the effect at the checkpoint chosen by weighted validation loss (C18), each with a
negative control that shows the check can fail."""

import numpy as np
import pytest

from iwcore.stats import (chosen_checkpoints, effect_at, factor_slopes, fraction_removed, majority_vote,
                          mean_with_interval, mode_share, weight_and_seed_agreement, weighted_class_loss)
from iwcore.sweep import powers
from iwcore.verdicts import Verdict, agrees_as_much_as_seeds, present_at, reweighting_does_not_restore

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


def test_agreement_criterion_fails_when_weights_decide_the_labels():  # negative control for C11
    rng = np.random.default_rng(0)
    n_ratios, n_seeds, n = 9, 9, 500
    truth = rng.integers(0, 2, n)
    noisy = lambda p: np.where(rng.random((n_ratios, n_seeds, n)) < p, 1 - truth, truth)  # noqa: E731
    same = weight_and_seed_agreement(noisy(0.1))  # weights irrelevant: votes agree
    assert agrees_as_much_as_seeds({"test": same}).verdict == Verdict.REPRODUCED
    by_weight = np.broadcast_to((rng.random((n_ratios, 1, n)) < 0.5).astype(int), (n_ratios, n_seeds, n))
    split = weight_and_seed_agreement(by_weight)  # each weight ratio labels its own way, seeds agree fully
    assert split[1] == 1.0 and split[0] < 0.8
    assert agrees_as_much_as_seeds({"test": same, "other": split}).verdict == Verdict.NOT_REPRODUCED


def shares(slope: float, seeds: int = 5, noise: float = 0.005, seed: int = 0) -> np.ndarray:
    """(factors, seeds) shares classified positive falling by ``slope`` per doubling of the factor."""
    rng = np.random.default_rng(seed)
    x = np.log2(FACTORS)[:, None]
    return 0.5 + slope * x + rng.normal(0, noise, (len(FACTORS), seeds))


def test_factor_slope_recovers_a_known_slope():
    assert factor_slopes(shares(-0.07, noise=0), FACTORS) == pytest.approx([-0.07] * 5)


def test_subsampling_claim_holds_when_reweighting_barely_moves_the_shift():
    without, with_iw = factor_slopes(shares(-0.08), FACTORS), factor_slopes(shares(-0.07, seed=1), FACTORS)
    removed = fraction_removed(without, with_iw)
    assert removed.value == pytest.approx(1 - with_iw.mean() / without.mean())
    assert reweighting_does_not_restore(mean_with_interval(without), removed).verdict == Verdict.REPRODUCED


def test_subsampling_claim_fails_when_reweighting_restores_balance():  # negative control for C10
    without, restored = factor_slopes(shares(-0.08), FACTORS), factor_slopes(shares(0.0, seed=1), FACTORS)
    removed = fraction_removed(without, restored)
    assert removed.low > 0.9
    assert reweighting_does_not_restore(mean_with_interval(without), removed).verdict == Verdict.NOT_REPRODUCED


def test_subsampling_claim_fails_without_a_shift():
    flat = factor_slopes(shares(0.0, noise=0.02), FACTORS)
    decision = reweighting_does_not_restore(mean_with_interval(flat), fraction_removed(flat, flat))
    assert decision.verdict == Verdict.NOT_REPRODUCED and "did not shift" in decision.reason


def test_weighted_class_loss_weighs_each_class_by_its_weight_and_count():
    class_loss = np.array([[[[1.0, 3.0]]]])  # one checkpoint, ratio, seed; classes 0 and 1
    assert weighted_class_loss(class_loss, np.array([[0.25, 1.0]]), [30, 10])[0, 0, 0] == pytest.approx(
        (0.25 * 30 * 1 + 1 * 10 * 3) / 40)


def test_chosen_checkpoint_is_the_lowest_finite_criterion():
    criterion = np.array([[[3.0, np.nan]], [[1.0, 2.0]], [[2.0, np.inf]]])  # (checkpoints, ratios=1, seeds=2)
    assert chosen_checkpoints(criterion).tolist() == [[1, 1]]


def test_effect_at_chosen_checkpoints_reads_each_model_at_its_own():
    x, seeds = np.log2(RATIOS), 6
    early = 0.5 + 0.05 * x[:, None] + np.zeros((len(RATIOS), seeds))
    late = np.full((len(RATIOS), seeds), 0.5)
    ratio = np.stack([early, late])  # checkpoint 0 has the effect, checkpoint 1 none
    at_early = effect_at(ratio, np.zeros((len(RATIOS), seeds), int), RATIOS)
    assert at_early.value == pytest.approx(0.05) and present_at(at_early, "early").verdict == Verdict.REPRODUCED
    at_late = effect_at(ratio, np.ones((len(RATIOS), seeds), int), RATIOS)  # negative control for C18
    assert at_late.value == pytest.approx(0) and present_at(at_late, "late").verdict == Verdict.NOT_REPRODUCED
