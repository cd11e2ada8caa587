"""Image tasks: CIFAR-10 (the paper's data) and scikit-learn's 8x8 digits (an offline fast tier).

Loading. ``load_cifar10`` reads either an image-folder copy (``<root>/train/<class>/*.png`` and
``<root>/test/<class>/*.png``) or torchvision's official pickled batches
(``<root>/cifar-10-batches-py``), whichever it finds, and returns the same arrays for the same
images from both: images are sorted by class and, within a class, by a digest of their pixels, so
neither file names nor batch order matter (so a sub-sample is the same images from either).
Decoding 60,000 PNGs (PIL, one process per class folder) takes 10-20 s on two cores, so the
decoded image-folder arrays are cached as one uncompressed .npz (~185 MB) in
``$IWCLAIMS_DATA_CACHE`` (default ``~/.cache/iwclaims``), keyed by the folder's absolute path and
the name, size and modification time of every PNG file (a file changed in place invalidates it); a
cached load takes under a second. An image that does not decode is named by its path;
``validate_cifar10(splits, "full")`` refuses a copy without the official 5,000 + 1,000 images per class.

Pixels. Tasks hold float32 images, channel-first ``(N, C, H, W)``. The paper does not say how it
normalised inputs; the default ``pixels="unit"`` keeps pixel values in [0, 1], the scale on which
"uniform random noise images" are naturally drawn. ``pixels="standardized"`` subtracts the
training set's per-channel mean and divides by its per-channel standard deviation, applied alike
to the training set and every evaluation set (noise included, which is drawn in [0, 1] first).

Sampling. Every random choice comes from its own stream derived from a seed and a purpose name,
so changing one setting (say ``n_noise``) leaves the others' samples unchanged. The task ``seed``
fixes the split: the train/test split of digits, a validation split ("val", for choosing a
checkpoint, with its true labels) held out of each class's training images, the noise images;
what is left of each class's training images is its *pool*. Each replicate (sample seed, see
``iwcore.data.task``) draws its training sample from the pools: per class, one permutation of the
pool whose prefix keeps ``train_fraction`` of it, at most ``n_train_per_class`` of that, and
``1/subsample_factor`` of that for the sub-sampled class (so a larger factor keeps a subset of a
smaller one's images); label noise then flips its share of each class's kept labels. The task's
own ``x_train`` is the sample of ``seed``. Validation and test images are never in any sample.
A sample that keeps every pool image with its true label is the pool itself (the same tensors), so
replicates of a whole dataset share one copy in memory.
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
from iwcore.data.task import EvalSet, Task, TrainingSample

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
PIXEL_SCALINGS = ("unit", "standardized")
CACHE_ENV = "IWCLAIMS_DATA_CACHE"
_SPLITS = ("train", "test")
_CACHE_FORMAT = "canonical-order-v1"  # change when the cached arrays' layout or order changes


class DatasetNotFound(FileNotFoundError):
    """A dataset is not where it was looked for; the message lists the paths and the remedies."""


class DatasetInvalid(ValueError):
    """A dataset is there but unusable: a corrupt file (named), or too few images for the tier."""


class DatasetDownloadFailed(RuntimeError):
    """``--download`` was asked for and the download failed (e.g. offline)."""


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
        try:
            CIFAR10(str(root), train=True, download=True)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; offline, DNS, HTTP errors
            raise DatasetDownloadFailed(f"--download: could not fetch CIFAR-10 into {root} "
                                        f"({type(error).__name__}: {error}); download it elsewhere and pass "
                                        f"--data-dir") from None
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
    key = _content_key(root, files)
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
        try:
            per_class = list(pool.map(_read_pngs, paths_per_class))
        except DatasetInvalid as error:  # raised in a worker process: keep the message, drop its traceback
            raise DatasetInvalid(str(error)) from None
    labels = np.repeat(np.arange(len(per_class)), [len(x) for x in per_class])
    return np.concatenate(per_class), labels


def _read_pngs(paths: list[str]) -> np.ndarray:
    return np.stack([_read_png(p) for p in paths])


def _read_png(path: str) -> np.ndarray:
    """One image as (C, H, W) uint8; a file that does not decode is named in the error."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as error:  # truncated, not an image, bad header
        raise DatasetInvalid(f"{path}: cannot decode this image ({error})") from None
    if pixels.shape != (32, 32, 3):
        raise DatasetInvalid(f"{path}: image of size {pixels.shape[1]}x{pixels.shape[0]}, CIFAR-10's are 32x32")
    return pixels.transpose(2, 0, 1)


