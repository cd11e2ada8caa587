import dataclasses

import pytest

from iwcore.sweep import SEED_BLOCK, Sweep, default_schedule, early_window_end, powers, sample_seed


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
    (dict(train_until=21), "train_until"),
    (dict(train_until=-1), "train_until"),
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


def test_base_seed_moves_every_seed_to_its_own_block_and_shifts_the_task_seed():
    s = make().with_base_seed(100)
    assert s.seeds == (100 * SEED_BLOCK, 100 * SEED_BLOCK + 1) and s.task_options["seed"] == 100
    assert make().with_base_seed(0) == make()


def test_different_base_seeds_share_no_seed():
    wide = make(seeds=tuple(range(1000)))
    seeds = [set(wide.with_base_seed(b).seeds) for b in range(4)]
    assert all(not (seeds[a] & seeds[b]) for a in range(4) for b in range(a + 1, 4))
    with pytest.raises(ValueError, match="base seed must be >= 0"):
        make().with_base_seed(-1)
    with pytest.raises(ValueError, match="outside"):
        make(seeds=(0, SEED_BLOCK)).with_base_seed(1)


def test_sample_seed_depends_only_on_the_task_seed_and_the_seed():
    assert sample_seed(0, 3) == sample_seed(0, 3)
    assert len({sample_seed(t, s) for t in range(3) for s in range(100)}) == 300
    assert sample_seed(0, 1) not in (0, 1)  # not the seed itself: the task seed's own sample is another draw


def test_null_sweep_trains_unweighted_under_its_own_name():
    null = make().null()
    assert null.null_weights and null.name == "s-null" and null.weight_ratios == make().weight_ratios
    assert null.null() == null and null.key("v1", "cpu") != make().key("v1", "cpu")


def test_train_until_drops_later_checkpoints_but_keeps_the_schedule_and_window():
    full, cut = make(epochs=100), make(epochs=100, train_until=10)
    assert cut.last_epoch == 10 and full.last_epoch == 100 and make(train_until=0).last_epoch == 20
    assert cut.checkpoint_epochs == tuple(e for e in full.checkpoint_epochs if e <= 10)
    assert cut.snapshots[-1] == cut.checkpoint_epochs[-1] <= 10
    assert make(epochs=100, checkpoints=(5, 50), train_until=20).checkpoint_epochs == (1, 5)


def test_key_changes_with_any_setting_code_or_device():
    s = make()
    assert s.key("v1", "cpu") == make().key("v1", "cpu")
    assert len({s.key("v1", "cpu"), s.key("v2", "cpu"), s.key("v1", "cuda"),
                dataclasses.replace(s, l2=0.001).key("v1", "cpu")}) == 4
