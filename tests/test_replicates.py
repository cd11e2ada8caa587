"""Seeds as independent replicates: each draws its own training sample; evaluation sets are the task seed's."""

import numpy as np
import pytest
import torch

from iwcore.data import build_task
from iwcore.data.images import digits_pair_task
from iwcore.data.task import EvalSet, Task, TrainingSample
from iwcore.sweep import Sweep, sample_seed
from iwcore.training import _TrainingData, train_sweep

CPU = torch.device("cpu")
TASKS = [("separable_2d", {"n_per_class": 32, "n_test_per_class": 16}),
         ("moons", {"n_per_class": 32, "n_test_per_class": 16}),
         ("gaussians", {"n_per_class": 32, "n_test_per_class": 16}),
         ("digits_pair", {"train_fraction": 0.7, "n_val_per_class": 10, "n_noise": 5}),
         ("digits_pair", {"subsample_class": 3, "subsample_factor": 2, "label_noise": 0.1, "n_noise": 5}),
         ("digits_multiclass", {"n_train_per_class": 40})]


def small(**changes) -> Sweep:
    base = dict(name="r", task="separable_2d", task_options={"n_per_class": 20, "n_test_per_class": 8},
                model="logreg", weight_ratios=(0.5, 2.0), seeds=(0, 1, 2), epochs=20, batch_size=8, lr=0.2)
    return Sweep(**{**base, **changes})


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x}


@pytest.mark.parametrize("name, options", TASKS)
def test_samples_differ_by_seed_and_are_reproducible_from_the_seeds(name, options):
    task = build_task(name, **options)
    seeds = [sample_seed(0, s) for s in range(4)]
    samples = task.training_samples(seeds)
    assert [s.meta["sample_seed"] for s in samples] == seeds
    assert all(len(s.x) == len(task.x_train) and s.x.shape[1:] == task.x_train.shape[1:] for s in samples)
    for i in range(4):
        for j in range(i):
            assert not (torch.equal(samples[i].x, samples[j].x) and torch.equal(samples[i].y, samples[j].y))
    again = build_task(name, **options).training_samples(seeds[::-1])[::-1]  # a new task; order does not matter
    for a, b in zip(samples, again):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.meta == b.meta


@pytest.mark.parametrize("name, options", TASKS[:4])
def test_evaluation_sets_depend_on_the_task_seed_only(name, options):
    task = build_task(name, **options)
    task.training_samples([sample_seed(0, s) for s in range(3)])
    same = build_task(name, **options)
    for key, ev in task.eval_sets.items():
        assert torch.equal(ev.x, same.eval_sets[key].x)
    other = build_task(name, **{**options, "seed": 1})
    assert not torch.equal(task.eval_sets["test"].x, other.eval_sets["test"].x)


def test_every_separable_sample_carries_its_own_hard_margin_svm():
    task = build_task("separable_2d", n_per_class=64)
    for sample in task.training_samples([sample_seed(0, s) for s in range(3)]):
        w, b = np.array(sample.meta["svm_coef"]), sample.meta["svm_intercept"]
        assert ((sample.x.numpy() @ w + b) * (2 * sample.y.numpy() - 1)).min() > 0
    assert task.meta["svm_coef"] == task.sampler(0).meta["svm_coef"]  # the task's own sample is that of its seed


def test_no_validation_or_test_image_is_in_any_replicate_sample():
    task = digits_pair_task(8, 3, n_noise=0, n_val_per_class=15, train_fraction=0.8, label_noise=0.1)
    held_out = _rows(task.eval_sets["val"].x) | _rows(task.eval_sets["test"].x) | _rows(task.eval_sets["other"].x)
    pool = set()
    for sample in task.training_samples([sample_seed(0, s) for s in range(30)]):
        assert not _rows(sample.x) & held_out
        pool |= _rows(sample.x)
    plain = digits_pair_task(8, 3, n_noise=0, n_val_per_class=15)
    assert pool == _rows(plain.x_train)  # the replicates cover the pool left after the validation split