def _content_key(root: Path, files: dict[str, list[list[str]]]) -> str:
    """Cache key of the decoded arrays: the folder, and the name, size and modification time of every
    file, so that any file added, removed or changed in place gives a new key."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{root}".encode())
    for split in _SPLITS:
        for per_class in files[split]:
            for path in per_class:
                st = os.stat(path)
                digest.update(f"|{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def validate_cifar10(splits: ImageSplits, tier: str) -> ImageSplits:
    """``splits`` if they can serve ``tier``; for the full tier every class must have the official
    5,000 training and 1,000 test images (a tiny or partial copy is refused, naming the counts)."""
    if tier != "full":
        return splits
    from iwcore.datacheck import CIFAR10_PER_CLASS, count_problems

    counts = {split: dict(zip(splits.classes, np.bincount(y, minlength=len(splits.classes)).tolist()))
              for split, y in (("train", splits.y_train), ("test", splits.y_test))}
    problems = count_problems(counts, CIFAR10_PER_CLASS)
    if problems:
        raise DatasetInvalid(f"CIFAR-10 from {splits.source} is not the full dataset the full tier needs "
                             f"({'; '.join(problems)})")
    return splits


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
                    train_fraction: float = 1.0, pixels: str = "unit", seed: int = 0, download: bool = False) -> Task:
    """Binary CIFAR-10 task (label 1 = ``positive``) with eval sets "test", "other" and "noise".

    "test": the pair's test images (labelled); "other": the other eight classes' test images;
    "noise": ``n_noise`` uniform-noise images (omitted when 0). ``n_val_per_class`` training
    images per class are held out as "val"; each replicate's training sample then keeps
    ``train_fraction`` of each class's remaining images, at most ``n_train_per_class`` of them,
    and ``1/subsample_factor`` of ``subsample_class``'s; ``label_noise`` flips that fraction of
    each class's kept labels (see the module's "Sampling").
    """
    return _pair_task("cifar10", load_cifar10(data_dir, download=download), str(positive), str(negative),
                      n_noise=n_noise, subsample_class=subsample_class, subsample_factor=subsample_factor,
                      label_noise=label_noise, n_train_per_class=n_train_per_class, n_val_per_class=n_val_per_class,
                      train_fraction=train_fraction, pixels=pixels, seed=seed)


@register_task("cifar_multiclass")
def cifar_multiclass_task(data_dir, *, n_train_per_class: int | None = None, train_fraction: float = 1.0,
                          pixels: str = "unit", seed: int = 0, download: bool = False) -> Task:
    """All ten CIFAR-10 classes (labels in torchvision's order) with the labelled "test" set."""
    return _multiclass_task("cifar10", load_cifar10(data_dir, download=download),
                            n_train_per_class=n_train_per_class, train_fraction=train_fraction, pixels=pixels,
                            seed=seed)


@register_task("digits_pair")
def digits_pair_task(positive: int | str = 8, negative: int | str = 3, *, n_noise: int = 1000,
                     subsample_class: int | str | None = None, subsample_factor: float = 1,
                     label_noise: float = 0.0, n_train_per_class: int | None = None, n_val_per_class: int = 0,
                     train_fraction: float = 1.0, pixels: str = "unit", seed: int = 0,
                     test_fraction: float = 0.3) -> Task:
    """Like ``cifar_pair_task`` on 8x8 digits ``(N, 1, 8, 8)``; the default pair (8 vs 3) is a similar-looking one."""
    return _pair_task("digits", load_digits_splits(test_fraction, seed), str(positive), str(negative),
                      n_noise=n_noise, subsample_class=subsample_class, subsample_factor=subsample_factor,
                      label_noise=label_noise, n_train_per_class=n_train_per_class, n_val_per_class=n_val_per_class,
                      train_fraction=train_fraction, pixels=pixels, seed=seed)


@register_task("digits_multiclass")
def digits_multiclass_task(*, n_train_per_class: int | None = None, train_fraction: float = 1.0, pixels: str = "unit",
                           seed: int = 0, test_fraction: float = 0.3) -> Task:
    """All ten digits with the labelled held-out "test" set."""
    return _multiclass_task("digits", load_digits_splits(test_fraction, seed),
                            n_train_per_class=n_train_per_class, train_fraction=train_fraction, pixels=pixels,
                            seed=seed)


def _pair_task(dataset: str, splits: ImageSplits, positive: str, negative: str, *, n_noise: int,
               subsample_class: int | str | None, subsample_factor: float, label_noise: float,
               n_train_per_class: int | None, n_val_per_class: int, train_fraction: float, pixels: str,
               seed: int) -> Task:
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
    pools, val_idx, val_labels = {}, [], []
    for label, cls in ((0, neg), (1, pos)):
        name = splits.classes[cls]
        pool, held_out = _hold_out(np.flatnonzero(splits.y_train == cls), n_val_per_class, seed, name)
        pools[name] = (label, pool)
        val_idx.append(held_out)
        val_labels.append(np.full(len(held_out), label, dtype=np.int64))
    sampler, scale = _pool_sampler(splits, pools, train_fraction=train_fraction, n_train_per_class=n_train_per_class,
                                   factors={subsample_class: subsample_factor}, label_noise=label_noise,
                                   pixels=pixels, seed=seed)
    own = sampler(seed)

    in_pair = np.isin(splits.y_test, [neg, pos])
    eval_sets = {
        "test": EvalSet(_to_float(splits.x_test[in_pair], splits.max_value),
                        torch.from_numpy((splits.y_test[in_pair] == pos).astype(np.int64)), "in_domain"),
        "other": EvalSet(_to_float(splits.x_test[~in_pair], splits.max_value), None, "out_of_domain"),
    }
    if n_val_per_class:
        eval_sets["val"] = EvalSet(_to_float(splits.x_train[np.concatenate(val_idx)], splits.max_value),
                                   torch.from_numpy(np.concatenate(val_labels)), "validation")
    if n_noise:
        noise = _rng(seed, "noise").random((n_noise, *splits.x_train.shape[1:]), dtype=np.float32)
        eval_sets["noise"] = EvalSet(torch.from_numpy(noise), None, "noise")
    meta = {
        "dataset": dataset, "source": splits.source, "positive": positive, "negative": negative,
        **own.meta, "subsample_class": subsample_class,
        "subsample_factor": subsample_factor, "label_noise": label_noise, "n_train_per_class": n_train_per_class,
        "n_val_per_class": n_val_per_class, "train_fraction": train_fraction,
        "n_eval": {k: len(v.x) for k, v in eval_sets.items()}, "pixels": pixels, "seed": seed,
    }
    return Task(f"{dataset}-{positive}-vs-{negative}", own.x, own.y,
                {k: EvalSet(scale(v.x), v.y, v.role) for k, v in eval_sets.items()},
                num_classes=2, class_names=(negative, positive), meta=meta, sampler=sampler)


def _multiclass_task(dataset: str, splits: ImageSplits, *, n_train_per_class: int | None, train_fraction: float,
                     pixels: str, seed: int) -> Task:
    pools = {name: (cls, np.flatnonzero(splits.y_train == cls)) for cls, name in enumerate(splits.classes)}
    sampler, scale = _pool_sampler(splits, pools, train_fraction=train_fraction, n_train_per_class=n_train_per_class,
                                   factors={}, label_noise=0.0, pixels=pixels, seed=seed)
    own = sampler(seed)
    test = EvalSet(scale(_to_float(splits.x_test, splits.max_value)), torch.from_numpy(splits.y_test), "in_domain")
    meta = {"dataset": dataset, "source": splits.source, "n_train": own.meta["n_train"],
            "n_train_per_class": n_train_per_class, "train_fraction": train_fraction, "n_eval": {"test": len(test.x)},
            "pixels": pixels, "seed": seed}
    return Task(f"{dataset}-multiclass", own.x, own.y, {"test": test}, num_classes=len(splits.classes),
                class_names=splits.classes, meta=meta, sampler=sampler)


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


def _pool_sampler(splits: ImageSplits, pools: dict[str, tuple[int, np.ndarray]], *, train_fraction: float,
                  n_train_per_class: int | None, factors: dict, label_noise: float, pixels: str, seed: int):
    """(sampler, pixel scaling) of a task whose replicates draw their training samples from fixed pools.

    ``pools`` maps each class name to (its label, the indices of its pool in ``splits.x_train``);
    ``factors`` maps a class name to its sub-sampling factor. A sample keeps, per class in the
    pools' order, a prefix of one permutation of the pool drawn by the sample seed, and flips
    ``label_noise`` of the kept labels (binary labels) by another stream of it. The pixel scaling
    is fitted on the task ``seed``'s own sample and applies to every sample.
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    sizes = [len(idx) for _, idx in pools.values()]
    starts = np.cumsum([0, *sizes[:-1]])
    pool_y = torch.from_numpy(np.repeat([label for label, _ in pools.values()], sizes).astype(np.int64))
    unit = _to_float(splits.x_train[np.concatenate([idx for _, idx in pools.values()])], splits.max_value)

    def draw(sample_seed: int, pool_x: torch.Tensor) -> TrainingSample:
        kept, flipped, n_train, n_flipped, offset = [], [], {}, {}, 0
        for (name, (_, idx)), start in zip(pools.items(), starts):
            n = max(1, round(train_fraction * len(idx)))
            n = n if n_train_per_class is None else min(n, n_train_per_class)
            n = max(1, round(n / factors.get(name, 1)))
            kept.append(start + np.sort(_rng(sample_seed, f"train_subset/{name}").permutation(len(idx))[:n]))
            flips = _rng(sample_seed, f"label_noise/{name}").choice(n, round(label_noise * n), replace=False)
            flipped.append(offset + flips)
            n_train[name], n_flipped[name], offset = n, len(flips), offset + n
        meta = {"n_train": n_train, "n_flipped": n_flipped}
        positions, flips = torch.from_numpy(np.concatenate(kept)), torch.from_numpy(np.concatenate(flipped))
        if len(positions) == len(pool_y) and not len(flips):
            return TrainingSample(pool_x, pool_y, meta)  # the whole pool: no copy
        y = pool_y.index_select(0, positions)
        y[flips] = 1 - y[flips]
        return TrainingSample(pool_x.index_select(0, positions), y, meta)  # x[positions] is far slower on CPU

    scale = _fit_pixel_scaling(pixels, draw(seed, unit).x)
    pool_x = scale(unit)
    return (lambda sample_seed: draw(sample_seed, pool_x)), scale


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
