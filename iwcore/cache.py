"""On-disk cache of trained sweeps, keyed by config, the code the sweep runs and device type
(``iwcore.codekey``: adding a model or a loss leaves every other sweep's entry valid).

Tests that share a sweep train it once; a rerun reads it; an interrupted sweep resumes from its
saved progress; concurrent pytest-xdist workers (or pytest processes sharing ``--cache-dir``) wait on
a file lock instead of training the same sweep twice. An entry whose content cannot be read (torn,
truncated, foreign) is never trusted: its folder is moved aside to ``<folder>.corrupt-<time>-<pid>``
(kept for inspection, named in a warning) and retrained. An I/O or permission error while reading
says nothing about the entry: it is raised, and the entry is left alone.

Layout: ``<root>/<key>/`` holds a finished sweep (``result.npz``, ``result.json``). A sweep trained in
shards (``iwcore.shards``) keeps each finished shard in ``<root>/<key>/shards/seeds-<first>-<last>/``
(its result and, while it trains, its ``progress.pt``) until all are merged into ``<root>/<key>/``, so
an interrupted sweep resumes shard by shard, and an interrupted shard from its own progress. A sweep
of one shard trains in ``<root>/<key>/`` itself. Shards are trained by an executor
(``iwcore.executors``: in this process, or on a Ray cluster); only this process writes the cache. ``run``
trains in three steps under the sweep's lock (``start_training``, ``store_shard`` per shard, ``finish_training``),
which ``iwcore.prefetch`` takes for many sweeps at once.

A finished entry is read without taking the lock (``result.npz`` is renamed into place last, so an
entry that has it is complete): a read-only cache that holds every needed entry is usable, and one
that lacks an entry fails with a message that names it.

``run`` reports what it does through ``progress`` (a callable taking one line, e.g.
``iwcore.progress.report``): "cache hit <sweep>", "training <sweep> (N models, device)" with
epochs done and an ETA, "resuming <sweep> from saved progress: ...", for a sharded sweep each shard
done ("k/n shards done"), "waiting for <sweep> (another worker trains it)". It fills the result's
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
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from iwcore import shards
from iwcore.executors import InProcess, Job
from iwcore.progress import SweepProgress, duration
from iwcore.results import SweepResult
from iwcore.codekey import sweep_code_version
from iwcore.sweep import Sweep

__all__ = ["CacheNotWritable", "SweepCache", "default_cache_dir", "entry_state"]


class CacheNotWritable(OSError):
    """The cache folder cannot be written and lacks an entry that has to be trained."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("IWCLAIMS_CACHE", Path.cwd() / ".iwcache"))


