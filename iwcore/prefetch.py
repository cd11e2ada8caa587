"""Plan-first execution on a Ray cluster: every missing shard of every planned sweep submitted at once.

Without it, a run with ``--executor ray`` hands the cluster one sweep's shards at a time (each claim's test trains
its sweeps through ``SweepCache.run`` in turn), so the cluster trains a tier in the sum of its sweeps' times.
``Prefetch`` starts from the plan of the selected claims (``iwcore.plan.plan_cases``): for each sweep the cache
lacks, largest first (by model-steps), it takes the sweep's file lock (a sweep another process holds is left to
it), reads the shards already stored and submits the others as Ray tasks, before the first claim decides. A
thread on the driver stores each shard as it arrives and merges a sweep once all its shards are in, through the
cache's own steps (``SweepCache.start_training``, ``store_shard``, ``finish_training``), then releases the lock.
A test's ``run`` waits for its own sweep only and reads it through ``SweepCache.run``: the cache stays the one
record of what is trained, so each sweep trains once, and a killed driver loses only its unfinished shards.

Progress: each shard and sweep stored (labelled with the claims that plan it) and, at most every
``PROGRESS_INTERVAL_S`` and at the end, the whole plan: "plan: 12/40 shards done (3/10 sweeps), 2:05 elapsed,
ETA 4:10" (the ETA from the model-steps done so far).
"""

from __future__ import annotations

import queue
import threading
import time

import torch
from filelock import Timeout

from iwcore.cache import SweepCache
from iwcore.plan import PlannedSweep, plan_cases, sgd_steps
from iwcore.progress import PROGRESS_INTERVAL_S, duration
from iwcore.results import SweepResult
from iwcore.sweep import Sweep


def model_steps(sweep: Sweep) -> int:
    """SGD steps of all the sweep's models together: the order of submission, and the weight of the ETA."""
    return sgd_steps(sweep)[1] * sweep.n_models


class Prefetch:
    """The missing shards of the sweeps the claims plan, training on ``executor`` (a ``RayExecutor``) from the start;
    ``run`` is ``SweepCache.run`` once the sweep is in. Close it (or use it as a context manager) to stop: shards
    still training are cancelled, and those stored stay in the cache."""

    def __init__(self, cache: SweepCache, cases, options: dict, device: torch.device, executor, base_seed: int = 0):
        """``cases``: the (claim, tier) pairs to plan, with the run's ``options`` and base seed."""
        self.cache, self.device, self.ray = cache, device, executor.ray
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()  # from the collecting thread, said by ``run``
        self.trainings, self.locks, self.claims, self.left = {}, {}, {}, {}
        self.finished: dict[str, threading.Event] = {}
        self.errors: dict[str, BaseException] = {}
        self.unread: set[str] = set()  # trained here and not yet read: the first read reports it as trained
        pending, self.steps = {}, {}
        try:
            self._submit(plan_cases(cases, options, device.type, base_seed)[0], executor, pending)
        except BaseException:
            self._cancel(pending)
            raise
        self.total, self.done_steps, self.shards_done = sum(self.steps.values()), 0.0, 0
        self.started = self.last_said = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, args=(pending,), name="iwclaims-prefetch", daemon=True)
        self._thread.start()

    def _submit(self, planned: list[PlannedSweep], executor, pending: dict) -> None:
        """Lock each planned sweep the cache lacks, largest first, and submit its missing shards into ``pending``."""
        cache, device = self.cache, self.device
        for entry in sorted(planned, key=lambda e: model_steps(e.sweep), reverse=True):
            if cache.load(entry.sweep, device) is not None:
                continue
            key, lock = cache.key(entry.sweep, device), cache.lock(entry.sweep, device)
            try:
                lock.acquire(timeout=0)
            except Timeout:  # another process trains it; ``run`` waits for it through the cache
                continue
            self.locks[key], self.finished[key] = lock, threading.Event()
            training = None if cache.load(entry.sweep, device) else cache.start_training(entry.sweep, device, executor)
            if training is None or not training.todo:  # finished meanwhile, or every shard stored (``run`` merges)
                self._release(key)
                continue
            self.trainings[key], self.claims[key], self.left[key] = training, ",".join(entry.claims), len(training.todo)
            cache.sayer(self.claims[key])(training.line(device, executor))
            per_model = model_steps(entry.sweep) / entry.sweep.n_models
            self.steps.update({(key, job.shard.index): per_model * job.shard.sweep.n_models for job in training.todo})
            pending.update({ref: (key, job) for ref, job in executor.submit(training.todo, device).items()})

    def _say(self, key: str):
        return lambda line: self.lines.put(f"{self.claims[key]}: {line}")

    def _collect(self, pending: dict) -> None:
        """Store each shard as it arrives and merge each sweep once complete; on stop, cancel what is left."""
        try:
            while pending and not self._stop.is_set():
                ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    key, job = pending.pop(ref)
                    training = self.trainings[key]
                    try:
                        self.cache.store_shard(training, job, self.ray.get(ref), self._say(key))
                        if training.complete:
                            self.cache.finish_training(training, 0.0, self._say(key))
                            self.unread.add(key)
                    except Exception as err:  # raised by ``run`` in the test that needs the sweep
                        self.errors[key] = err
                    self.left[key] -= 1
                    self.shards_done += 1
                    self.done_steps += self.steps[(key, job.shard.index)]
                    self._progress()
                    if not self.left[key]:
                        self._release(key)
        finally:
            self._cancel(pending)

    def _cancel(self, pending: dict) -> None:
        """Cancel the shards still training and release the locks of the sweeps not finished."""
        for ref in pending:
            self.ray.cancel(ref)
        for key in list(self.locks):
            self._release(key)

    def _release(self, key: str) -> None:
        self.locks.pop(key).release()
        self.finished[key].set()

    def _progress(self) -> None:
        """The whole plan's progress line, at most every PROGRESS_INTERVAL_S and once all shards are in."""
        now, shards = time.monotonic(), len(self.steps)
        if now - self.last_said < PROGRESS_INTERVAL_S and self.shards_done < shards:
            return
        self.last_said, elapsed = now, now - self.started
        sweeps = sum(not left for left in self.left.values())
        line = (f"plan: {self.shards_done}/{shards} shards done ({sweeps}/{len(self.left)} sweeps), "
                f"{duration(elapsed)} elapsed")
        if self.shards_done < shards and self.done_steps:
            line += f", ETA {duration(elapsed * (self.total - self.done_steps) / self.done_steps)}"
        self.lines.put(line)

    def _flush(self) -> None:
        say = self.cache.sayer()
        while not self.lines.empty():
            say(self.lines.get())

    def run(self, sweep: Sweep, device: torch.device, executor=None, label: str = "") -> SweepResult:
        """``SweepCache.run``, after waiting for the sweep if this prefetch trains it (saying the progress lines
        that came meanwhile); its first read is reported as trained, with the time waited."""
        key = self.cache.key(sweep, device)
        started = time.time()
        finished = self.finished.get(key)
        if finished is not None and not finished.is_set():
            self.cache.sayer(label)(f"waiting for {sweep.name} (training with the plan's other shards)")
        while finished is not None and not finished.wait(timeout=0.2):
            self._flush()
        self._flush()
        if key in self.errors:
            raise self.errors[key]
        waited_s = time.time() - started
        result = self.cache.run(sweep, device, executor, label)
        if key in self.unread:
            self.unread.discard(key)
            result.meta.update(source="trained", read_s=None, waited_s=waited_s)
        return result

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()

    def __enter__(self) -> "Prefetch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