def test_train_fraction_keeps_a_stratified_share_of_each_class_pool():
    whole = digits_pair_task(8, 3, n_noise=0)
    part = digits_pair_task(8, 3, n_noise=0, train_fraction=0.5)
    sample = part.sampler(sample_seed(0, 7))
    assert sample.meta["n_train"] == {k: round(0.5 * n) for k, n in whole.meta["n_train"].items()}
    assert torch.bincount(sample.y).tolist() == list(sample.meta["n_train"].values())
    assert _rows(sample.x) <= _rows(whole.x_train)
    assert all(torch.equal(ev.x, part.eval_sets[k].x) for k, ev in whole.eval_sets.items())
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="train_fraction"):
            digits_pair_task(8, 3, train_fraction=bad)


def test_label_noise_and_subsampling_are_drawn_per_replicate():
    task = digits_pair_task(8, 3, n_noise=0, subsample_class=8, subsample_factor=4, label_noise=0.2)
    a, b = task.training_samples([sample_seed(0, 0), sample_seed(0, 1)])
    assert a.meta["n_train"] == b.meta["n_train"] and a.meta["n_flipped"] == b.meta["n_flipped"]
    n_neg = a.meta["n_train"]["3"]
    assert _rows(a.x[n_neg:]) != _rows(b.x[n_neg:])  # different eights kept
    assert not torch.equal(a.y[:n_neg], b.y[:n_neg])  # different threes flipped


def test_a_whole_pool_sample_is_shared_not_copied():
    task = digits_pair_task(8, 3, n_noise=0).to(CPU)
    samples = task.training_samples([sample_seed(0, s) for s in range(9)])
    assert all(s.x is task.x_train and s.y is task.y_train for s in samples)
    data = _TrainingData(samples)
    assert data.slot == [0] * 9 and data.x.data_ptr() == task.x_train.data_ptr()
    moved = digits_pair_task(8, 3, n_noise=0).to(torch.device("meta"))  # a device other than the host's
    assert all(s.x is moved.x_train for s in moved.training_samples([1, 2]))
    assert digits_pair_task(8, 3, n_noise=0, train_fraction=0.5).to(torch.device("meta")).sampler(4).x.is_meta


def test_a_task_without_sampler_gives_every_seed_its_own_training_set():
    task = Task("fixed", torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), {"test": EvalSet(torch.zeros(2, 2))})
    samples = task.training_samples([5, 6])
    assert all(s.x is task.x_train and s.meta == {"sample_seed": None} for s in samples)
    assert _TrainingData(samples).x.shape == (1, 4, 2)


def test_samples_of_different_sizes_are_an_error_naming_the_seeds():
    sizes = {1: 4, 2: 3}
    task = Task("uneven", torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), {"test": EvalSet(torch.zeros(2, 2))},
                sampler=lambda s: TrainingSample(torch.zeros(sizes[s], 2), torch.zeros(sizes[s], dtype=torch.long)))
    with pytest.raises(ValueError, match=r"must have 4 examples.*\{2: 3\}"):
        task.training_samples([1, 2])


def test_each_seed_trains_on_its_own_sample_whatever_the_other_seeds():
    three = train_sweep(small(), CPU, show_progress=False)
    one = train_sweep(small(seeds=(2,)), CPU, show_progress=False)
    assert [s["sample_seed"] for s in three.meta["samples"]] == [sample_seed(0, s) for s in (0, 1, 2)]
    assert len({tuple(s["svm_coef"]) for s in three.meta["samples"]}) == 3
    assert one.meta["samples"][0] == three.meta["samples"][2]
    np.testing.assert_allclose(one.param_trace[:, :, 0], three.param_trace[:, :, 2], rtol=1e-5, atol=1e-6)


def test_base_seeds_draw_disjoint_replicates():
    a, b = (train_sweep(small(epochs=2).with_base_seed(k), CPU, show_progress=False) for k in (0, 1))
    assert not {s["sample_seed"] for s in a.meta["samples"]} & {s["sample_seed"] for s in b.meta["samples"]}


def test_train_until_trains_the_first_epochs_of_the_full_sweep():
    full = train_sweep(small(), CPU, show_progress=False)
    cut = train_sweep(small(train_until=6), CPU, show_progress=False)
    k = len(cut.epochs)
    assert cut.epochs.tolist() == [e for e in full.epochs.tolist() if e <= 6] and cut.epochs[-1] <= 6
    np.testing.assert_array_equal(cut.param_trace, full.param_trace[:k])
    np.testing.assert_array_equal(cut.shares["test"], full.shares["test"][:k])
