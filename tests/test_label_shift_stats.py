"""C15's statistic: weighted accuracy and the gain Delta(t) of each IW model over the unweighted one."""

from __future__ import annotations

import numpy as np
import pytest

from iwcore.battery.paper.label_shift import label_shift_grid
from iwcore.stats import label_shift_gain, weighted_accuracy


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


