"""Image data: CIFAR-10 loaders on tiny fake copies written here, the tasks built on them, digits, real CIFAR."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10

from iwcore.data import images
from iwcore.data.images import (CACHE_ENV, CIFAR10_CLASSES, DatasetNotFound, cifar_multiclass_task,
                                cifar_pair_task, digits_multiclass_task, digits_pair_task, load_cifar10)

N_TRAIN, N_TEST = 20, 4  # fake images per class


@pytest.fixture(scope="module")
def fake_images():
    """Random 32x32 RGB images: (train HWC, train labels, test HWC, test labels)."""
    rng = np.random.default_rng(0)
    make = lambda n: (rng.integers(0, 256, (10 * n, 32, 32, 3), dtype=np.uint8),  # noqa: E731
                      rng.permutation(np.repeat(np.arange(10), n)))
    return (*make(N_TRAIN), *make(N_TEST))


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, fake_images):
    """The fake images as <root>/{train,test}/<class>/<random name>.png."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(1)
    for split, x, y in (("train", *fake_images[:2]), ("test", *fake_images[2:])):
        for i, (img, label) in enumerate(zip(x, y)):
            folder = root / split / CIFAR10_CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{rng.integers(1 << 30)}_{i}.png")
    return root


@pytest.fixture(scope="module")
def torchvision_root(tmp_path_factory, fake_images):
    """The same images in torchvision's official pickle format (5 train batches, test_batch, batches.meta)."""
    root = tmp_path_factory.mktemp("tv")
    batches = root / CIFAR10.base_folder
    batches.mkdir()
    x_train, y_train, x_test, y_test = fake_images
    as_rows = lambda x: x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # noqa: E731  (R plane, G plane, B plane)
    chunks = np.array_split(np.arange(len(x_train)), len(CIFAR10.train_list))
    files = {name: (x_train[c], y_train[c]) for (name, _), c in zip(CIFAR10.train_list, chunks)}
    files[CIFAR10.test_list[0][0]] = (x_test, y_test)
    for name, (x, y) in files.items():
        (batches / name).write_bytes(pickle.dumps({"data": as_rows(x), "labels": y.tolist()}))
    (batches / CIFAR10.meta["filename"]).write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}))
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))


def _same_splits(a, b):
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)


def test_image_folder_and_torchvision_layouts_give_identical_arrays(image_folder, torchvision_root, fake_images):
    from_folder = load_cifar10(image_folder)
    from_pickles = load_cifar10(torchvision_root, verify_checksums=False)
    _same_splits(from_folder, from_pickles)
    assert from_folder.x_train.shape == (10 * N_TRAIN, 3, 32, 32) and from_folder.x_train.dtype == np.uint8
    assert np.bincount(from_folder.y_test).tolist() == [N_TEST] * 10
    assert from_folder.source.startswith("image_folder:") and from_pickles.source.startswith("torchvision:")
    # Same images, canonical order: the set of (label, image) pairs is the one written.
    x_train, y_train = fake_images[:2]
    written = sorted((int(label), img.transpose(2, 0, 1).tobytes()) for img, label in zip(x_train, y_train))
    loaded = sorted((int(label), img.tobytes()) for img, label in zip(from_folder.x_train, from_folder.y_train))
    assert written == loaded


def test_torchvision_layout_checks_md5_unless_told_not_to(torchvision_root):
    with pytest.raises(RuntimeError, match="verify_checksums=False"):
        load_cifar10(torchvision_root)


def test_layout_is_also_found_in_a_cifar10_subfolder(image_folder, tmp_path):
    (tmp_path / "cifar10").symlink_to(image_folder)
    _same_splits(load_cifar10(tmp_path), load_cifar10(image_folder))


def test_missing_dataset_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFound) as error:
        load_cifar10(tmp_path / "nowhere")
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    for expected in (str(tmp_path / "nowhere"), str(tmp_path / "nowhere" / "cifar10"), CIFAR10.base_folder,
                     "train/<class>/*.png", "--data-dir", "--download", "data_batch_1"):
        assert expected in message


def test_incomplete_image_folder_is_not_found(tmp_path):
    for name in CIFAR10_CLASSES[:-1]:
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "test" / name).mkdir(parents=True)
    with pytest.raises(DatasetNotFound, match="truck"):
        load_cifar10(tmp_path)
    (tmp_path / "train" / "truck").mkdir()
    (tmp_path / "test" / "truck").mkdir()
    with pytest.raises(DatasetNotFound, match="no \\*.png files"):
        load_cifar10(tmp_path)


def test_decoded_image_folder_is_cached_and_keyed_by_file_count(image_folder, tmp_path, monkeypatch):
    cache, decodes = tmp_path / "decoded", []
    real_decode = images._decode_pngs
    monkeypatch.setattr(images, "_decode_pngs", lambda paths: decodes.append(1) or real_decode(paths))
    first = load_cifar10(image_folder, cache_dir=cache)
    _same_splits(first, load_cifar10(image_folder, cache_dir=cache))
    assert len(decodes) == 2 and len(list(cache.glob("cifar10-*.npz"))) == 1  # train and test, once

    extra = image_folder / "test" / "cat" / "extra.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(extra)
    try:
        assert len(load_cifar10(image_folder, cache_dir=cache).x_test) == 10 * N_TEST + 1
    finally:
        extra.unlink()
    assert len(decodes) == 4 and len(list(cache.glob("cifar10-*.npz"))) == 2


