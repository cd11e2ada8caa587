"""Where a sweep's shards train: in this process, or as tasks on a Ray cluster.

An executor has a ``name``, ``seeds_per_shard(sweep, device, models)`` (how to split a sweep; ``models``
is ``--shard-models``, 0 for "from the device") and ``train(jobs, device, bar)``, which trains each
``Job`` (a shard and the file its progress may be saved to) and yields ``(job, result)`` as each
finishes, in any order. ``SweepCache.run`` plans the shards, skips those already cached and stores
each result as it comes back, so the executors never touch the cache.

- ``InProcess``: one shard after another in the calling process (the default). Under pytest-xdist the
  calling process is a worker; with ``--executor xdist`` worker ``gwN`` is pinned to GPU
  ``N % device_count`` (``pinned_device``), so ``pytest -m full -n <gpus>`` gives each worker a GPU.
- ``RayExecutor``: every shard is a Ray task (``train_shard``; ``submit`` submits a sweep's, for
  ``iwcore.prefetch``) with ``num_gpus`` from the shard's estimated memory (a fraction of a GPU for a
  small stack) and Ray's retries for lost workers. Results
  come back to the driver (no shared file system needed). A worker that sees the shard's progress
  file's folder (a cache directory shared with the driver, or a worker on the driver's machine) saves
  progress there, so a retried shard resumes within itself. A user's own model, task or loss
  (``Subject.create`` with callables) goes with each task: the packages that define them, unless installed,
  are pickled by value, so the workers need neither their files nor an import of them.
"""

from __future__ import annotations

import math
import os
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from iwcore.parts import own_parts, register_parts
from iwcore.results import SweepResult
from iwcore.shards import SHARD_MEMORY_SHARE, Shard, gpu_seeds_per_shard, model_bytes, seeds_for
from iwcore.sweep import Sweep
from iwcore.training import resolve_device, train_sweep

EXECUTORS = ("inprocess", "xdist", "ray")
RAY_RETRIES = 3  # attempts after a lost worker (Ray's max_retries)
GPU_STEPS = 8  # a shard asks for a multiple of 1/GPU_STEPS of a GPU


@dataclass(frozen=True)
class Job:
    shard: Shard
    progress_file: Path


def pinned_device(device: torch.device, worker: str) -> torch.device:
    """pytest-xdist worker ``gwN``'s GPU: ``N % device_count`` (unchanged on a CPU or outside xdist)."""
    if device.type != "cuda" or not worker.startswith("gw"):
        return device
    return torch.device("cuda", int(worker[2:]) % torch.cuda.device_count())


class InProcess:
    """Trains the shards one after another in this process."""

    name = "inprocess"

    def device(self, name: str) -> torch.device:
        """The device ``--device name`` means here."""
        return resolve_device(name)

    def seeds_per_shard(self, sweep: Sweep, device: torch.device, models: int = 0) -> int:
        if models:
            return seeds_for(sweep, models)
        if device.type != "cuda":
            return len(sweep.seeds)
        return gpu_seeds_per_shard(sweep, torch.cuda.mem_get_info(device)[0])

    def train(self, jobs: Iterable[Job], device: torch.device, bar: Callable[[Job], dict]) -> Iterator[tuple]:
        """``bar(job)``: ``train_sweep``'s progress options for the job (a bar and where resume lines go)."""
        for job in jobs:
            yield job, train_sweep(job.shard.sweep, device, progress_file=job.progress_file, **bar(job))


def gpu_request(shard: Shard, share: float) -> float:
    """The GPUs a shard asks Ray for: its stack's share of one (``share`` per model), rounded up to a
    multiple of 1/GPU_STEPS, at most one."""
    stack = shard.sweep.models_per_step or shard.sweep.n_models
    return min(1.0, math.ceil(stack * share * GPU_STEPS) / GPU_STEPS)


def train_shard(sweep: Sweep, device_type: str, progress_file: str, parts: dict) -> SweepResult:
    """A Ray task: train one shard on this worker (its GPU is ``cuda``: Ray sets CUDA_VISIBLE_DEVICES), with
    ``parts`` (a user's own model, task or loss, ``own_parts``) registered first. Progress goes to
    ``progress_file`` when its folder is visible here."""
    register_parts(parts)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    path = Path(progress_file)
    return train_sweep(sweep, torch.device(device_type), progress_file=path if path.parent.is_dir() else None,
                       show_progress=False, say=print)


