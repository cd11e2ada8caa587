"""On-disk cache of trained sweeps, keyed by config, the code the sweep runs and device type
(``iwcore.codekey``: adding a model or a loss leaves every other sweep's entry valid).

Tests that share a sweep train it once; a rerun reads it; an interrupted sweep resumes from its
saved progress; concurrent pytest-xdist workers wait on a file lock instead of training the same
sweep twice. An entry that cannot be read is reported, deleted and retrained, never trusted.

A finished entry is read without taking the lock (``result.npz`` is renamed into place last, so an
entry that has it is complete): a read-only cache that holds every needed entry is usable, and one
that lacks an entry fails with a message that names it.

``run`` reports what it does through ``progress`` (a callable taking one line, e.g.
``iwcore.progress.report``): "cache hit <sweep>", "training <sweep> (N models, device)" with
epochs done and an ETA, "waiting for <sweep> (another worker trains it)". It fills the result's
``meta`` with ``source`` ("trained" or "cache"), ``read_s`` (time to read the entry, for a cache
hit), ``waited_s`` (time waiting for another worker's lock), and keeps ``wall_time_s`` (the
original training time) and ``trained_at`` (when it was trained).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from iwcore.progress import SweepProgress, duration
from iwcore.results import SweepResult
from iwcore.codekey import sweep_code_version
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

__all__ = ["CacheNotWritable", "SweepCache", "default_cache_dir"]


class CacheNotWritable(OSError):
    """The cache folder cannot be written and lacks an entry that has to be trained."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("IWCLAIMS_CACHE", Path.cwd() / ".iwcache"))


class SweepCache:
    def __init__(self, root: Path | str | None = None, show_progress: bool = True,
                 progress: Callable[[str], None] | None = None):
        """``progress``: where progress lines go (then no tqdm bar is drawn); without it,
        ``show_progress`` draws tqdm's bar on stderr (for scripts)."""
        self.root = Path(root) if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            if not self.root.is_dir():
                raise CacheNotWritable(f"cache folder {self.root} does not exist and cannot be created "
                                       f"({err.strerror or err})") from err
        self.show_progress = show_progress
        self.progress = progress

    def key(self, sweep: Sweep, device: torch.device) -> str:
        return sweep.key(sweep_code_version(sweep), device.type)

    def _say(self, message: str):
        if self.progress is not None:
            self.progress(message)

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
                try:
                    (folder / f).unlink(missing_ok=True)
                except OSError:  # a read-only cache: training it will fail with a clear message
                    pass
            return None

    def _hit(self, result: SweepResult, started: float, waited_s: float = 0.0) -> SweepResult:
        result.meta.update(source="cache", read_s=time.time() - started - waited_s, waited_s=waited_s)
        self._say(f"cache hit {result.config['name']} (trained in {duration(result.meta.get('wall_time_s', 0))})")
        return result

    def run(self, sweep: Sweep, device: torch.device) -> SweepResult:
        """The sweep's result: from the cache, or trained (resuming saved progress) and stored."""
        started = time.time()
        result = self.load(sweep, device)
        if result is not None:
            return self._hit(result, started)
        key = self.key(sweep, device)
        lock = FileLock(str(self.root / f"{key}.lock"))
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                self._say(f"waiting for {sweep.name} (another worker trains it)")
                lock.acquire()
        except OSError as err:
            if isinstance(err, CacheNotWritable):
                raise
            raise self._not_writable(sweep, key, err) from err
        waited_s = time.time() - started
        try:
            result = self.load(sweep, device)
            if result is not None:
                return self._hit(result, started, waited_s)
            return self._train(sweep, device, key, waited_s)
        finally:
            lock.release()

    def _train(self, sweep: Sweep, device: torch.device, key: str, waited_s: float) -> SweepResult:
        folder = self.root / key
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._not_writable(sweep, key, err) from err
        self._say(f"training {sweep.name} ({sweep.n_models} models, {device.type})")
        options = {"show_progress": self.show_progress and self.progress is None}
        if self.progress is not None:
            options["progress"] = SweepProgress(sweep.name, self.progress)
        result = train_sweep(sweep, device, progress_file=folder / "progress.pt", **options)
        result.key = key
        result.meta["code_version"] = sweep_code_version(sweep)
        result.meta["trained_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        result.save(folder)
        result.meta.update(source="trained", read_s=None, waited_s=waited_s)
        self._say(f"trained {sweep.name} in {duration(result.meta['wall_time_s'])}")
        return result

    def _not_writable(self, sweep: Sweep, key: str, err: OSError) -> CacheNotWritable:
        reason = err.strerror or str(err)
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            reason = f"read-only: {reason}"
        return CacheNotWritable(f"cache {self.root} cannot be written ({reason}) and has no finished entry {key} "
                                f"for sweep {sweep.name!r}: pass a writable --cache-dir, or fill this cache first")

    def clear(self):
        shutil.rmtree(self.root, ignore_errors=True)
