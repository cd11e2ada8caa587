"""Bad input gives a clear error, never a traceback or a silent skip: usage errors (one line, exit
status 4, before any training), dataset validation (counts per class, a corrupt image named by its
path, MRPC errors with file and line), the decoded-image cache keyed by content, a failed download,
and a read-only sweep cache."""

from __future__ import annotations

import errno
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

import iwcore.cache as cache_module
import iwcore.executors as executors
from iwcore import datacheck
from iwcore.cache import CacheNotWritable, SweepCache
from iwcore.data import images, text
from iwcore.data.images import (CACHE_ENV, CIFAR10_CLASSES, DatasetDownloadFailed, DatasetInvalid, ImageSplits,
                                load_cifar10, validate_cifar10)
from iwcore.data.text import read_mrpc_file
from iwcore.sweep import Sweep

pytest_plugins = ["pytester"]

DUMMY = "def test_nothing():\n    pass\n"


def usage_error(result) -> str:
    """The one line a usage error prints (pytest adds a blank line after it)."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr.lines
    return lines[0]


def run(pytester, *args):
    pytester.makepyfile(test_dummy=DUMMY)
    return pytester.runpytest_subprocess("-p", "no:benchmark", "-p", "no:cacheprovider", *args, timeout=60)


# ---------------------------------------------------------------------------------------------
# Usage errors


@pytest.mark.parametrize("value", ["-1", "x"])
def test_a_bad_base_seed_is_a_usage_error(pytester, value):
    assert f"--base-seed {value}: expected a non-negative integer" in usage_error(run(pytester, "--base-seed", value))


@pytest.mark.parametrize("args, message", [
    (("--shard-models", "x"), "--shard-models x: expected a number of models per shard"),
    (("--ray-address", "auto"), "--ray-address: only used with --executor ray"),
    (("--executor", "xdist", "-n", "0"), "--executor xdist: needs pytest-xdist workers"),
])
def test_bad_executor_options_are_usage_errors(pytester, args, message):
    assert message in usage_error(run(pytester, *args))


def test_device_cuda_without_cuda_is_a_usage_error(pytester, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pytester.makepyfile(test_dummy=DUMMY)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1 and "--device cuda" in lines[0] and "sees no CUDA device" in lines[0], lines
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_missing_data_dir_is_a_usage_error(pytester):
    line = usage_error(run(pytester, "--data-dir", str(pytester.path / "nowhere")))
    assert "does not exist" in line


def test_empty_data_dir_is_a_usage_error(pytester):
    (pytester.path / "empty").mkdir()
    assert "is empty" in usage_error(run(pytester, "--data-dir", str(pytester.path / "empty")))


def test_incomplete_data_dir_is_a_usage_error(pytester):
    (pytester.path / "data" / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(pytester.path / "data" / "train" / "cat" / "0.png")
    line = usage_error(run(pytester, "--data-dir", str(pytester.path / "data")))
    assert "holds no complete CIFAR-10 or MRPC" in line and "train/airplane" in line


def tiny_cifar(root, n_train=3, n_test=1, size=32):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for name in CIFAR10_CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def test_a_tiny_cifar_is_refused_for_the_full_tier_naming_counts(pytester):
    data = tiny_cifar(pytester.path / "data")
    line = usage_error(run(pytester, "-m", "full", "--data-dir", str(data)))
    assert "too small for the full tier" in line and "train: 3 images per class (expected 5000)" in line
    result = run(pytester, "-m", "not full", "--data-dir", str(data))  # the project's default -m: accepted
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


def test_a_complete_mrpc_folder_is_accepted(pytester):
    folder = pytester.path / "data" / "mrpc"
    folder.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv", "msr_paraphrase_test.txt"):
        (folder / name).write_text("x")
    assert run(pytester, "--data-dir", str(pytester.path / "data")).ret == 0


def test_datacheck_uses_the_data_modules_names():
    assert datacheck.CIFAR10_CLASSES == images.CIFAR10_CLASSES
    assert set(datacheck.MRPC_REQUIRED) == {text.GLUE_TRAIN, text.GLUE_DEV}
    assert set(datacheck.MRPC_TEST) == {text.ORIGINAL_TEST, text.GLUE_TEST}


# ---------------------------------------------------------------------------------------------
# Dataset validation


@pytest.fixture
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "decoded"))
    return tmp_path / "decoded"


def test_validate_cifar10_counts_per_class_for_the_full_tier():
    y_train, y_test = np.repeat(np.arange(10), 5), np.repeat(np.arange(10), 1)
    splits = ImageSplits(np.zeros((50, 3, 32, 32), np.uint8), y_train, np.zeros((10, 3, 32, 32), np.uint8), y_test,
                         classes=CIFAR10_CLASSES, max_value=255, source="test:60 images")
    assert validate_cifar10(splits, "fast") is splits
    with pytest.raises(DatasetInvalid, match=r"train: 5 images per class \(expected 5000\); "
                                              r"test: 1 images per class \(expected 1000\)"):
        validate_cifar10(splits, "full")
    y_odd = np.repeat(np.arange(10), 1000)
    y_odd[0] = 3  # one airplane test image fewer, one more cat
    odd = ImageSplits(splits.x_train, np.repeat(np.arange(10), 5000), splits.x_test, y_odd, classes=CIFAR10_CLASSES,
                      max_value=255, source="odd")
    with pytest.raises(DatasetInvalid, match=r"\(test: airplane 999, cat 1001 \(expected 1000 per class\)\)$"):
        validate_cifar10(odd, "full")
    full = ImageSplits(splits.x_train, np.repeat(np.arange(10), 5000), splits.x_test, np.repeat(np.arange(10), 1000),
                       classes=CIFAR10_CLASSES, max_value=255, source="counts only")
    assert validate_cifar10(full, "full") is full


def test_a_truncated_png_is_named_by_its_path(tmp_path, data_cache):
    root = tiny_cifar(tmp_path / "cifar", n_train=1, n_test=1)
    broken = root / "train" / "dog" / "0.png"
    broken.write_bytes(broken.read_bytes()[:60])
    with pytest.raises(DatasetInvalid, match=rf"{broken}: cannot decode this image") as err:
        load_cifar10(root)
    assert err.value.__cause__ is None


def test_the_decoded_image_cache_follows_file_contents(tmp_path, data_cache):
    root = tiny_cifar(tmp_path / "cifar", n_train=1, n_test=1)
    first = load_cifar10(root)
    assert len(list(data_cache.glob("*.npz"))) == 1
    changed = root / "train" / "cat" / "0.png"
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(changed)  # changed in place: same name, same count
    second = load_cifar10(root)
    assert len(list(data_cache.glob("*.npz"))) == 2
    cat = CIFAR10_CLASSES.index("cat")
    assert (second.x_train[second.y_train == cat] == 7).all()
    assert not (first.x_train[first.y_train == cat] == 7).all()


def test_a_failed_download_says_so_in_one_message(tmp_path, monkeypatch):
    class Offline:
        def __init__(self, *args, **kwargs):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(images, "CIFAR10", type("CIFAR10", (Offline,), {
        "base_folder": images.CIFAR10.base_folder, "train_list": images.CIFAR10.train_list,
        "test_list": images.CIFAR10.test_list, "meta": images.CIFAR10.meta}))
    with pytest.raises(DatasetDownloadFailed, match="--download: could not fetch CIFAR-10 into .*URLError"):
        load_cifar10(tmp_path, download=True)


HEADER = "#1 ID\t#2 ID\t#1 String\t#2 String"


@pytest.mark.parametrize("row, message", [
    ("x\t1\t2\tA sentence.\tAnother one.", r"line 3: quality label 'x' is not 0 or 1"),
    ("1\t1\t2\t \tAnother one.", r"line 3: empty sentence \(#1 String\)"),
    ("0\t1\t2\tA sentence.\t", r"line 3: empty sentence \(#2 String\)"),
])
def test_mrpc_errors_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "train.tsv"
    path.write_text(f"Quality\t{HEADER}\n1\t1\t2\tFine.\tAlso fine.\n{row}\n", encoding="utf-8")
    with pytest.raises(DatasetInvalid, match=rf"{path}, {message}"):
        read_mrpc_file(path)


# ---------------------------------------------------------------------------------------------
# A read-only sweep cache


def tiny_sweep(**changes):
    base = dict(name="ro", task="separable_2d", task_options={"n_per_class": 8, "n_test_per_class": 4},
                model="logreg", weight_ratios=(0.5, 2.0), seeds=(0,), epochs=2, batch_size=8, lr=0.1)
    return Sweep(**{**base, **changes})


def test_a_read_only_cache_with_every_entry_is_usable(tmp_path, monkeypatch):
    cpu = torch.device("cpu")
    SweepCache(tmp_path, show_progress=False).run(tiny_sweep(), cpu)

    class ReadOnlyLock:  # what FileLock does on a read-only file system
        def __init__(self, path, *args, **kwargs):
            self.path = path

        def acquire(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", self.path)

    monkeypatch.setattr(cache_module, "FileLock", ReadOnlyLock)
    monkeypatch.setattr(executors, "train_sweep", lambda *a, **k: pytest.fail("trained a cached sweep"))
    read_only = SweepCache(tmp_path, show_progress=False)
    assert read_only.run(tiny_sweep(), cpu).meta["source"] == "cache"
    with pytest.raises(CacheNotWritable, match=r"cannot be written \(read-only.*no finished entry ro2-.*'ro2'"):
        read_only.run(tiny_sweep(name="ro2"), cpu)
