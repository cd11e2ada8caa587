"""The paper's 2D datasets: separable (Fig 1-3), moons and overlapping Gaussians (Figs A.1, A.2).

Each task has held-out test and validation splits from the same distribution, off-manifold points (uniform in a
ring of boxes around the data, where no training point lies) and a dense grid over the plotted
region, whose share classified positive is "the share of the sample space".

Every task has a sampler: a replicate's training sample is a fresh draw of ``n_per_class`` points
per class from the distribution, by its own stream of the sample seed; the task's own ``x_train`` is
the sample of its ``seed``, and its evaluation sets are drawn from other streams of that seed.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from scipy.stats import truncnorm
from sklearn.datasets import make_moons
from sklearn.svm import SVC

from iwcore.data import register_task
from iwcore.data.task import EvalSet, Task, TrainingSample

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


def _labelled(x_pos, x_neg) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.concatenate([x_neg, x_pos]).astype(np.float32)
    y = np.concatenate([np.zeros(len(x_neg)), np.ones(len(x_pos))]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def _seed_for(seed: int, purpose: str) -> int:
    """A seed of its own per (seed, purpose), so a training draw never shares a stream with an evaluation draw."""
    return int(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]).generate_state(1)[0])


def _rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(_seed_for(seed, purpose))


def _assemble(name, sampler, seed, test, val, meta) -> Task:
    """Task whose training set is ``sampler(seed)``, from (positives, negatives) for the test and validation splits."""
    train = sampler(seed)
    x, (x_test, y_test), (x_val, y_val) = train.x, _labelled(*test), _labelled(*val)
    lo, hi = x.numpy().min(0), x.numpy().max(0)
    pad = 0.25 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID_SIDE), np.linspace(lo[1], hi[1], GRID_SIDE))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    span = hi - lo
    off = _rng(seed, "off_manifold").uniform(lo - span, hi + span, size=(4 * len(x_test), 2))
    off = off[~np.all((off >= lo) & (off <= hi), axis=1)][: len(x_test)].astype(np.float32)
    t = torch.from_numpy
    return Task(
        name=name, x_train=x, y_train=train.y,
        eval_sets={
            "test": EvalSet(x_test, y_test, "in_domain"),
            "val": EvalSet(x_val, y_val, "validation"),
            "off_manifold": EvalSet(t(off), None, "out_of_domain"),
            "grid": EvalSet(t(grid), None, "grid"),
        },
        meta={**meta, **train.meta, "seed": seed, "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])],
              "grid_side": GRID_SIDE},
        sampler=sampler,
    )


def _separable_pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    pos = _positives(rng, n)
    return pos, _rotate_translate(pos, degrees=30.0, shift=(1.2, 0.2))


@register_task("separable_2d")
def separable_2d(n_per_class: int = 512, n_test_per_class: int = 256, seed: int = 0) -> Task:
    """512 positives from a truncated 2D normal; negatives are the positives rotated and
    translated. A sample's meta holds its hard-margin SVM (``svm_coef``, ``svm_intercept``);
    a sample the SVM cannot separate fails loudly."""
    def sample(sample_seed: int) -> TrainingSample:
        x, y = _labelled(*_separable_pair(_rng(sample_seed, "train"), n_per_class))
        svm = hard_margin_svm(x.numpy(), y.numpy())
        if (svm.predict(x.numpy()) != y.numpy()).any():
            raise NotSeparable(f"separable_2d(sample seed {sample_seed}) drew a sample the hard-margin SVM "
                               "cannot separate")
        return TrainingSample(x, y, {"svm_coef": svm.coef_[0].tolist(), "svm_intercept": float(svm.intercept_[0])})

    test, val = (_separable_pair(_rng(seed, split), n_test_per_class) for split in ("test", "val"))
    return _assemble("separable_2d", sample, seed, test, val, {})


def _moons(n_per_class: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_moons(2 * n_per_class, noise=noise, random_state=seed)
    return x[y == 1], x[y == 0]


@register_task("moons")
def moons(n_per_class: int = 512, n_test_per_class: int = 256, noise: float = 0.1, seed: int = 0) -> Task:
    """Two interleaved half-moons (scikit-learn): not linearly separable."""
    def sample(sample_seed: int) -> TrainingSample:
        return TrainingSample(*_labelled(*_moons(n_per_class, noise, _seed_for(sample_seed, "train"))))

    test, val = (_moons(n_test_per_class, noise, _seed_for(seed, split)) for split in ("test", "val"))
    return _assemble("moons", sample, seed, test, val, {"noise": noise})


@register_task("gaussians")
def gaussians(n_per_class: int = 512, n_test_per_class: int = 256, distance: float = 1.0, seed: int = 0) -> Task:
    """Two unit-variance 2D Gaussians whose means are ``distance`` apart: they overlap."""
    m = np.array([distance / 2, 0.0])

    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(n, 2)) + m, rng.normal(size=(n, 2)) - m

    def sample(sample_seed: int) -> TrainingSample:
        return TrainingSample(*_labelled(*draw(_rng(sample_seed, "train"), n_per_class)))

    test, val = (draw(_rng(seed, split), n_test_per_class) for split in ("test", "val"))
    return _assemble("gaussians", sample, seed, test, val, {"distance": distance})