INSTALLED = tuple({Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def installed(module) -> bool:
    """Whether ``module`` lives where installed packages do (so every node of a cluster has it, like iwcore)."""
    places = [module.__file__] if getattr(module, "__file__", None) else list(getattr(module, "__path__", []))
    return bool(places) and all(any(Path(p).resolve().is_relative_to(root) for root in INSTALLED) for p in places)


def _gpu_bytes() -> int:
    """A Ray task: the memory of the GPU it was given."""
    return torch.cuda.get_device_properties(0).total_memory


class RayExecutor:
    """Trains the shards as tasks on the Ray cluster at ``address`` ("auto": the one this machine belongs
    to; None: a new single-machine cluster)."""

    name = "ray"

    def __init__(self, address: str | None = None):
        import ray

        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=True, configure_logging=False)
        self._remote = ray.remote(train_shard)
        self._gpu = None

    def device(self, name: str) -> torch.device:
        """The device ``--device name`` means on the cluster (the driver itself needs no GPU): ``cuda``
        when asked for, or for ``auto`` when the cluster has GPUs."""
        gpus = self.ray.cluster_resources().get("GPU", 0)
        if name == "cuda" and not gpus:
            raise RuntimeError("--device cuda was asked for, but the Ray cluster has no GPU")
        return torch.device("cuda" if name == "cuda" or (name == "auto" and gpus) else "cpu")

    def gpu_bytes(self) -> int:
        """Memory of one of the cluster's GPUs (asked of the cluster once)."""
        if self._gpu is None:
            self._gpu = self.ray.get(self.ray.remote(_gpu_bytes).options(num_gpus=1).remote())
        return self._gpu

    def seeds_per_shard(self, sweep: Sweep, device: torch.device, models: int = 0) -> int:
        """``models`` when given; on a GPU as much as fits one; on CPUs one seed a shard (one task per CPU)."""
        if models:
            return seeds_for(sweep, models)
        if device.type == "cuda":
            return gpu_seeds_per_shard(sweep, self.gpu_bytes())
        return 1

    def gpu_share(self, sweep: Sweep, device: torch.device) -> float:
        """The share of a GPU one model of ``sweep`` takes in a stack (0 on CPUs; 1, a whole GPU, when the
        model's memory cannot be estimated)."""
        if device.type != "cuda":
            return 0.0
        try:
            return model_bytes(sweep) / (SHARD_MEMORY_SHARE * self.gpu_bytes())
        except Exception:  # a model the meta-device estimate cannot run
            return 1.0

    def submit(self, jobs: list[Job], device: torch.device) -> dict:
        """Submit the jobs of one sweep as Ray tasks, each asking for its stack's share of a GPU (in steps of
        1/GPU_STEPS); returns their object refs, each with its job."""
        if not jobs:
            return {}
        share, parts = self.gpu_share(jobs[0].shard.sweep, device), own_parts(jobs[0].shard.sweep)
        for fn in parts.values():  # a user's code: by value, unless installed where the workers have it too
            package = sys.modules.get(fn.__module__.partition(".")[0])  # None: cloudpickle sends it by value
            if package is not None and not installed(package):
                self.ray.cloudpickle.register_pickle_by_value(package)
        return {self._remote.options(num_cpus=1, num_gpus=gpu_request(job.shard, share), max_retries=RAY_RETRIES,
                                     name=f"{job.shard.sweep.name}[{job.shard.label}]")
                .remote(job.shard.sweep, device.type, str(job.progress_file), parts): job for job in jobs}

    def train(self, jobs: Iterable[Job], device: torch.device, bar: Callable[[Job], dict]) -> Iterator[tuple]:
        """Submit every job (``submit``) and yield each result as it arrives. (``bar`` is unused: the cache
        reports each shard as it arrives.)"""
        pending = self.submit(list(jobs), device)
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            yield job, self.ray.get(ready[0])


def make_executor(name: str, address: str | None = None):
    """The executor called ``name`` (one of ``EXECUTORS``); ``xdist`` trains in-process (on a pinned device)."""
    if name == "ray":
        return RayExecutor(address)
    if name in ("inprocess", "xdist"):
        return InProcess()
    raise ValueError(f"unknown executor {name!r}; expected one of {EXECUTORS}")
