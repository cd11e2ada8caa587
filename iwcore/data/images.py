"""Image tasks: CIFAR-10 (the paper's data) and scikit-learn's 8x8 digits (an offline fast tier).

Loading. ``load_cifar10`` reads either an image-folder copy (``<root>/train/<class>/*.png`` and
``<root>/test/<class>/*.png``) or torchvision's official pickled batches
(``<root>/cifar-10-batches-py``), whichever it finds, and returns the same arrays for the same
images from both: images are sorted by class and, within a class, by a digest of their pixels, so
neither file names nor batch order matter (so a sub-sample is the same images from either).
Decoding 60,000 PNGs (PIL, one process per class folder) takes 10-20 s on two cores, so the
decoded image-folder arrays are cached as one uncompressed .npz (~185 MB) in
``$IWCLAIMS_DATA_CACHE`` (default ``~/.cache/iwclaims``), keyed by the folder's absolute path and
its number of PNG files; a cached load takes under a second.

Pixels. Tasks hold float32 images, channel-first ``(N, C, H, W)``. The paper does not say how it
normalised inputs; the default ``pixels="unit"`` keeps pixel values in [0, 1], the scale on which
"uniform random noise images" are naturally drawn. ``pixels="standardized"`` subtracts the
training set's per-channel mean and divides by its per-channel standard deviation, applied alike
to the training set and every evaluation set (noise included, which is drawn in [0, 1] first).

Sampling. Every random choice comes from its own stream derived from ``seed`` and a purpose name,
so changing one setting (say ``n_noise``) leaves the others' samples unchanged. Per class, one
seeded permutation of the training images decides both the ``n_train_per_class`` cap and the
sub-sample (each a prefix of it), so a larger sub-sampling factor keeps a subset of a smaller one.
Label noise is applied last, to the images actually kept. A validation split ("val", for choosing
a checkpoint) is held out of each class's training images first, by its own seeded stream, with
its true labels; with ``n_val_per_class=0`` (the default) the training images are those without one.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import CIFAR10

from iwcore.data import register_task
from iwcore.data.task import EvalSet, Task

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
PIXEL_SCALINGS = ("unit", "standardized")
CACHE_ENV = "IWCLAIMS_DATA_CACHE"
_SPLITS = ("train", "test")
_CACHE_FORMAT = "canonical-order-v1"  # change when the cached arrays' layout or order changes


class DatasetNotFound(FileNotFoundError):
    """A dataset is not where it was looked for; the message lists the paths and the remedies."""


@dataclass(frozen=True)
class ImageSplits:
    """Labelled train and test images as integer pixels ``(N, C, H, W)`` in ``[0, max_value]``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    max_value: int
    source: str


# ---------------------------------------------------------------------------------------------
# CIFAR-10 loading


def load_cifar10(data_dir, *, download: bool = False, verify_checksums: bool = True,
                 cache_dir=None) -> ImageSplits:
    """CIFAR-10 from an image-folder copy or torchvision's batches under ``data_dir``.

    ``data_dir`` itself and ``data_dir/cifar10`` are searched. With ``download`` and nothing
    found, torchvision fetches the official archive into ``data_dir``. ``verify_checksums=False``
    reads pickled batches that differ from the official release's md5 sums (e.g. test fixtures).
    """
    layout, root = _find_cifar10(Path(data_dir), download)
    if layout == "image_folder":
        return _load_image_folder_cached(root, Path(cache_dir) if cache_dir else _default_cache_dir())
    return _load_torchvision_batches(root, verify_checksums)


def _find_cifar10(data_dir: Path, download: bool) -> tuple[str, Path]:
    root = data_dir.expanduser().resolve()
    looked_at = []
    for candidate in (root, root / "cifar10"):
        class_dirs = [candidate / split / name for split in _SPLITS for name in CIFAR10_CLASSES]
        missing_dirs = [d for d in class_dirs if not d.is_dir()]
        if not missing_dirs:
            return "image_folder", candidate
        looked_at.append(f"image folders {candidate}/{{train,test}}/<class>/*.png "
                         f"(missing e.g. {missing_dirs[0]})")
        batches = candidate / CIFAR10.base_folder
        missing_files = [f for f in _torchvision_file_names() if not (batches / f).is_file()]
        if not missing_files:
            return "torchvision", candidate
        looked_at.append(f"torchvision batches {batches} (missing {', '.join(missing_files)})")
    if download:
        CIFAR10(str(root), train=True, download=True)
        return "torchvision", root
    raise DatasetNotFound(
        "CIFAR-10 not found. Looked for:\n  " + "\n  ".join(looked_at) + "\n"
        "Provide it with --data-dir pointing at a folder holding train/<class>/*.png and "
        "test/<class>/*.png (classes: " + " ".join(CIFAR10_CLASSES) + ") or torchvision's "
        f"{CIFAR10.base_folder}, or pass --download to fetch the official archive (~170 MB) "
        f"into {root}.")


