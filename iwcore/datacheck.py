"""Checks of a ``--data-dir`` that need no decoding (standard library only, so that the pytest
controller can refuse a bad folder at once, before any training, without importing torch).

A given data folder must exist, hold something, and hold a complete copy of CIFAR-10 (image
folders ``train|test/<class>/*.png`` or torchvision's ``cifar-10-batches-py``) or of MRPC (GLUE's
``train.tsv`` and ``dev.tsv`` plus ``msr_paraphrase_test.txt`` or ``test.tsv``), directly or in a
subfolder ``cifar10`` / ``mrpc``. For the full tier, CIFAR-10 image folders must hold the official
number of images per class (5,000 training, 1,000 test).
"""

from __future__ import annotations

import os
from pathlib import Path

# The same names as iwcore.data.images / iwcore.data.text (a unit test keeps them in step).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_PER_CLASS = {"train": 5000, "test": 1000}  # the official release, per class
TORCHVISION_FOLDER = "cifar-10-batches-py"
TORCHVISION_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
MRPC_REQUIRED = ("train.tsv", "dev.tsv")
MRPC_TEST = ("msr_paraphrase_test.txt", "test.tsv")


class DataDirError(ValueError):
    """A given data folder that cannot serve: missing, empty, incomplete or too small."""


def count_pngs(folder: Path) -> int:
    try:
        return sum(1 for e in os.scandir(folder) if e.name.endswith(".png"))
    except OSError:
        return 0


def cifar10_image_counts(root: Path) -> dict[str, dict[str, int]]:
    """PNG files per split and class under ``root/{train,test}/<class>`` (0 where a folder is missing)."""
    return {split: {name: count_pngs(root / split / name) for name in CIFAR10_CLASSES} for split in CIFAR10_PER_CLASS}


def count_problems(counts: dict[str, dict[str, int]], expected: dict[str, int] = CIFAR10_PER_CLASS) -> list[str]:
    """One phrase per split whose classes do not all hold the expected number of images, e.g.
    ``"train: 3 images per class (expected 5000)"`` or ``"test: cat 999, dog 0 (expected 1000 per class)"``."""
    problems = []
    for split, per_class in counts.items():
        wrong = {name: n for name, n in per_class.items() if n != expected[split]}
        if not wrong:
            continue
        if len(set(per_class.values())) == 1:
            problems.append(f"{split}: {next(iter(per_class.values()))} images per class (expected {expected[split]})")
        else:
            shown = ", ".join(f"{name} {n}" for name, n in wrong.items())
            problems.append(f"{split}: {shown} (expected {expected[split]} per class)")
    return problems


def _cifar_layouts(candidate: Path) -> tuple[str | None, str]:
    """('image_folder' | 'torchvision' | None, what is missing)."""
    counts = cifar10_image_counts(candidate)
    empty = [f"{split}/{name}" for split, per_class in counts.items() for name, n in per_class.items() if n == 0]
    if not empty:
        return "image_folder", ""
    batches = candidate / TORCHVISION_FOLDER
    missing_files = [f for f in TORCHVISION_FILES if not (batches / f).is_file()]
    if not missing_files:
        return "torchvision", ""
    partial_folders = len(empty) < 2 * len(CIFAR10_CLASSES)
    partial_batches = len(missing_files) < len(TORCHVISION_FILES)
    if partial_batches and not partial_folders:
        return None, f"{batches} lacks {', '.join(missing_files)}"
    shown = ", ".join(empty[:4]) + (f" and {len(empty) - 4} more" if len(empty) > 4 else "")
    return None, f"{candidate}/{{train,test}}/<class> PNG folders missing or empty: {shown}"


def _mrpc_missing(candidate: Path) -> list[str]:
    missing = [f for f in MRPC_REQUIRED if not (candidate / f).is_file()]
    if not any((candidate / f).is_file() for f in MRPC_TEST):
        missing.append(" or ".join(MRPC_TEST))
    return missing


def check_data_dir(path: Path | str, *, download: bool = False, full_tier: bool = False) -> str:
    """Raise ``DataDirError`` (one line) unless ``path`` can serve CIFAR-10 or MRPC; return what it holds.

    With ``download`` a missing or empty folder is fine (CIFAR-10 will be fetched into it). With
    ``full_tier``, CIFAR-10 image folders must hold the official number of images per class."""
    path = Path(path).expanduser()
    shown = str(path)
    if not path.exists():
        if download:
            return "nothing yet (--download fetches CIFAR-10)"
        raise DataDirError(f"--data-dir {shown} does not exist")
    if not path.is_dir():
        raise DataDirError(f"--data-dir {shown} is not a folder")
    if not any(path.iterdir()):
        if download:
            return "nothing yet (--download fetches CIFAR-10)"
        raise DataDirError(f"--data-dir {shown} is empty (it should hold CIFAR-10 or MRPC)")
    found, missing = [], []
    for candidate in (path, path / "cifar10"):
        layout, what = _cifar_layouts(candidate)
        if layout == "image_folder" and full_tier:
            problems = count_problems(cifar10_image_counts(candidate))
            if problems:
                raise DataDirError(f"--data-dir {shown}: CIFAR-10 in {candidate} is too small for the full tier "
                                   f"({'; '.join(problems)})")
        if layout:
            found.append(f"CIFAR-10 ({layout}) in {candidate}")
            break
        if candidate.is_dir():
            missing.append(what)
    for candidate in (path, path / "mrpc"):
        lacks = _mrpc_missing(candidate)
        if not lacks:
            found.append(f"MRPC in {candidate}")
            break
        if candidate.is_dir() and len(lacks) < len(MRPC_REQUIRED) + 1:
            missing.append(f"MRPC in {candidate} lacks {', '.join(lacks)}")
    if found:
        return "; ".join(found)
    if download:
        return "an incomplete copy (--download fetches CIFAR-10)"
    detail = "; ".join(m for m in missing if m) or "no CIFAR-10 or MRPC files"
    raise DataDirError(f"--data-dir {shown} holds no complete CIFAR-10 or MRPC: {detail}")
