import threading

import numpy as np
import pytest
import torch

import iwcore.cache as cache_module
import iwcore.executors as executors
import iwcore.training as training
from iwcore.cache import SweepCache
from iwcore.sweep import Sweep

CPU = torch.device("cpu")


def sweep(**changes):
    base = dict(name="c", task="separable_2d", task_options={"n_per_class": 16, "n_test_per_class": 8},
                model="logreg", weight_ratios=(0.5, 2.0), seeds=(0, 1), epochs=8, batch_size=8, lr=0.1)
    return Sweep(**{**base, **changes})


@pytest.fixture
def cache(tmp_path):
    return SweepCache(tmp_path / "cache", show_progress=False)


def test_cache_returns_what_was_stored_without_training_again(cache, monkeypatch):
    first = cache.run(sweep(), CPU)
    monkeypatch.setattr(executors, "train_sweep", lambda *a, **k: pytest.fail("trained a cached sweep"))
    again = cache.run(sweep(), CPU)
    np.testing.assert_array_equal(first.param_trace, again.param_trace)
    assert again.key == first.key and again.config == sweep().config()


def test_a_corrupt_entry_is_reported_and_retrained(cache):
    first = cache.run(sweep(), CPU)
    (cache.root / first.key / "result.npz").write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="corrupt"):
        again = cache.run(sweep(), CPU)
    np.testing.assert_array_equal(first.param_trace, again.param_trace)


def test_an_interrupted_sweep_resumes_where_it_stopped(cache, tmp_path, monkeypatch):
    reference = SweepCache(tmp_path / "reference", show_progress=False).run(sweep(), CPU)
    monkeypatch.setattr(training, "SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(training, "SAVE_COST_SHARE", float("inf"))  # save after every epoch
    original = training._save_progress

    def save_then_stop(path, sweep_, recorder, group, epoch, *rest):
        original(path, sweep_, recorder, group, epoch, *rest)
        if epoch == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_progress", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        cache.run(sweep(), CPU)
    monkeypatch.setattr(training, "_save_progress", original)
    epochs_trained = []
    monkeypatch.setattr(training, "_evaluate", lambda *a, **k: (epochs_trained.append(1), original_eval(*a, **k)))
    resumed = cache.run(sweep(), CPU)
    np.testing.assert_array_equal(resumed.param_trace, reference.param_trace)
    np.testing.assert_array_equal(resumed.shares["test"], reference.shares["test"])
    assert len(epochs_trained) < len(sweep().checkpoint_epochs)  # the first checkpoints were not redone


original_eval = training._evaluate


def test_a_foreign_progress_file_is_ignored(cache):
    folder = cache.root / cache.key(sweep(), CPU)
    folder.mkdir(parents=True)
    (folder / "progress.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable training progress"):
        result = cache.run(sweep(), CPU)
    assert np.isfinite(result.train_loss).all()


def test_concurrent_runs_of_one_sweep_train_it_once(cache, monkeypatch):
    calls = []
    real = executors.train_sweep
    monkeypatch.setattr(executors, "train_sweep", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    threads = [threading.Thread(target=cache.run, args=(sweep(), CPU)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_the_code_fingerprint_is_stable():
    assert cache_module.sweep_code_version(sweep()) == cache_module.sweep_code_version(sweep())
