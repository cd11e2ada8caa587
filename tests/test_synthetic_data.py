import numpy as np
import pytest
import torch

import iwcore.data.synthetic as synthetic
from iwcore.data import build_task


@pytest.mark.parametrize("name", ["separable_2d", "moons", "gaussians"])
def test_tasks_are_deterministic_given_a_seed(name):
    a, b, c = (build_task(name, n_per_class=32, n_test_per_class=16, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    assert torch.equal(a.x_train, a.sampler(3).x)  # the task's own training set is the sample of its seed
    assert a.y_train.dtype == torch.int64 and set(a.y_train.tolist()) == {0, 1}
    assert {"test", "off_manifold", "grid"} <= a.eval_sets.keys()


def test_separable_data_are_separated_by_the_svm():
    t = build_task("separable_2d", seed=0)
    w, b = np.array(t.meta["svm_coef"]), t.meta["svm_intercept"]
    margin = (t.x_train.numpy() @ w + b) * (2 * t.y_train.numpy() - 1)
    assert margin.min() > 0 and len(t.x_train) == 1024


def test_a_non_separable_draw_fails_loudly(monkeypatch):
    monkeypatch.setattr(synthetic, "_rotate_translate", lambda points, degrees, shift: points + 0.01)
    with pytest.raises(synthetic.NotSeparable):
        build_task("separable_2d", n_per_class=64, seed=0)


def test_off_manifold_points_lie_outside_the_plotted_data_box():
    t = build_task("moons", n_per_class=64, seed=1)
    x0, x1, y0, y1 = t.meta["extent"]
    off = t.eval_sets["off_manifold"].x.numpy()
    inside = (off[:, 0] >= x0) & (off[:, 0] <= x1) & (off[:, 1] >= y0) & (off[:, 1] <= y1)
    assert len(off) > 0 and not inside.any()
    assert len(t.eval_sets["grid"].x) == t.meta["grid_side"] ** 2


def test_unknown_task_is_an_error():
    with pytest.raises(ValueError, match="unknown task"):
        build_task("spirals")