def _torchvision_file_names() -> list[str]:
    return [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]


class _UncheckedCIFAR10(CIFAR10):
    """torchvision's own reader with its md5 checks switched off (``check_integrity`` skips md5 None)."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


def _load_torchvision_batches(root: Path, verify_checksums: bool) -> ImageSplits:
    reader = CIFAR10 if verify_checksums else _UncheckedCIFAR10
    try:
        train, test = (reader(str(root), train=is_train) for is_train in (True, False))
    except RuntimeError as error:
        raise RuntimeError(f"{root / CIFAR10.base_folder} does not match the official CIFAR-10 md5 sums "
                           f"({error}); re-download it, or pass verify_checksums=False to read it as is"
                           ) from error
    if tuple(train.classes) != CIFAR10_CLASSES:
        raise ValueError(f"{root / CIFAR10.base_folder} names classes {train.classes}, not CIFAR-10's")
    arrays = [(ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets)) for ds in (train, test)]
    return _canonical_splits(*arrays, source=f"torchvision:{root / CIFAR10.base_folder}")


def _load_image_folder_cached(root: Path, cache_dir: Path) -> ImageSplits:
    files = {split: [sorted(e.path for e in os.scandir(root / split / name) if e.name.endswith(".png"))
                     for name in CIFAR10_CLASSES] for split in _SPLITS}
    empty = [f"{root / split / name}" for split in _SPLITS for name, paths in zip(CIFAR10_CLASSES, files[split])
             if not paths]
    if empty:
        raise DatasetNotFound(f"CIFAR-10 image folders hold no *.png files: {', '.join(empty)}")
    n_files = sum(len(paths) for per_class in files.values() for paths in per_class)
    key = hashlib.sha256(f"{_CACHE_FORMAT}|{root}|{n_files}".encode()).hexdigest()[:16]
    cache_file = cache_dir / f"cifar10-{key}.npz"
    source = f"image_folder:{root}"
    if cache_file.is_file():
        with np.load(cache_file) as cached:
            return ImageSplits(*(cached[k] for k in ("x_train", "y_train", "x_test", "y_test")),
                               classes=CIFAR10_CLASSES, max_value=255, source=source)
    splits = _canonical_splits(*(_decode_pngs(files[split]) for split in _SPLITS), source=source)
    _save_atomically(cache_file, x_train=splits.x_train, y_train=splits.y_train,
                     x_test=splits.x_test, y_test=splits.y_test)
    return splits


def _decode_pngs(paths_per_class: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Decodes each class's PNGs in its own process (PNG decoding holds the GIL; a thread pool does not help)."""
    with ProcessPoolExecutor(min(len(paths_per_class), os.cpu_count() or 1)) as pool:
        per_class = list(pool.map(_read_pngs, paths_per_class))
    labels = np.repeat(np.arange(len(per_class)), [len(x) for x in per_class])
    return np.concatenate(per_class), labels


def _read_pngs(paths: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in paths])


def _canonical_splits(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], *,
                      source: str) -> ImageSplits:
    """Orders each split by label, then by a digest of the pixels, so the order is the images' own."""
    ordered = []
    for x, y in (train, test):
        digests = np.array([int.from_bytes(hashlib.blake2b(img.tobytes(), digest_size=8).digest(), "little")
                            for img in x], dtype=np.uint64)
        order = np.lexsort((digests, y))
        ordered += [np.ascontiguousarray(x[order], dtype=np.uint8), y[order].astype(np.int64)]
    return ImageSplits(*ordered, classes=CIFAR10_CLASSES, max_value=255, source=source)


def _default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, "~/.cache/iwclaims")).expanduser()


def _save_atomically(path: Path, **arrays: np.ndarray) -> None:
    """Writes then renames, so concurrent workers never read a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)


# ---------------------------------------------------------------------------------------------
# Digits loading


def load_digits_splits(test_fraction: float = 0.3, seed: int = 0) -> ImageSplits:
    """scikit-learn's 1797 8x8 digits (pixels 0..16), split per class into train and test by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.uint8)[:, None]
    y = digits.target.astype(np.int64)
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y,
                                           random_state=_seed_for(seed, "split"))
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return ImageSplits(x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes=DIGIT_CLASSES,
                       max_value=16, source="sklearn:load_digits")


# ---------------------------------------------------------------------------------------------
# Tasks


