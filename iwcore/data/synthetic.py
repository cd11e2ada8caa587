"""The paper's 2D datasets: separable (Fig 1-3), moons and overlapping Gaussians (Figs A.1, A.2).

Each task has held-out test and validation splits from the same distribution, off-manifold points (uniform in a
ring of boxes around the data, where no training point lies) and a dense grid over the plotted
region, whose share classified positive is "the share of the sample space".
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import truncnorm
from sklearn.datasets import make_moons
from sklearn.svm import SVC

from iwcore.data import register_task
from iwcore.data.task import EvalSet, Task

GRID_SIDE = 100
HARD_MARGIN_C = 1e6  # a linear SVC with this C is the hard-margin SVM on separable data


class NotSeparable(ValueError):
    """The generated 'separable' dataset is not linearly separable."""


def _positives(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points from a 2D normal truncated at two standard deviations, elongated along y."""
    z = truncnorm.rvs(-2, 2, size=(n, 2), random_state=rng)
    return z * np.array([0.2, 0.45])


def _rotate_translate(points: np.ndarray, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ rotation.T + np.array(shift)


def hard_margin_svm(x: np.ndarray, y: np.ndarray) -> SVC:
    return SVC(kernel="linear", C=HARD_MARGIN_C).fit(x, y)


def _labelled(x_pos, x_neg):
    x = np.concatenate([x_neg, x_pos]).astype(np.float32)
    y = np.concatenate([np.zeros(len(x_neg)), np.ones(len(x_pos))]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def _assemble(name, train, test, val, meta) -> Task:
    """Task from (positives, negatives) pairs for the train, test and validation splits."""
    (x, y), (x_test, y_test), (x_val, y_val) = _labelled(*train), _labelled(*test), _labelled(*val)
    lo, hi = x.numpy().min(0), x.numpy().max(0)
    pad = 0.25 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID_SIDE), np.linspace(lo[1], hi[1], GRID_SIDE))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    rng = np.random.default_rng(meta["seed"] + 7919)
    span = hi - lo
    off = rng.uniform(lo - span, hi + span, size=(4 * len(x_test), 2))
    off = off[~np.all((off >= lo) & (off <= hi), axis=1)][: len(x_test)].astype(np.float32)
    t = torch.from_numpy
    return Task(
        name=name, x_train=x, y_train=y,
        eval_sets={
            "test": EvalSet(x_test, y_test, "in_domain"),
            "val": EvalSet(x_val, y_val, "in_domain"),
            "off_manifold": EvalSet(t(off), None, "out_of_domain"),
            "grid": EvalSet(t(grid), None, "grid"),
        },
        meta={**meta, "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])],
              "grid_side": GRID_SIDE},
    )


@register_task("separable_2d")
def separable_2d(n_per_class: int = 512, n_test_per_class: int = 256, seed: int = 0) -> Task:
    """512 positives from a truncated 2D normal; negatives are the positives rotated and
    translated. Fails loudly if the sample is not linearly separable."""
    rng = np.random.default_rng(seed)
    pos, pos_test, pos_val = (_positives(rng, n) for n in (n_per_class, n_test_per_class, n_test_per_class))
    move = dict(degrees=30.0, shift=(1.2, 0.2))
    neg, neg_test, neg_val = (_rotate_translate(p, **move) for p in (pos, pos_test, pos_val))
    x = np.concatenate([neg, pos])
    y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    svm = hard_margin_svm(x, y)
    if (svm.predict(x) != y).any():
        raise NotSeparable(f"separable_2d(seed={seed}) drew a sample the hard-margin SVM cannot separate")
    return _assemble("separable_2d", (pos, neg), (pos_test, neg_test), (pos_val, neg_val),
                     {"seed": seed, "svm_coef": svm.coef_[0].tolist(), "svm_intercept": float(svm.intercept_[0])})


@register_task("moons")
def moons(n_per_class: int = 512, n_test_per_class: int = 256, noise: float = 0.1, seed: int = 0) -> Task:
    """Two interleaved half-moons (scikit-learn): not linearly separable."""
    x, y = make_moons(2 * (n_per_class + 2 * n_test_per_class), noise=noise, random_state=seed)
    pos, neg = x[y == 1], x[y == 0]
    cut = [n_per_class, n_per_class + n_test_per_class]
    (pos, pos_test, pos_val), (neg, neg_test, neg_val) = np.split(pos, cut), np.split(neg, cut)
    return _assemble("moons", (pos, neg), (pos_test, neg_test), (pos_val, neg_val), {"seed": seed, "noise": noise})


@register_task("gaussians")
def gaussians(n_per_class: int = 512, n_test_per_class: int = 256, distance: float = 1.0, seed: int = 0) -> Task:
    """Two unit-variance 2D Gaussians whose means are ``distance`` apart: they overlap."""
    rng = np.random.default_rng(seed)
    m = np.array([distance / 2, 0.0])
    draw = lambda n, mean: rng.normal(size=(n, 2)) + mean  # noqa: E731
    splits = [(draw(n, m), draw(n, -m)) for n in (n_per_class, n_test_per_class, n_test_per_class)]
    return _assemble("gaussians", *splits, {"seed": seed, "distance": distance})
