import dataclasses

import pytest

from iwcore.sweep import Sweep, default_schedule, early_window_end, powers


def make(**changes):
    base = dict(name="s", task="separable_2d", model="logreg", weight_ratios=(0.5, 1.0, 2.0), seeds=(0, 1),
                epochs=20, batch_size=8, lr=0.1)
    return Sweep(**{**base, **changes})


@pytest.mark.parametrize("changes, message", [
    (dict(weight_ratios=()), "no weight ratios"),
    (dict(seeds=()), "no seeds"),
    (dict(weight_ratios=(0.0, 1.0)), "positive"),
    (dict(weight_ratios=(-2.0,)), "positive"),
    (dict(seeds=(1, 1)), "repeats a seed"),
    (dict(epochs=0), "must be positive"),
    (dict(optimizer="rmsprop"), "unknown optimizer"),
    (dict(normalisation="sum"), "unknown normalisation"),
    (dict(lr="auto"), "lr must be"),
    (dict(optimizer="adam", lr_by_ratio={1.0: 0.05}), "plain SGD"),
    (dict(l2=-1.0), "L2"),
    (dict(checkpoints=(0, 5)), "checkpoints outside"),
])
def test_bad_sweeps_are_rejected_with_a_clear_error(changes, message):
    with pytest.raises(ValueError, match=message):
        make(**changes)


@pytest.mark.parametrize("epochs", [1, 3, 10, 1000, 10_000])
def test_default_schedule_is_dense_early_and_keeps_first_and_last(epochs):
    s = default_schedule(epochs)
    assert s[0] == 1 and s[-1] == epochs and list(s) == sorted(set(s))
    assert sum(e <= early_window_end(epochs) for e in s) >= min(early_window_end(epochs), 10)


def test_paper_weight_grids():
    assert len(powers(2, 8)) == 17 and powers(2, 8)[0] == 2 ** -8 and powers(4, 4)[-1] == 256


def test_base_seed_shifts_every_seed_and_the_data():
    s = make().with_base_seed(100)
    assert s.seeds == (100, 101) and s.task_options["seed"] == 100
    assert make().with_base_seed(0) == make()


def test_key_changes_with_any_setting_code_or_device():
    s = make()
    assert s.key("v1", "cpu") == make().key("v1", "cpu")
    assert len({s.key("v1", "cpu"), s.key("v2", "cpu"), s.key("v1", "cuda"),
                dataclasses.replace(s, l2=0.001).key("v1", "cpu")}) == 4