@register_task("cifar_pair")
def cifar_pair_task(data_dir, positive: str = "dog", negative: str = "cat", *, n_noise: int = 1000,
                    subsample_class: str | None = None, subsample_factor: float = 1,
                    label_noise: float = 0.0, n_train_per_class: int | None = None, n_val_per_class: int = 0,
                    pixels: str = "unit", seed: int = 0, download: bool = False) -> Task:
    """Binary CIFAR-10 task (label 1 = ``positive``) with eval sets "test", "other" and "noise".

    "test": the pair's test images (labelled); "other": the other eight classes' test images;
    "noise": ``n_noise`` uniform-noise images (omitted when 0). ``subsample_class`` keeps
    ``1/subsample_factor`` of that class's training images; ``label_noise`` flips that fraction
    of each class's (kept) training labels; ``n_train_per_class`` caps each class first;
    ``n_val_per_class`` training images per class are held out before all of that as "val".
    """
    return _pair_task("cifar10", load_cifar10(data_dir, download=download), str(positive), str(negative),
                      n_noise=n_noise, subsample_class=subsample_class, subsample_factor=subsample_factor,
                      label_noise=label_noise, n_train_per_class=n_train_per_class, n_val_per_class=n_val_per_class,
                      pixels=pixels, seed=seed)


@register_task("cifar_multiclass")
def cifar_multiclass_task(data_dir, *, n_train_per_class: int | None = None, pixels: str = "unit",
                          seed: int = 0, download: bool = False) -> Task:
    """All ten CIFAR-10 classes (labels in torchvision's order) with the labelled "test" set."""
    return _multiclass_task("cifar10", load_cifar10(data_dir, download=download),
                            n_train_per_class=n_train_per_class, pixels=pixels, seed=seed)


@register_task("digits_pair")
def digits_pair_task(positive: int | str = 8, negative: int | str = 3, *, n_noise: int = 1000,
                     subsample_class: int | str | None = None, subsample_factor: float = 1,
                     label_noise: float = 0.0, n_train_per_class: int | None = None, n_val_per_class: int = 0,
                     pixels: str = "unit", seed: int = 0, test_fraction: float = 0.3) -> Task:
    """Like ``cifar_pair_task`` on 8x8 digits ``(N, 1, 8, 8)``; the default pair (8 vs 3) is a similar-looking one."""
    return _pair_task("digits", load_digits_splits(test_fraction, seed), str(positive), str(negative),
                      n_noise=n_noise, subsample_class=subsample_class, subsample_factor=subsample_factor,
                      label_noise=label_noise, n_train_per_class=n_train_per_class, n_val_per_class=n_val_per_class,
                      pixels=pixels, seed=seed)


@register_task("digits_multiclass")
def digits_multiclass_task(*, n_train_per_class: int | None = None, pixels: str = "unit", seed: int = 0,
                           test_fraction: float = 0.3) -> Task:
    """All ten digits with the labelled held-out "test" set."""
    return _multiclass_task("digits", load_digits_splits(test_fraction, seed),
                            n_train_per_class=n_train_per_class, pixels=pixels, seed=seed)


def _pair_task(dataset: str, splits: ImageSplits, positive: str, negative: str, *, n_noise: int,
               subsample_class: int | str | None, subsample_factor: float, label_noise: float,
               n_train_per_class: int | None, n_val_per_class: int, pixels: str, seed: int) -> Task:
    subsample_class = None if subsample_class is None else str(subsample_class)
    pos, neg = _class_index(splits, positive), _class_index(splits, negative)
    if pos == neg:
        raise ValueError(f"positive and negative class are both {positive!r}")
    if subsample_class not in (None, positive, negative):
        raise ValueError(f"subsample_class must be {positive!r} or {negative!r}, got {subsample_class!r}")
    if subsample_factor < 1:
        raise ValueError(f"subsample_factor must be >= 1, got {subsample_factor}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1], got {label_noise}")
    train_idx, labels, val_idx, val_labels, n_train, n_flipped = [], [], [], [], {}, {}
    for label, cls in ((0, neg), (1, pos)):
        name = splits.classes[cls]
        factor = subsample_factor if name == subsample_class else 1
        pool, held_out = _hold_out(np.flatnonzero(splits.y_train == cls), n_val_per_class, seed, name)
        val_idx.append(held_out)
        val_labels.append(np.full(len(held_out), label, dtype=np.int64))
        idx = _seeded_prefix(pool, n_train_per_class, factor, seed, name)
        y = np.full(len(idx), label, dtype=np.int64)
        flip = _rng(seed, f"label_noise/{name}").choice(len(idx), round(label_noise * len(idx)), replace=False)
        y[flip] = 1 - label
        train_idx.append(idx)
        labels.append(y)
        n_train[name], n_flipped[name] = len(idx), len(flip)
    train_idx = np.concatenate(train_idx)

    in_pair = np.isin(splits.y_test, [neg, pos])
    x_train = _to_float(splits.x_train[train_idx], splits.max_value)
    scale = _fit_pixel_scaling(pixels, x_train)
    eval_sets = {
        "test": EvalSet(_to_float(splits.x_test[in_pair], splits.max_value),
                        torch.from_numpy((splits.y_test[in_pair] == pos).astype(np.int64)), "in_domain"),
        "other": EvalSet(_to_float(splits.x_test[~in_pair], splits.max_value), None, "out_of_domain"),
    }
    if n_val_per_class:
        eval_sets["val"] = EvalSet(_to_float(splits.x_train[np.concatenate(val_idx)], splits.max_value),
                                   torch.from_numpy(np.concatenate(val_labels)), "in_domain")
    if n_noise:
        noise = _rng(seed, "noise").random((n_noise, *splits.x_train.shape[1:]), dtype=np.float32)
        eval_sets["noise"] = EvalSet(torch.from_numpy(noise), None, "noise")
    meta = {
        "dataset": dataset, "source": splits.source, "positive": positive, "negative": negative,
        "n_train": n_train, "n_flipped": n_flipped, "subsample_class": subsample_class,
        "subsample_factor": subsample_factor, "label_noise": label_noise, "n_train_per_class": n_train_per_class,
        "n_val_per_class": n_val_per_class,
        "n_eval": {k: len(v.x) for k, v in eval_sets.items()}, "pixels": pixels, "seed": seed,
    }
    return Task(f"{dataset}-{positive}-vs-{negative}", scale(x_train), torch.from_numpy(np.concatenate(labels)),
                {k: EvalSet(scale(v.x), v.y, v.role) for k, v in eval_sets.items()},
                num_classes=2, class_names=(negative, positive), meta=meta)