def test_pair_task_structure(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    task = cifar_pair_task(torchvision_root, n_noise=7)
    assert task.class_names == ("cat", "dog") and task.num_classes == 2
    assert task.x_train.shape == (2 * N_TRAIN, 3, 32, 32) and task.x_train.dtype == torch.float32
    assert task.y_train.tolist() == [0] * N_TRAIN + [1] * N_TRAIN
    assert 0.0 <= task.x_train.min() and task.x_train.max() <= 1.0
    assert {k: (len(v.x), v.role, v.y is None) for k, v in task.eval_sets.items()} == {
        "test": (2 * N_TEST, "in_domain", False), "other": (8 * N_TEST, "out_of_domain", True),
        "noise": (7, "noise", True)}
    assert task.eval_sets["test"].y.sum() == N_TEST
    noise = task.eval_sets["noise"].x
    assert noise.shape == (7, 3, 32, 32) and 0.0 <= noise.min() and noise.max() <= 1.0
    assert task.meta["n_train"] == {"cat": N_TRAIN, "dog": N_TRAIN} and task.meta["seed"] == 0
    # the positive test images are exactly the dog test images
    splits = _unchecked_loader(torchvision_root)
    dogs = torch.from_numpy(splits.x_test[splits.y_test == CIFAR10_CLASSES.index("dog")]).float() / 255
    test = task.eval_sets["test"]
    torch.testing.assert_close(test.x[test.y == 1], dogs)
    assert "noise" not in cifar_pair_task(torchvision_root, n_noise=0).eval_sets


def test_pair_task_subsample_cap_and_label_noise_counts(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    task = cifar_pair_task(torchvision_root, "truck", "automobile", subsample_class="truck", subsample_factor=4,
                           label_noise=0.1, n_train_per_class=16)
    assert task.name == "cifar10-truck-vs-automobile"
    assert task.meta["n_train"] == {"automobile": 16, "truck": 4}
    assert task.meta["n_flipped"] == {"automobile": 2, "truck": 0}  # round(0.1 * 4) == 0
    assert int(task.y_train[:16].sum()) == 2 and int(task.y_train[16:].sum()) == 4
    # a stronger sub-sample keeps a subset of a weaker one's images
    half = cifar_pair_task(torchvision_root, "truck", "automobile", subsample_class="truck", subsample_factor=2,
                           n_train_per_class=16)
    assert {x.numpy().tobytes() for x in task.x_train[16:]} <= {x.numpy().tobytes() for x in half.x_train[8:]}


def test_pair_task_is_deterministic_given_seed(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    make = lambda seed: cifar_pair_task(torchvision_root, subsample_class="cat", subsample_factor=2,  # noqa: E731
                                        label_noise=0.25, n_noise=5, seed=seed)
    a, b, c = make(0), make(0), make(1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.equal(a.eval_sets["noise"].x, b.eval_sets["noise"].x)
    assert not torch.equal(a.eval_sets["noise"].x, c.eval_sets["noise"].x)
    assert not (torch.equal(a.x_train, c.x_train) and torch.equal(a.y_train, c.y_train))


def test_pair_task_rejects_bad_arguments(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    with pytest.raises(ValueError, match="airplane, automobile, bird"):
        cifar_pair_task(torchvision_root, "wolf", "cat")
    for bad in ({"positive": "cat"}, {"subsample_class": "frog"}, {"subsample_factor": 0.5},
                {"label_noise": 1.5}, {"pixels": "zscore"}):
        with pytest.raises(ValueError):
            cifar_pair_task(torchvision_root, **bad)


def test_standardized_pixels_use_training_statistics(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    unit = cifar_pair_task(torchvision_root, n_noise=3)
    task = cifar_pair_task(torchvision_root, n_noise=3, pixels="standardized")
    mean = unit.x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = unit.x_train.std(dim=(0, 2, 3), keepdim=True)
    torch.testing.assert_close(task.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(task.x_train.std(dim=(0, 2, 3)), torch.ones(3))
    for name in ("other", "noise"):
        torch.testing.assert_close(task.eval_sets[name].x, (unit.eval_sets[name].x - mean) / std)


def test_cifar_multiclass_task(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    task = cifar_multiclass_task(torchvision_root, n_train_per_class=5)
    assert task.num_classes == 10 and task.class_names == CIFAR10_CLASSES
    assert torch.bincount(task.y_train).tolist() == [5] * 10
    assert list(task.eval_sets) == ["test"] and torch.bincount(task.eval_sets["test"].y).tolist() == [N_TEST] * 10
    half = cifar_multiclass_task(torchvision_root, train_fraction=0.5)
    assert torch.bincount(half.sampler(3).y).tolist() == [N_TRAIN // 2] * 10


def test_pair_task_replicates_draw_from_the_pool_left_after_validation(torchvision_root, monkeypatch):
    monkeypatch.setattr(images, "load_cifar10", _unchecked_loader)
    task = cifar_pair_task(torchvision_root, n_noise=0, n_val_per_class=4, train_fraction=0.5)
    a, b = task.sampler(1), task.sampler(2)
    assert a.meta["n_train"] == {"cat": 8, "dog": 8} and len(a.x) == len(task.x_train) == 16
    assert not torch.equal(a.x, b.x)
    images_of = lambda x: {img.numpy().tobytes() for img in x}  # noqa: E731
    assert not (images_of(a.x) | images_of(b.x)) & images_of(task.eval_sets["val"].x)
    whole = cifar_pair_task(torchvision_root, n_noise=0, n_val_per_class=4)
    assert whole.sampler(1).x is whole.sampler(2).x is whole.x_train  # the whole pool, shared


def _unchecked_loader(data_dir, **_):
    return load_cifar10(data_dir, verify_checksums=False)


def test_digits_pair_task():
    task = digits_pair_task(8, 3, n_noise=10, subsample_class=3, subsample_factor=4, label_noise=0.05)
    assert task.input_shape == (1, 8, 8) and task.class_names == ("3", "8")
    assert 0.0 <= task.x_train.min() and task.x_train.max() <= 1.0 and task.x_train.max() == 1.0
    n = task.meta["n_train"]
    assert n["3"] == round(127 / 4) and n["8"] == 122  # 70% of 182 threes and 174 eights (stratified)
    assert task.meta["n_flipped"] == {"3": round(0.05 * n["3"]), "8": round(0.05 * n["8"])}
    test, other = task.eval_sets["test"], task.eval_sets["other"]
    assert len(test.x) + len(other.x) == 540 and set(test.y.tolist()) == {0, 1}
    assert task.eval_sets["noise"].x.shape == (10, 1, 8, 8)
    again = digits_pair_task(8, 3, n_noise=10, subsample_class=3, subsample_factor=4, label_noise=0.05)
    assert torch.equal(task.x_train, again.x_train) and torch.equal(task.y_train, again.y_train)
    assert not torch.equal(task.x_train, digits_pair_task(8, 3, seed=1).x_train)
    with pytest.raises(ValueError, match="0, 1, 2"):
        digits_pair_task(8, 11)


def test_validation_split_is_held_out_of_training_and_seeded():
    plain = digits_pair_task(8, 3, n_noise=0)
    task = digits_pair_task(8, 3, n_noise=0, n_val_per_class=10, subsample_class=8, subsample_factor=2)
    val = task.eval_sets["val"]
    assert val.role == "validation" and torch.bincount(val.y).tolist() == [10, 10]
    n = plain.meta["n_train"]
    assert task.meta["n_train"] == {"3": n["3"] - 10, "8": round((n["8"] - 10) / 2)}
    pool = {tuple(x.flatten().tolist()) for x in plain.x_train}  # every val image is a training image ...
    kept = {tuple(x.flatten().tolist()) for x in task.x_train}
    assert all(tuple(x.flatten().tolist()) in pool - kept for x in val.x)  # ... that is no longer trained on
    again = digits_pair_task(8, 3, n_noise=0, n_val_per_class=10)
    assert torch.equal(val.x, again.eval_sets["val"].x) and "val" not in plain.eval_sets


def test_image_tasks_are_registered():
    from iwcore.data import build_task

    assert torch.equal(build_task("digits_pair", positive="8", negative="3", n_noise=5).x_train,
                       digits_pair_task(8, 3, n_noise=5).x_train)


def test_digits_multiclass_task():
    task = digits_multiclass_task(test_fraction=0.5)
    assert task.num_classes == 10 and task.x_train.shape[1:] == (1, 8, 8)
    assert len(task.x_train) + len(task.eval_sets["test"].x) == 1797
    assert torch.equal(task.eval_sets["test"].x, digits_multiclass_task(test_fraction=0.5).eval_sets["test"].x)


def _real_cifar_dir() -> Path:
    return Path(os.environ.get("IWCLAIMS_CIFAR_DIR", Path(__file__).resolve().parents[1] / "../shared/data/cifar10"))


@pytest.mark.slow
@pytest.mark.skipif(not _real_cifar_dir().is_dir(),
                    reason=f"real CIFAR-10 not at {_real_cifar_dir()} (set IWCLAIMS_CIFAR_DIR to run this)")
def test_real_cifar10(monkeypatch):
    monkeypatch.delenv(CACHE_ENV)  # the real decode is cached in the user's cache dir across runs
    splits = load_cifar10(_real_cifar_dir())
    assert np.bincount(splits.y_train).tolist() == [5000] * 10
    assert np.bincount(splits.y_test).tolist() == [1000] * 10
    mean = splits.x_train.reshape(50_000, 3, -1).mean(axis=(0, 2)) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=5e-4)
    task = cifar_pair_task(_real_cifar_dir())
    assert {k: len(v.x) for k, v in task.eval_sets.items()} == {"test": 2000, "other": 8000, "noise": 1000}
    assert len(task.x_train) == 10_000
