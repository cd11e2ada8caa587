"""On-disk cache of trained sweeps, keyed by config, code version and device type.

Tests that share a sweep train it once; a rerun reads it; an interrupted sweep resumes from its
saved progress; concurrent pytest-xdist workers wait on a file lock instead of training the same
sweep twice. An entry that cannot be read is reported, deleted and retrained, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path

import torch
from filelock import FileLock

from iwcore.results import SweepResult
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

_PACKAGE = Path(__file__).parent
_RESULT_AFFECTING = ("data", "models", "losses.py", "metrics.py", "stacking.py", "sweep.py", "training.py",
                     "results.py")


def code_version() -> str:
    """Hash of the source files that can change a trained result."""
    digest = hashlib.sha256()
    for entry in _RESULT_AFFECTING:
        path = _PACKAGE / entry
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(f.relative_to(_PACKAGE).as_posix().encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def default_cache_dir() -> Path:
    return Path(os.environ.get("IWCLAIMS_CACHE", Path.cwd() / ".iwcache"))


class SweepCache:
    def __init__(self, root: Path | str | None = None, show_progress: bool = True):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.show_progress = show_progress
        self.version = code_version()

    def key(self, sweep: Sweep, device: torch.device) -> str:
        return sweep.key(self.version, device.type)

    def load(self, sweep: Sweep, device: torch.device) -> SweepResult | None:
        """The stored result, or None; an unreadable entry is removed with a warning."""
        folder = self.root / self.key(sweep, device)
        if not (folder / "result.npz").exists():
            return None
        try:
            result = SweepResult.load(folder)
            if result.config != sweep.config():
                raise ValueError("stored config differs from the requested one")
            return result
        except Exception as err:
            warnings.warn(f"cache entry {folder} is corrupt ({err}); retraining it", stacklevel=2)
            for f in ("result.npz", "result.json"):
                (folder / f).unlink(missing_ok=True)
            return None

    def run(self, sweep: Sweep, device: torch.device) -> SweepResult:
        """The sweep's result: from the cache, or trained (resuming saved progress) and stored."""
        key = self.key(sweep, device)
        folder = self.root / key
        with FileLock(str(self.root / f"{key}.lock")):
            result = self.load(sweep, device)
            if result is None:
                folder.mkdir(parents=True, exist_ok=True)
                result = train_sweep(sweep, device, progress_file=folder / "progress.pt",
                                     show_progress=self.show_progress)
                result.key = key
                result.meta["code_version"] = self.version
                result.save(folder)
        return result

    def clear(self):
        shutil.rmtree(self.root, ignore_errors=True)