def _multiclass_task(dataset: str, splits: ImageSplits, *, n_train_per_class: int | None, pixels: str,
                     seed: int) -> Task:
    per_class = {name: _seeded_prefix(np.flatnonzero(splits.y_train == cls), n_train_per_class, 1, seed, name)
                 for cls, name in enumerate(splits.classes)}
    train_idx = np.concatenate(list(per_class.values()))
    x_train = _to_float(splits.x_train[train_idx], splits.max_value)
    scale = _fit_pixel_scaling(pixels, x_train)
    test = EvalSet(scale(_to_float(splits.x_test, splits.max_value)), torch.from_numpy(splits.y_test), "in_domain")
    meta = {"dataset": dataset, "source": splits.source,
            "n_train": {name: len(idx) for name, idx in per_class.items()},
            "n_train_per_class": n_train_per_class, "n_eval": {"test": len(test.x)}, "pixels": pixels, "seed": seed}
    return Task(f"{dataset}-multiclass", scale(x_train), torch.from_numpy(splits.y_train[train_idx]),
                {"test": test}, num_classes=len(splits.classes), class_names=splits.classes, meta=meta)


def _class_index(splits: ImageSplits, name: str) -> int:
    if name not in splits.classes:
        raise ValueError(f"unknown class {name!r}; expected one of {', '.join(splits.classes)}")
    return splits.classes.index(name)


def _hold_out(idx: np.ndarray, n_held_out: int, seed: int, class_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(the rest, a seeded choice of ``n_held_out`` of ``idx``), both sorted; nothing held out for 0."""
    if not 0 <= n_held_out < len(idx):
        raise ValueError(f"cannot hold out {n_held_out} of the {len(idx)} training images of {class_name!r}")
    held_out = np.sort(_rng(seed, f"validation/{class_name}").choice(idx, n_held_out, replace=False))
    return np.setdiff1d(idx, held_out), held_out


def _seeded_prefix(idx: np.ndarray, cap: int | None, factor: float, seed: int, class_name: str) -> np.ndarray:
    """A seeded subset of ``idx``: at most ``cap`` of them, then ``1/factor`` of those (sorted)."""
    permuted = _rng(seed, f"train_subset/{class_name}").permutation(idx)
    kept = permuted[:cap] if cap is not None else permuted
    return np.sort(kept[:max(1, round(len(kept) / factor))])


def _fit_pixel_scaling(pixels: str, x_train: torch.Tensor):
    """The map from [0, 1] pixels to model inputs, fitted on the training images, for every image set."""
    if pixels not in PIXEL_SCALINGS:
        raise ValueError(f"unknown pixel scaling {pixels!r}; expected one of {PIXEL_SCALINGS}")
    if pixels == "unit":
        return lambda x: x
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)[0]
    std = x_train.std(dim=(0, 2, 3), keepdim=True)[0].clamp_min(1e-8)
    return lambda x: (x - mean) / std


def _to_float(x: np.ndarray, max_value: int) -> torch.Tensor:
    return torch.from_numpy(x).float().div_(max_value)


def _seed_for(seed: int, purpose: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]).generate_state(1)[0])


def _rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(_seed_for(seed, purpose))
