"""Suite-wide options and fixtures: device, seeds, cache and the claims report.

Options: ``--device auto|cpu|cuda``, ``--base-seed N`` (shifts every seed of every sweep),
``--cache-dir``, ``--report-dir``, ``--data-dir``, ``--download``, ``--allow-cpu`` (let full-tier
image and text claims run without CUDA), ``--bert-model``, ``--no-progress``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from iwcore.cache import SweepCache, default_cache_dir
from iwcore.report import DEFAULT_REPORT_DIR, write_report
from iwcore.training import resolve_device

ROOT = Path(__file__).parent


def pytest_addoption(parser):
    group = parser.getgroup("iwclaims")
    group.addoption("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where sweeps train")
    group.addoption("--base-seed", type=int, default=0, help="shift every seed of every sweep (re-check on fresh seeds)")
    group.addoption("--cache-dir", type=Path, default=None, help="trained-sweep cache (default .iwcache or $IWCLAIMS_CACHE)")
    group.addoption("--report-dir", type=Path, default=ROOT / DEFAULT_REPORT_DIR, help="where claims reports go")
    group.addoption("--data-dir", type=Path, default=None, help="folder with CIFAR-10 / MRPC for real-data claims")
    group.addoption("--download", action="store_true", help="allow torchvision to download CIFAR-10")
    group.addoption("--allow-cpu", action="store_true", help="run full-tier image/text claims without CUDA")
    group.addoption("--bert-model", default="bert-base-uncased", help="name or local folder of the BERT model (C16)")
    group.addoption("--no-progress", action="store_true", help="hide training progress bars")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config):
    config._iwclaims_started = time.time()
    resolve_device(config.getoption("device"))  # fail at once on --device cuda without CUDA
    # One thread per process: stacked sweeps on a CPU are bound by per-operation overhead, where extra
    # threads only contend; the cores are used by running pytest-xdist workers side by side instead.
    torch.set_num_threads(1)


def pytest_sessionfinish(session):
    """The controller writes the report of every tier that recorded a claim during this session."""
    config = session.config
    if _is_worker(config):
        return
    report_dir = config.getoption("report_dir")
    tiers = {p.parent.parent for p in report_dir.glob("*/results/*.json")
             if p.stat().st_mtime >= config._iwclaims_started}
    config._iwclaims_reports = [path for tier_dir in sorted(tiers) for path in write_report(tier_dir)]


def pytest_terminal_summary(terminalreporter, config):
    for path in getattr(config, "_iwclaims_reports", []):
        if path.suffix == ".md":
            terminalreporter.write_line(f"claims report: {path}")


@pytest.fixture(scope="session")
def device(pytestconfig) -> torch.device:
    """The session's device; under pytest-xdist, worker ``gwN`` is pinned to GPU ``N % device_count``
    (``pytest -m full -n <gpus>`` gives each worker its own GPU; the cache is shared)."""
    device = resolve_device(pytestconfig.getoption("device"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if device.type == "cuda" and worker.startswith("gw"):
        device = torch.device("cuda", int(worker[2:]) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


@pytest.fixture(scope="session")
def base_seed(pytestconfig) -> int:
    return pytestconfig.getoption("base_seed")


@pytest.fixture(scope="session")
def sweep_cache(pytestconfig) -> SweepCache:
    root = pytestconfig.getoption("cache_dir") or default_cache_dir()
    return SweepCache(root, show_progress=not pytestconfig.getoption("no_progress"))


@pytest.fixture(scope="session")
def run_sweep(sweep_cache, device, base_seed):
    """Train (or read from the cache) a sweep with the session's base seed applied."""
    return lambda sweep: sweep_cache.run(sweep.with_base_seed(base_seed), device)


@pytest.fixture(scope="session")
def report_dir(pytestconfig) -> Path:
    return pytestconfig.getoption("report_dir")


@pytest.fixture(scope="session")
def data_dir(pytestconfig) -> Path | None:
    return pytestconfig.getoption("data_dir")
