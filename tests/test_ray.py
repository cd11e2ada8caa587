"""The Ray executor on a real Ray cluster started here: ``ray start --head`` as a subprocess on
127.0.0.1 (two CPUs; a second node would need a non-loopback address), stopped at the end. Sweeps
trained as Ray tasks give bit-identical statistics to in-process training, also for a user's own model and
loss that the workers cannot import; a worker killed in the middle of a shard is retried by Ray and the result
is the same; a driver killed mid-run leaves its
finished shards in the cache, and a rerun trains only the others."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch
from runs import REPO, assert_identical, finish, start_run, wait_for

from iwcore.cache import SweepCache
from iwcore.stats import effect_summary, permutation_seed
from iwcore.sweep import Sweep
from iwcore.training import train_sweep

# Ray on loopback only: no usage reports, and nodes and drivers use 127.0.0.1, not the machine's address
# (the switch Ray has for single-machine clusters on Windows and macOS). Ray reads it when imported, so
# it is set before ray is imported, here and in the cluster's processes.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
os.environ.update(RAY_ENV)
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'iwclaims[ray]')")

from iwcore.executors import RayExecutor, installed  # noqa: E402

CPU = torch.device("cpu")
PORT_OPTIONS = ("--port", "--ray-client-server-port", "--dashboard-port", "--dashboard-agent-listen-port",
                "--dashboard-agent-grpc-port", "--metrics-export-port", "--node-manager-port", "--object-manager-port",
                "--runtime-env-agent-port")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (so that two clusters on this machine do not collide)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def cluster():
    """The address of a Ray head node started for this module (this process is connected as a driver)."""
    ports = free_ports(len(PORT_OPTIONS))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, **RAY_ENV, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--node-ip-address=127.0.0.1",
               "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={temp}", "--block",
               *(f"{option}={port}" for option, port in zip(PORT_OPTIONS, ports))]
    with open(Path(temp) / "head.log", "w") as log:
        head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{ports[0]}"
    try:
        head_log = Path(temp) / "head.log"
        wait_for(lambda: "Ray runtime started" in head_log.read_text() or head.poll() is not None, 120, "the head")
        assert head.poll() is None, head_log.read_text()
        ray.init(address=address, configure_logging=False, log_to_driver=False)
        yield address
    finally:
        ray.shutdown()
        head.terminate()  # `ray start --block` stops the node's processes on SIGTERM
        try:
            head.wait(60)
        finally:
            try:
                os.killpg(head.pid, signal.SIGKILL)  # whatever of its session is left
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


def sweep_kwargs(name: str, model: str, epochs: int, seeds=(0, 1), n: int = 40, **changes) -> dict:
    """A fast-tier-like 2D sweep (the separable task, the paper's ratios 2^-4..2^4), made small."""
    return dict(name=name, task="separable_2d", task_options={"n_per_class": n, "n_test_per_class": 20},
                model=model, weight_ratios=(1 / 16, 1 / 4, 1.0, 4.0, 16.0), seeds=seeds, epochs=epochs, batch_size=8,
                lr=0.1, **changes)


def statistics(result) -> list[bytes]:
    """The claims' effect statistics of a result on its test set, field by field as bytes (for an exact
    comparison; pickled one by one, since arrays that Ray returns carry equal but not identical dtype objects,
    which a single pickle would memoise differently)."""
    summary = effect_summary(result.ratio("test"), result.weight_ratios, result.epochs, result.config["epochs"],
                             seed=permutation_seed(f"{result.key}/test"))
    return [pickle.dumps(getattr(summary, f.name)) for f in dataclasses.fields(summary)]


def test_sweeps_trained_as_ray_tasks_give_bit_identical_statistics(cluster, tmp_path):
    sweeps = [Sweep(**sweep_kwargs("ray-logreg", "logreg", epochs=10, l2=0.001)),
              Sweep(**sweep_kwargs("ray-mlp-dropout", "mlp", epochs=10, model_options={"dropout": 0.5}))]
    on_ray = SweepCache(tmp_path / "ray", show_progress=False)
    in_process = SweepCache(tmp_path / "local", show_progress=False)
    executor = RayExecutor(cluster)
    for sweep in sweeps:
        distributed, local = on_ray.run(sweep, CPU, executor), in_process.run(sweep, CPU)
        assert distributed.meta["shards"] == len(sweep.seeds)  # one Ray task per seed
        assert distributed.key == local.key
        assert_identical(distributed, local)
        assert statistics(distributed) == statistics(local)


def shard_workers(name: str) -> list[int]:
    """PIDs of the Ray workers now running a task of sweep ``name`` (their process title is the task's name)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, ValueError):
            continue
        if title.startswith("ray::") and name in title:
            pids.append(int(entry.name))
    return pids


def test_a_worker_killed_mid_shard_is_retried_with_identical_results(cluster, tmp_path):
    sweep = Sweep(**sweep_kwargs("ray-killed-worker", "mlp", epochs=100, n=100))
    killed = []

    def kill_a_worker():
        wait_for(lambda: shard_workers(sweep.name), 60, "a worker training a shard")
        time.sleep(0.5)  # mid-shard: a shard trains for seconds
        pid = shard_workers(sweep.name)[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    lines = []
    result = SweepCache(tmp_path, show_progress=False, progress=lines.append).run(sweep, CPU, RayExecutor(cluster))
    killer.join()
    assert killed and not Path(f"/proc/{killed[0]}").exists()
    assert "2/2 shards done" in lines[-2]
    assert_identical(result, train_sweep(sweep, CPU, show_progress=False))


def test_a_killed_driver_is_resumed_from_the_cached_shards(cluster, tmp_path):
    kwargs = sweep_kwargs("ray-killed-driver", "mlp", epochs=30, seeds=(0, 1, 2, 3))
    sweep = Sweep(**kwargs)
    cache = tmp_path / "cache"
    shards = cache / SweepCache(cache, show_progress=False).key(sweep, CPU) / "shards"
    options = ("--executor", "ray", "--ray-address", cluster)
    driver = start_run(tmp_path, [kwargs], cache, name="driver", options=options)
    finished = lambda: sorted(p.parent.name for p in shards.glob("*/result.npz"))  # noqa: E731
    wait_for(lambda: finished() or driver.poll() is not None, 120, "a finished shard")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done = finished()
    assert 1 <= len(done) < 4, driver.log.read_text()
    output = finish(start_run(tmp_path, [kwargs], cache, name="rerun", options=options))
    cached = int(output.split("4 shards, ")[1].split(" cached")[0])
    assert cached >= len(done), output
    retrained = [line for line in output.splitlines() if " shards done)" in line]
    assert len(retrained) == 4 - cached, output
    assert not any(label in line for line in retrained for label in done), output
    assert "SOURCE ray-killed-driver trained" in output
    assert_identical(SweepCache(cache, show_progress=False).load(sweep, CPU), train_sweep(sweep, CPU,
                                                                                          show_progress=False))


OWN_PACKAGE = {"__init__.py": '''
import torch
import torch.nn.functional as F

from iwcore import Subject
from iw_ray_own.layers import gelu_block


def gelu_mlp(input_shape, n_outputs, hidden: int = 8):
    return gelu_block(input_shape[0], hidden, n_outputs)


def focal_loss(logits, y, class_counts, gamma: float = 2.0):
    margin = (2 * y - 1) * logits
    return -(1 - torch.sigmoid(margin)) ** gamma * F.logsigmoid(margin)


SUBJECT = Subject.create(
    "ray-own", model=gelu_mlp, loss=focal_loss, task="separable_2d", lr=0.1, batch_size=8,
    task_options={"n_per_class": 16, "n_test_per_class": 16},
    tiers={"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=(0, 1), epochs=10)})
''', "layers.py": '''
import torch.nn as nn


def gelu_block(inputs, hidden, outputs):
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, outputs), nn.Flatten(0))
'''}


def test_a_users_own_model_and_loss_train_on_workers_that_cannot_import_them(cluster, tmp_path, monkeypatch):
    """A package of the user's (a model built by a sibling module, a loss) that only the driver can import: the
    Ray executor sends its code by value, and the shards give what in-process training gives."""
    package = tmp_path / "code" / "iw_ray_own"
    package.mkdir(parents=True)
    for name, text in OWN_PACKAGE.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(package.parent))
    import iw_ray_own

    assert installed(torch) and not installed(iw_ray_own)  # what the executor sends by value
    import_spec = ray.remote(lambda: __import__("importlib.util").util.find_spec("iw_ray_own"))
    assert ray.get(import_spec.remote()) is None  # the workers cannot import the package
    sweep = iw_ray_own.SUBJECT.sweep("fast")
    distributed = SweepCache(tmp_path / "ray", show_progress=False).run(sweep, CPU, RayExecutor(cluster))
    local = SweepCache(tmp_path / "local", show_progress=False).run(sweep, CPU)
    assert distributed.meta["shards"] == len(sweep.seeds) and distributed.key == local.key
    assert_identical(distributed, local)
    assert statistics(distributed) == statistics(local)


def test_the_device_is_the_clusters(cluster):
    """A driver trains where the cluster can: ``auto`` is a GPU only if the cluster has one (this one has none)."""
    executor = RayExecutor(cluster)
    assert executor.device("auto") == CPU and executor.device("cpu") == CPU
    with pytest.raises(RuntimeError, match="the Ray cluster has no GPU"):
        executor.device("cuda")


PLAN_SUBJECTS = '''
from iwcore import Subject

SHARED = Subject.create("plan-shared", model="mlp", task="separable_2d", lr=0.1, batch_size=8,
                        task_options={"n_per_class": 40, "n_test_per_class": 20},
                        tiers={"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=tuple(range(5)), epochs=20)})
OTHER = Subject.create("plan-other", model="logreg", task="separable_2d", lr=0.1, batch_size=8,
                       task_options={"n_per_class": 40, "n_test_per_class": 20},
                       tiers={"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=tuple(range(5)), epochs=40)})
'''

PLAN_TESTS = '''
from iwcore import parametrize_with_claims, progress
from plansubjects import OTHER, SHARED

progress.set_sink(lambda line: print(line, flush=True))


@parametrize_with_claims(SHARED, tiers=["fast"], claims=["C1", "C2"])
def test_shared(claim_case, check_claim):
    check_claim(claim_case)


@parametrize_with_claims(OTHER, tiers=["fast"], claims=["C1"])
def test_other(claim_case, check_claim):
    check_claim(claim_case)
'''


def shard_intervals(subject: str) -> dict[str, list[tuple[float, float]]]:
    """Each shard task of ``subject``'s sweeps the cluster ran, by task name: its (start, end) on the worker, from
    the task events the workers record (``ray.timeline``)."""
    intervals: dict[str, list] = {}
    for event in ray.timeline():
        if event.get("cat", "").startswith(f"task::fast-{subject}"):
            intervals.setdefault(event["cat"], []).append((event["ts"], event["ts"] + event["dur"]))
    return intervals


def test_plan_first_trains_every_claims_sweeps_at_once_and_each_once(cluster, tmp_path, monkeypatch):
    """A pytest run with ``--executor ray`` submits the shards of all its claims' sweeps at the start: the sweep that
    C1 and C2 share trains once (one task per shard), shards of the last test's claim run beside the others',
    progress counts the plan's shards, and the decisions are those of in-process training (and of
    ``iwcore.check`` on the cluster)."""
    (tmp_path / "plansubjects.py").write_text(PLAN_SUBJECTS)
    (tmp_path / "test_plan_first.py").write_text(PLAN_TESTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {**os.environ, **RAY_ENV, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "test_plan_first.py", "-p", "no:cacheprovider", "-n", "0",
                          "-s", "-q", "--rootdir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"),
                          "--report-dir", str(tmp_path / "reports"), "--device", "cpu", "--executor", "ray",
                          "--ray-address", cluster], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode in (0, 1), output  # claims that are not REPRODUCED fail; nothing errors
    assert "plan: 15/15 shards done (3/3 sweeps)" in output, output

    wait_for(lambda: len(shard_intervals("plan-")) == 15, 60, "the workers' task events")  # sent every second
    shared, other = shard_intervals("plan-shared"), shard_intervals("plan-other")
    assert sorted(shared) == sorted(f"task::fast-plan-shared{variant}[seeds-{s}-{s}]" for s in range(5)
                                    for variant in ("", "-l2")), output  # C2 also plans an L2 variant
    assert sorted(other) == [f"task::fast-plan-other[seeds-{s}-{s}]" for s in range(5)], output
    assert all(len(runs) == 1 for runs in (shared | other).values())  # each shard trained once
    # The other claim's sweep (the largest: submitted first, its test last) trains beside the shared claims' sweeps.
    assert any(a < d and c < b for [(a, b)] in shared.values() for [(c, d)] in other.values())

    import plansubjects
    from iwcore import check

    records = json.loads((tmp_path / "reports" / "fast" / "claims.json").read_text())["claims"]
    on_ray = {record["id"]: record["verdict"] for record in records}
    assert set(on_ray) == {"C1@plan-shared", "C2@plan-shared", "C1@plan-other"}
    for cache, executor in (("local", None), ("check-ray", RayExecutor(cluster))):
        decided = {**check(plansubjects.SHARED, claims=["C1", "C2"], cache_dir=tmp_path / cache, executor=executor,
                           report_dir=tmp_path / f"{cache}-reports", show_progress=False),
                   **check(plansubjects.OTHER, claims=["C1"], cache_dir=tmp_path / cache, executor=executor,
                           report_dir=tmp_path / f"{cache}-reports", show_progress=False)}
        assert {claim: d.verdict.value for claim, d in decided.items()} == on_ray, cache
