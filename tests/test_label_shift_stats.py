"""C15's statistic and criterion: weighted accuracy, the gain Delta(t), its bootstrap summary and the
verdict, including negative controls that show the check can fail."""

from __future__ import annotations

import numpy as np
import pytest

from claims.test_label_shift import label_shift_grid
from iwcore.stats import gain_summary, label_shift_gain, weighted_accuracy
from iwcore.verdicts import Verdict, label_shift_dissipates

EPOCHS = np.arange(1, 101)


def test_weighted_accuracy_weighs_per_class_recall():
    recall = np.array([1.0, 0.5, 0.0])
    assert weighted_accuracy(recall, np.array([0.5, 0.25, 0.25])) == pytest.approx(0.625)
    assert weighted_accuracy(recall, np.ones(3)) == pytest.approx(0.5)  # equal weights: balanced accuracy


def test_grid_rows_sum_to_one_and_label_each_cell():
    labels, rows, cells = label_shift_grid((0.2, 0.9), n_classes=10)
    assert len(labels) == len(set(labels)) == len(rows) == 1 + len(cells) == 21
    assert rows[0] == (1.0,) * 10
    assert all(sum(r) == pytest.approx(1) for r in rows[1:])
    c, rho = cells[3]  # class 1, rho 0.9
    assert (c, rho) == (1, 0.9) and rows[4][1] == 0.9 and rows[4][0] == pytest.approx(0.1 / 9)


def test_gain_pairs_each_iw_model_with_the_unweighted_one_under_the_same_weights():
    # 1 checkpoint, rows: unweighted, IW for class 0; 1 seed; 2 classes
    recall = np.array([[[[0.6, 0.8]], [[0.9, 0.7]]]])
    weights = np.array([[1.0, 1.0], [0.8, 0.2]])
    gain = label_shift_gain(recall, weights, iw_rows=[1], unweighted_row=0)
    assert gain.shape == (1, 1, 1)
    assert gain[0, 0, 0] == pytest.approx((0.8 * 0.9 + 0.2 * 0.7) - (0.8 * 0.6 + 0.2 * 0.8))


def synthetic_gain(final_fraction: float, n_classes: int = 10, n_seeds: int = 1, noise: float = 0.002,
                   seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """(checkpoints, cells, seeds) gains rising to 0.05 by epoch 5 and decaying to ``final_fraction`` of it."""
    rng = np.random.default_rng(seed)
    shape = 0.05 * np.minimum(EPOCHS / 5, 1) * np.where(EPOCHS <= 5, 1, final_fraction + (1 - final_fraction)
                                                          * np.exp(-(EPOCHS - 5) / 10))
    cells = [c for c in range(n_classes) for _ in range(3)]
    gain = shape[:, None, None] + noise * rng.standard_normal((len(EPOCHS), len(cells), n_seeds))
    return gain, cells


@pytest.mark.parametrize("n_seeds, unit", [(1, "weighted classes (one seed)"), (4, "seeds")])
def test_dissipating_gain_is_reproduced_with_either_bootstrap_unit(n_seeds, unit):
    gain, cells = synthetic_gain(final_fraction=0.0, n_seeds=n_seeds)
    summary = gain_summary(gain, cells, EPOCHS, total_epochs=100)
    assert summary.unit == unit and summary.n_units == (10 if n_seeds == 1 else 4)
    assert summary.peak_epoch <= 10 and summary.peak.low > 0
    assert label_shift_dissipates(summary).verdict == Verdict.REPRODUCED


def test_negative_control_a_lasting_gain_is_not_reproduced():
    gain, cells = synthetic_gain(final_fraction=0.6)
    decision = label_shift_dissipates(gain_summary(gain, cells, EPOCHS, total_epochs=100))
    assert decision.verdict == Verdict.NOT_REPRODUCED and "final gain" in decision.reason


def test_negative_control_no_early_gain_is_not_reproduced():
    rng = np.random.default_rng(1)
    cells = [c for c in range(10) for _ in range(3)]
    gain = 0.01 * rng.standard_normal((len(EPOCHS), len(cells), 1)) - 0.02  # IW never helps
    decision = label_shift_dissipates(gain_summary(gain, cells, EPOCHS, total_epochs=100))
    assert decision.verdict == Verdict.NOT_REPRODUCED and "no early gain" in decision.reason


def test_peak_is_looked_for_only_in_the_first_tenth_of_training():
    gain, cells = synthetic_gain(final_fraction=0.0)
    gain[50] += 1.0  # a late spike is not an early peak
    summary = gain_summary(gain, cells, EPOCHS, total_epochs=100)
    assert summary.peak_epoch <= 10 and summary.peak.value < 0.1