class SweepCache:
    def __init__(self, root: Path | str | None = None, show_progress: bool = True,
                 progress: Callable[[str], None] | None = None, shard_models: int = 0):
        """``progress``: where progress lines go (then no tqdm bar is drawn); without it,
        ``show_progress`` draws tqdm's bar on stderr (for scripts). ``shard_models``: models per shard
        (rounded down to whole seeds); 0 lets the executor choose from the device."""
        self.root = Path(root) if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            if not self.root.is_dir():
                raise CacheNotWritable(f"cache folder {self.root} does not exist and cannot be created "
                                       f"({err.strerror or err})") from err
        self.show_progress = show_progress
        self.progress = progress
        self.shard_models = shard_models

    def key(self, sweep: Sweep, device: torch.device) -> str:
        return sweep.key(sweep_code_version(sweep), device.type)

    def sayer(self, label: str = "") -> Callable[[str], None]:
        """Where progress lines go, each prefixed with ``label:`` when there is one."""
        def say(message: str):
            if self.progress is not None:
                self.progress(f"{label}: {message}" if label else message)
        return say

    def load(self, sweep: Sweep, device: torch.device) -> SweepResult | None:
        """The finished result, or None (also for an unreadable entry, which ``run`` sets aside)."""
        return _read(self.root / self.key(sweep, device), sweep)

    def _read_or_set_aside(self, folder: Path, sweep: Sweep) -> SweepResult | None:
        """The finished result in ``folder``; if its content is unreadable, the folder is moved aside
        with a warning and None returned. Call with the sweep's lock held."""
        try:
            return _read(folder, sweep, strict=True)
        except _Corrupt as err:
            aside = folder.with_name(f"{folder.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            folder.replace(aside)
            warnings.warn(f"cache entry {folder} is corrupt ({err.__cause__}); moved it to {aside} and retraining it",
                          stacklevel=3)
            return None

    def _hit(self, result: SweepResult, say, started: float, waited_s: float = 0.0) -> SweepResult:
        result.meta.update(source="cache", read_s=time.time() - started - waited_s, waited_s=waited_s)
        say(f"cache hit {result.config['name']} (trained in {duration(result.meta.get('wall_time_s', 0))})")
        return result

    def run(self, sweep: Sweep, device: torch.device, executor=None, label: str = "") -> SweepResult:
        """The sweep's result: from the cache, or trained (resuming saved progress) by ``executor``
        (default: in this process) and stored. ``label`` (e.g. the claim) prefixes its progress lines."""
        started = time.time()
        say = self.sayer(label)
        result = self.load(sweep, device)
        if result is not None:
            return self._hit(result, say, started)
        key = self.key(sweep, device)
        lock = self.lock(sweep, device)
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                say(f"waiting for {sweep.name} (another worker trains it)")
                lock.acquire()
        except OSError as err:
            if isinstance(err, CacheNotWritable):
                raise
            raise self._not_writable(sweep, key, err) from err
        waited_s = time.time() - started
        try:
            result = self._read_or_set_aside(self.root / key, sweep)
            if result is not None:
                return self._hit(result, say, started, waited_s)
            return self._train(sweep, device, waited_s, executor or InProcess(), say)
        finally:
            lock.release()

    def lock(self, sweep: Sweep, device: torch.device) -> FileLock:
        """The sweep's file lock, held while anyone trains it (not tied to a thread: ``iwcore.prefetch`` takes it
        in one and releases it in another)."""
        return FileLock(str(self.root / f"{self.key(sweep, device)}.lock"), thread_local=False)

    def _train(self, sweep: Sweep, device: torch.device, waited_s: float, executor, say) -> SweepResult:
        """Train the sweep's unfinished shards with ``executor``, store each, and merge them."""
        training = self.start_training(sweep, device, executor)
        say(training.line(device, executor))
        for job, result in executor.train(training.todo, device, lambda job: self._bar(job, say)):
            self.store_shard(training, job, result, say)
        return self.finish_training(training, waited_s, say)

    def start_training(self, sweep: Sweep, device: torch.device, executor) -> "Training":
        """The sweep's shards as ``executor`` splits it, those already stored and the jobs left (their folders
        made). Call with the sweep's lock held, as ``store_shard`` and ``finish_training``."""
        key = self.key(sweep, device)
        folder = self.root / key
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._not_writable(sweep, key, err) from err
        parts = shards.split(sweep, executor.seeds_per_shard(sweep, device, self.shard_models))
        places = {p.index: folder if len(parts) == 1 else folder / "shards" / p.label for p in parts}
        done = {p.index: r for p in parts if (r := self._read_or_set_aside(places[p.index], p.sweep)) is not None}
        todo = [Job(p, places[p.index] / "progress.pt") for p in parts if p.index not in done]
        for job in todo:
            places[job.shard.index].mkdir(parents=True, exist_ok=True)
        return Training(sweep, key, folder, parts, places, done, todo)

    def store_shard(self, training: "Training", job: Job, result: SweepResult, say) -> None:
        """Keep a trained shard; one of several is stored in its folder, so that an interrupted sweep resumes."""
        training.done[job.shard.index] = result
        if len(training.parts) > 1:
            self._store(result, f"{training.key}/shards/{job.shard.label}", training.places[job.shard.index],
                        training.sweep)
            say(f"{training.sweep.name}: shard {job.shard.label} trained in {duration(result.meta['wall_time_s'])} "
                f"({len(training.done)}/{len(training.parts)} shards done)")

    def finish_training(self, training: "Training", waited_s: float, say) -> SweepResult:
        """Merge the sweep's shards (all trained) and store the result as the finished entry."""
        sweep, folder = training.sweep, training.folder
        result = shards.merge(sweep, [training.done[p.index] for p in training.parts])
        self._store(result, training.key, folder, sweep)
        if len(training.parts) > 1:  # the shards, and any progress of an earlier run that trained the sweep whole
            shutil.rmtree(folder / "shards", ignore_errors=True)
            (folder / "progress.pt").unlink(missing_ok=True)
        result.meta.update(source="trained", read_s=None, waited_s=waited_s)
        say(f"trained {sweep.name} in {duration(result.meta['wall_time_s'])}")
        return result

    def _store(self, result: SweepResult, key: str, folder: Path, sweep: Sweep):
        result.key = key
        result.meta["code_version"] = sweep_code_version(sweep)
        result.meta["trained_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        result.save(folder)

    def _bar(self, job: Job, say) -> dict:
        """``train_sweep``'s progress options for one job: lines to ``say``, else tqdm's bar."""
        name = job.shard.sweep.name if job.shard.count == 1 else f"{job.shard.sweep.name} [{job.shard.label}]"
        if self.progress is None:
            return {"show_progress": self.show_progress}
        return {"show_progress": False, "progress": SweepProgress(name, say), "say": say}

    def _not_writable(self, sweep: Sweep, key: str, err: OSError) -> CacheNotWritable:
        reason = err.strerror or str(err)
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            reason = f"read-only: {reason}"
        return CacheNotWritable(f"cache {self.root} cannot be written ({reason}) and has no finished entry {key} "
                                f"for sweep {sweep.name!r}: pass a writable --cache-dir, or fill this cache first")

    def clear(self):
        shutil.rmtree(self.root, ignore_errors=True)


def entry_state(root: Path | str, key: str) -> dict:
    """Where the entry ``key`` of the cache at ``root`` stands, without reading or locking it: ``{"state": "done"}``
    (finished), ``"partial"`` (with ``shards_done``, the finished shards, and ``progress``, whether saved progress of
    the whole sweep or of a shard exists) or ``"missing"``."""
    folder = Path(root) / key
    if (folder / "result.npz").exists():
        return {"state": "done"}
    shards_done = len(list(folder.glob("shards/*/result.npz")))
    progress = (folder / "progress.pt").exists() or any(folder.glob("shards/*/progress.pt"))
    if shards_done or progress:
        return {"state": "partial", "shards_done": shards_done, "progress": progress}
    return {"state": "missing"}


@dataclass
class Training:
    """A sweep being trained into the cache: its shards, the folder of each, those done and the jobs left."""

    sweep: Sweep
    key: str
    folder: Path
    parts: list[shards.Shard]
    places: dict[int, Path]
    done: dict[int, SweepResult]
    todo: list[Job]

    def line(self, device: torch.device, executor) -> str:
        """The progress line of its start: "training <sweep> (N models, device[, executor][, shards[, cached]])"."""
        how = f"{device.type}" + ("" if executor.name == "inprocess" else f", {executor.name}")
        if len(self.parts) > 1:
            how += f", {len(self.parts)} shards" + (f", {len(self.done)} cached" if self.done else "")
        return f"training {self.sweep.name} ({self.sweep.n_models} models, {how})"

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.parts)


class _Corrupt(Exception):
    """An entry whose content cannot be read (raised from the reading error)."""


def _read(folder: Path, sweep: Sweep, strict: bool = False) -> SweepResult | None:
    """The finished result of ``sweep`` in ``folder``, or None. Unreadable content gives None, or with
    ``strict`` raises ``_Corrupt``; an I/O or permission error is raised as it is."""
    if not (folder / "result.npz").exists():
        return None
    try:
        result = SweepResult.load(folder)
        if result.config != sweep.config():
            raise ValueError("stored config differs from the requested one")
        return result
    except FileNotFoundError:  # set aside by another process meanwhile
        return None
    except OSError:
        raise
    except Exception as err:
        if strict:
            raise _Corrupt() from err
        return None
