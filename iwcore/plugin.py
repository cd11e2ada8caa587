"""The iwclaims pytest plugin: options, fixtures, claim selection, progress, reproduction lines and
run records.

Registered as a ``pytest11`` entry point (``iwcore.plugin``), so pytest knows its options while it
parses the command line, in both forms (``--cache-dir DIR`` and ``--cache-dir=DIR``) and from any
folder; a path given in the first form leaves pytest's rootdir and config file where they are
(``iwcore.rootdir``). From a checkout that is not installed, ``pytest -p iwcore.plugin`` loads it (the root
``conftest.py`` does too, but too late to keep the rootdir).

Options (group *iwclaims*): ``--device auto|cpu|cuda``, ``--base-seed N`` (shifts every seed of every
sweep), ``--cache-dir``, ``--report-dir``, ``--data-dir``, ``--download``, ``--allow-cpu``,
``--bert-model``, ``--no-progress``, ``--claim C6[,C6@subject,@subject...]`` (the tests whose ``claim(id)``
marker these select, ``iwcore.selection``), ``--executor inprocess|xdist|ray`` (where shards train, see
``iwcore.executors``; default xdist under pytest-xdist workers, else inprocess; with ray the selected claims'
sweeps all train from the start, ``iwcore.prefetch``), ``--ray-address``,
``--shard-models N``. Bad values (``--device cuda`` without CUDA, a negative ``--base-seed``, a
``--data-dir`` that is missing, empty or incomplete, an unknown claim id, ``--executor ray`` without
ray, ``--executor xdist`` without ``-n``, ``--ray-address`` without ``--executor ray``, a
``--shard-models`` that is not a positive integer) are usage errors: one line, exit status 4, before any
training.
``--dry-run`` [``--max-steps N``, a positive number]: the full tier's dry run (``iwcore.dryrun``).

The plugin imports only the standard library and light ``iwcore`` modules at start-up; torch is
imported by the fixtures that train (and by ``--device cuda``'s check).
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iwcore import progress, rootdir, selection
from iwcore.report import DEFAULT_REPORT_DIR, gather, now, set_current_run_id, write_run
from iwcore.runinfo import code_version, environment, git_info, new_run_id

TIERS = ("fast", "long", "full")  # iwcore.battery.claim.TIERS (not imported: it loads torch)
STATE = pytest.StashKey["_State"]()
OPTION_NAMES = ("device", "base_seed", "cache_dir", "report_dir", "data_dir", "download", "allow_cpu", "bert_model",
                "no_progress", "claim", "executor", "ray_address", "shard_models", "dry_run")
EXECUTORS = ("inprocess", "xdist", "ray")  # iwcore.executors.EXECUTORS (that module imports torch)


def pytest_addoption(parser):
    group = parser.getgroup("iwclaims", "iwclaims: claims of Byrd & Lipton (2019)")
    group.addoption("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where sweeps train")
    group.addoption("--base-seed", default="0", metavar="N",
                    help="shift every seed of every sweep, data seeds included (a non-negative integer)")
    group.addoption("--cache-dir", type=Path, default=None,
                    help="trained-sweep cache (default .iwcache or $IWCLAIMS_CACHE)")
    group.addoption("--report-dir", type=Path, default=None, help="where claims reports go (default <rootdir>/reports)")
    group.addoption("--data-dir", type=Path, default=None, help="folder with CIFAR-10 / MRPC for real-data claims")
    group.addoption("--download", action="store_true", help="allow torchvision to download CIFAR-10 into --data-dir")
    group.addoption("--allow-cpu", action="store_true", help="run full-tier image/text claims without CUDA")
    group.addoption("--bert-model", default="bert-base-uncased", help="name or local folder of the BERT model (C16)")
    group.addoption("--no-progress", action="store_true", help="do not show training progress")
    group.addoption("--claim", action="append", default=[], metavar="C6[,C6@subject,@subject...]",
                    help="run only these claims' tests: a claim (C6), a claim about a subject (C6@subject, "
                         "optionally with its tier: C6@subject-fast) or every claim of a subject (@subject)")
    group.addoption("--executor", default=None, choices=EXECUTORS,
                    help="where sweep shards train: in the test's process, in pytest-xdist workers pinned to one "
                         "GPU each, or as Ray tasks (default: xdist under -n N, else inprocess)")
    group.addoption("--ray-address", default=None, metavar="ADDRESS",
                    help="the Ray cluster for --executor ray: host:port of its head, or auto "
                         "(default: a new single-machine cluster)")
    group.addoption("--shard-models", default="0", metavar="N",
                    help="models per shard of a sweep, rounded down to whole seeds (default: from the device's memory)")
    group.addoption("--dry-run", action="store_true",
                    help="run every claim at its configuration truncated to --max-steps SGD steps per epoch for 3 "
                         "epochs, CPU allowed, verdicts marked DRY RUN (iwcore.dryrun); reports in reports/dry-run")
    group.addoption("--max-steps", type=int, default=2, metavar="N", help="SGD steps per epoch of --dry-run")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, args, parser):
    """Undo the rootdir that pytest guessed, before plugins loaded, from a path given as ``--opt PATH``."""
    rootdir.restore(early_config, args, parser)


# ---------------------------------------------------------------------------------------------
# State of one pytest process


@dataclass
class _Test:
    nodeid: str
    claim: str
    tier: str | None
    outcome: str = "interrupted"  # until its call (or a failed or skipped setup) reports: the run stopped first
    reason: str = ""
    duration_s: float = 0.0
    properties: dict = field(default_factory=dict)


@dataclass
class _State:
    run_id: str
    started_at: str
    started: float
    is_worker: bool
    claims: set = field(default_factory=set)
    tests: dict = field(default_factory=dict)  # nodeid -> _Test (controller)
    reproduce: list = field(default_factory=list)  # (claim, tier, line, keys) of failed claim tests
    messages: list = field(default_factory=list)  # end-of-run lines for the terminal summary
    reports: list = field(default_factory=list)
    listener: progress.Listener | None = None
    show_progress: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    usage_error: str | None = None  # reported by a pytest-xdist worker
    previous_run_id: str | None = None
    previous_sink: object = None


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _state(config) -> _State:
    return config.stash[STATE]


# ---------------------------------------------------------------------------------------------
# Configuration and usage errors


def _xdist_workers(config) -> bool:
    """Whether this run starts pytest-xdist workers (``-n`` other than 0)."""
    return config.getoption("numprocesses", None) not in (None, 0, "0")


def _full_tier_selected(config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    if not markexpr:
        return True
    try:
        from _pytest.mark.expression import Expression

        return bool(Expression.compile(markexpr).evaluate(lambda name, **kw: name in {"full", "claim"}))
    except Exception:
        return "full" in markexpr and "not full" not in markexpr


def _check_options(config) -> None:
    """Usage errors for bad option values, raised before anything trains (one line each)."""
    raw = str(config.getoption("base_seed"))
    try:
        base_seed = int(raw)
    except ValueError:
        raise pytest.UsageError(f"--base-seed {raw}: expected a non-negative integer") from None
    if base_seed < 0:
        raise pytest.UsageError(f"--base-seed {raw}: expected a non-negative integer (seeds must be >= 0)")
    config.option.base_seed = base_seed
    try:
        config.option.claim = selection.parse(config.getoption("claim"))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    raw = str(config.getoption("shard_models"))
    if not raw.isdigit():
        raise pytest.UsageError(f"--shard-models {raw}: expected a number of models per shard (0: from the device)")
    config.option.shard_models = int(raw)
    if config.option.max_steps < 1:
        raise pytest.UsageError(f"--max-steps {config.option.max_steps}: expected a positive number of SGD steps")
    config.option.dry_run = config.option.max_steps if config.option.dry_run else 0  # steps per epoch, or 0
    config.option.runxfail = config.option.runxfail or bool(config.option.dry_run)  # passes when it ran end to end
    executor = config.getoption("executor")
    if executor is None:
        executor = config.option.executor = "xdist" if _is_worker(config) or _xdist_workers(config) else "inprocess"
    if _is_worker(config) or config.getoption("help", False):
        return
    if config.getoption("ray_address") is not None and executor != "ray":
        raise pytest.UsageError("--ray-address: only used with --executor ray")
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise pytest.UsageError("--executor ray: ray is not installed (pip install 'iwclaims[ray]')") from None
    if executor == "xdist" and not _xdist_workers(config):
        raise pytest.UsageError("--executor xdist: needs pytest-xdist workers (-n N, one per GPU)")
    if config.getoption("device") == "cuda" and executor != "ray":  # a Ray driver needs no GPU of its own
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                                    f"(use --device cpu, or auto)")
    data_dir = config.getoption("data_dir")
    if data_dir is not None:
        from iwcore.datacheck import DataDirError, check_data_dir

        try:
            check_data_dir(data_dir, download=config.getoption("download"), full_tier=_full_tier_selected(config))
        except DataDirError as err:
            raise pytest.UsageError(str(err)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the CLAIMS.md id a test decides (select with --claim)")
    _check_options(config)
    if config.getoption("report_dir") is None:
        config.option.report_dir = config.rootpath / DEFAULT_REPORT_DIR / ("dry-run" if config.option.dry_run else "")
    config.option.report_dir = Path(config.option.report_dir).expanduser().absolute()
    # One thread per process: stacked sweeps on a CPU are bound by per-operation overhead, where extra
    # threads only contend; the cores are used by running pytest-xdist workers side by side instead.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    worker = _is_worker(config)
    run_id = config.workerinput.get("iwclaims_run_id") if worker else None
    state = _State(run_id=run_id or new_run_id(), started_at=now(), started=time.time(), is_worker=worker,
                   claims=set(config.getoption("claim")))
    config.stash[STATE] = state
    state.previous_run_id = set_current_run_id(state.run_id)
    if worker:
        address = config.workerinput.get("iwclaims_progress")
        sink = None
        if address and progress.unix_sockets_available():
            sink = progress.socket_sink(address, prefix=f"[{config.workerinput.get('workerid', '?')}] ")
        state.previous_sink = progress.set_sink(sink)
        return
    config.pluginmanager.register(_Recorder(state), "iwclaims-recorder")
    state.show_progress = not config.getoption("no_progress") and _stdout_is_terminal()
    state.previous_sink = progress.set_sink((lambda text: _terminal_line(config, text, direct=True))
                                            if state.show_progress else None)


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def pytest_unconfigure(config):
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.listener is not None:
        state.listener.close()
        state.listener = None
    progress.set_sink(state.previous_sink)
    set_current_run_id(state.previous_run_id)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist, on the controller: hand each worker the run id and the progress channel."""
    state = _state(node.config)
    node.workerinput["iwclaims_run_id"] = state.run_id
    if state.show_progress and state.listener is None and progress.unix_sockets_available():
        try:
            state.listener = progress.Listener(lambda text: _terminal_line(node.config, text, direct=False))
        except OSError:
            state.show_progress = False
    node.workerinput["iwclaims_progress"] = state.listener.address if state.listener else None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist, on the controller: a worker's usage error (see --claim) becomes the session's."""
    message = getattr(node, "workeroutput", {}).get("iwclaims_usage_error")
    if message:
        _state(node.config).usage_error = message


def _terminal_line(config, text: str, direct: bool) -> None:
    """Write one progress line through the terminal reporter. ``direct``: called by this process's own
    tests (main thread only, with capture suspended); else by the listener thread of the controller."""
    if direct and threading.current_thread() is not threading.main_thread():
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager") if direct else None
    with _state(config).lock, (capman.global_and_fixture_disabled() if capman else nullcontext()):
        tw = tr._tw
        if tw.width_of_current_line:
            tw.line()
        tr.currentfspath = None  # the next result letter starts a fresh line (with its file name)
        tw.line(text, cyan=True)
        tw.flush()


# ---------------------------------------------------------------------------------------------
# Selection: --claim


def _claim_of(item) -> str | None:
    marker = item.get_closest_marker("claim")
    if marker is None:
        return None
    return str(marker.args[0]) if marker.args else str(marker.kwargs.get("id"))


def _tier_of(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("tier") in TIERS:
        return callspec.params["tier"]
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    # Tests marked long_running start first, so that pytest-xdist workers (work stealing) finish together.
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)
    wanted = _state(config).claims
    if not wanted:
        return
    present = [(_claim_of(item), _tier_of(item)) for item in items]
    collected = [(claim, tier) for claim, tier in present if claim]
    unknown = [s for s in config.getoption("claim") if not any(selection.matches(s, *case) for case in collected)]
    if unknown:
        message = selection.unmatched_message(unknown, collected)
        if not _is_worker(config):
            raise pytest.UsageError(message)
        # A pytest-xdist worker cannot stop the session with a usage error: it runs nothing and hands
        # the message to the controller, which reports it and exits with the usage-error status.
        config.workeroutput["iwclaims_usage_error"] = message
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    keep, drop = [], []
    for item, (claim, tier) in zip(items, present):
        (keep if claim and any(selection.matches(s, claim, tier) for s in wanted) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def device(pytestconfig, executor):
    """The session's device, where its executor trains (for Ray: on the cluster); with ``--executor xdist``
    (the default under pytest-xdist), worker ``gwN`` is pinned to GPU ``N % device_count`` (``pytest -m
    full -n <gpus>`` gives each worker its own GPU; the cache is shared)."""
    import torch

    from iwcore.executors import pinned_device

    torch.set_num_threads(1)
    dev = executor.device(pytestconfig.getoption("device"))
    if pytestconfig.getoption("executor") == "xdist":
        dev = pinned_device(dev, os.environ.get("PYTEST_XDIST_WORKER", ""))
        if dev.index is not None:
            torch.cuda.set_device(dev)
    return dev


@pytest.fixture(scope="session")
def executor(pytestconfig):
    """Where this session's sweeps train (``--executor``); a Ray executor connects to ``--ray-address``."""
    from iwcore.executors import make_executor

    return make_executor(pytestconfig.getoption("executor"), pytestconfig.getoption("ray_address"))


@pytest.fixture(scope="session")
def base_seed(pytestconfig) -> int:
    return int(pytestconfig.getoption("base_seed"))


@pytest.fixture(scope="session")
def sweep_cache(pytestconfig):
    from iwcore.cache import SweepCache, default_cache_dir

    root = pytestconfig.getoption("cache_dir") or default_cache_dir()
    return SweepCache(root, show_progress=False, progress=progress.report,
                      shard_models=pytestconfig.getoption("shard_models"))


def _sweeps_property(node) -> list:
    for name, value in node.user_properties:
        if name == "sweeps":
            return value
    sweeps: list = []
    node.user_properties.append(("sweeps", sweeps))
    return sweeps


@pytest.fixture(scope="session")
def prefetch(request, executor):
    """With ``--executor ray``: every sweep the session's selected claims plan, training on the cluster from the
    start (``iwcore.prefetch``); None otherwise (then a test may override the cache fixture per test)."""
    if executor.name != "ray" or request.config.getoption("dry_run"):  # a dry run's sweeps are truncated per test
        yield None
        return
    from iwcore.prefetch import Prefetch

    cases = [(case.claim, case.tier) for item in request.session.items
             if (case := getattr(item, "callspec", None) and item.callspec.params.get("claim_case"))]
    cache, device, options, base_seed = map(request.getfixturevalue, ("sweep_cache", "device", "claim_options",
                                                                       "base_seed"))
    with Prefetch(cache, cases, options, device, executor, base_seed) as running:
        yield running


@pytest.fixture
def run_sweep(sweep_cache, prefetch, device, executor, base_seed, request):
    """Train (or read from the cache) a sweep with the session's base seed applied, on the session's
    executor (waiting for it where the plan's prefetch trains it; truncated with ``--dry-run``, ``iwcore.dryrun``);
    its progress lines name the test's claim. Each sweep's key, source (trained or cache), times and peak memory go
    into the test's ``user_properties`` ("sweeps")."""
    sweeps = _sweeps_property(request.node)
    claim = _claim_of(request.node) or ""

    dry_run = request.config.getoption("dry_run")

    def run(sweep):
        from iwcore.dryrun import available_bytes, measured, truncated

        sweep = sweep.with_base_seed(base_seed)
        if dry_run:
            sweep = truncated(sweep, dry_run, available_bytes())
        result, peak, how = measured(lambda: (prefetch or sweep_cache).run(sweep, device, executor, label=claim))
        meta = result.meta
        sweeps.append({"name": result.config.get("name"), "key": result.key, "source": meta.get("source"),
                       "read_s": meta.get("read_s"), "waited_s": meta.get("waited_s"),
                       "train_s": meta.get("wall_time_s"), "trained_at": meta.get("trained_at"),
                       "models_per_step": sweep.models_per_step, "peak_rss_bytes": peak, "peak_rss": how})
        return result

    return run


@pytest.fixture(scope="session")
def claim_options(pytestconfig, device) -> dict:
    """The run options claims plan and decide with."""
    options = {name: pytestconfig.getoption(name) for name in ("data_dir", "download", "allow_cpu", "bert_model",
                                                               "dry_run")}
    return {**options, "device": device, "allow_cpu": options["allow_cpu"] or bool(options["dry_run"])}


@pytest.fixture
def check_claim(run_sweep, report_dir, request, claim_options):
    """Run one case of ``@parametrize_with_claims``: decide the claim, write its record, and pass, fail or
    xfail on its verdict; a claim whose data, device or tier is missing here skips, saying what is missing."""
    from iwcore.battery.claim import Context, Unavailable, conclude, run_claim

    def check(case):
        ctx = Context(case.claim, case.tier, run_sweep, report_dir, claim_options)
        try:
            decision = run_claim(ctx, request.node.user_properties)
        except Unavailable as missing:
            pytest.skip(str(missing))
        if not claim_options["dry_run"]:  # a dry run passes when it ran end to end
            conclude(case.claim, case.tier, decision)
        return decision

    return check


@pytest.fixture(scope="session")
def report_dir(pytestconfig) -> Path:
    return pytestconfig.getoption("report_dir")


@pytest.fixture(scope="session")
def data_dir(pytestconfig) -> Path | None:
    return pytestconfig.getoption("data_dir")


# ---------------------------------------------------------------------------------------------
# Per test: claim properties and the reproduction line


def _property(properties, name, default=None):
    for key, value in reversed(list(properties)):
        if key == name:
            return value
    return default


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    claim = _claim_of(item)
    if claim is None:
        return
    if _property(item.user_properties, "claim") is None:
        item.user_properties.append(("claim", claim))
    tier = _tier_of(item)
    if tier and _property(item.user_properties, "tier") is None:
        item.user_properties.append(("tier", tier))


def cache_keys(properties) -> list[str]:
    keys = list(_property(properties, "cache_keys") or [])
    for sweep in _property(properties, "sweeps") or []:
        if sweep.get("key") and sweep["key"] not in keys:
            keys.append(sweep["key"])
    return keys


def reproduction_line(config, item, claim: str, tier: str | None) -> str:
    """A command that reruns exactly this claim with this run's seed, cache and data options."""
    where = config.invocation_params.dir
    try:
        path = os.path.relpath(item.path, where)
    except ValueError:
        path = str(item.path)
    args = ["pytest", path]
    if tier:
        args += ["-m", tier]
    args += ["--claim", claim, "--base-seed", str(config.getoption("base_seed")), "-n", "0"]
    if config.getoption("device") != "auto":
        args += ["--device", config.getoption("device")]
    for option, flag in (("cache_dir", "--cache-dir"), ("data_dir", "--data-dir")):
        value = config.getoption(option)
        if value is not None:
            args += [flag, str(Path(value).expanduser().absolute())]
    if config.getoption("report_dir") != config.rootpath / DEFAULT_REPORT_DIR:
        args += ["--report-dir", str(config.getoption("report_dir"))]
    if config.getoption("bert_model") != "bert-base-uncased":
        args += ["--bert-model", config.getoption("bert_model")]
    args += [flag for option, flag in (("allow_cpu", "--allow-cpu"), ("download", "--download"))
             if config.getoption(option)]
    if config.getoption("dry_run"):
        args += ["--dry-run", "--max-steps", str(config.getoption("dry_run"))]
    return shlex.join(args)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    claim = _property(item.user_properties, "claim") or _claim_of(item)
    if claim and report.failed and _property(report.user_properties, "reproduce") is None:
        tier = _property(item.user_properties, "tier") or _tier_of(item)
        line = reproduction_line(item.config, item, claim, tier)
        keys = cache_keys(item.user_properties)
        text = f"{line}\ncache keys: {', '.join(keys) if keys else 'none recorded'}"
        if hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection(f"iwclaims: reproduce {claim}", text)
        else:
            report.sections.append((f"iwclaims: reproduce {claim}", text))
        report.user_properties = [*report.user_properties, ("reproduce", line)]
    return report


# ---------------------------------------------------------------------------------------------
# On the controller: outcomes, the run record, the report


class _Recorder:
    """On the controller: notes every claim test's reports (from this process or from workers)."""

    def __init__(self, state: "_State"):
        self.state = state

    def pytest_runtest_logreport(self, report):
        claim = _property(report.user_properties, "claim")
        if claim is not None:
            _note(self.state, report, claim)


def _note(state: _State, report, claim: str) -> None:
    test = state.tests.get(report.nodeid)
    if test is None:
        test = state.tests[report.nodeid] = _Test(report.nodeid, claim, _property(report.user_properties, "tier"))
    test.tier = test.tier or _property(report.user_properties, "tier")
    test.duration_s += float(getattr(report, "duration", 0.0) or 0.0)
    test.properties.update({k: v for k, v in report.user_properties})
    outcome = None
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
        longrepr = report.longrepr
        test.reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)
    elif report.when == "call":
        outcome = "passed"
    if outcome and not (test.outcome in ("failed", "error") and outcome == "passed"):
        test.outcome = outcome if test.outcome not in ("failed", "error") else test.outcome
    line = _property(report.user_properties, "reproduce")
    if line and report.failed and not any(r[2] == line for r in state.reproduce):
        state.reproduce.append((claim, test.tier, line, cache_keys(report.user_properties)))


def _options(config) -> dict:
    options = {name: config.getoption(name) for name in OPTION_NAMES}
    options["report_dir"] = str(options["report_dir"])
    for name in ("cache_dir", "data_dir"):
        if options[name] is not None:
            options[name] = str(Path(options[name]).expanduser().absolute())
    options["markexpr"] = config.getoption("markexpr", "")
    options["keyword"] = config.getoption("keyword", "")
    options["numprocesses"] = config.getoption("numprocesses", None)
    return options


def _run_records(config, state: _State, exitstatus) -> list[tuple[Path, dict]]:
    report_dir = Path(config.getoption("report_dir"))
    by_tier: dict[str, list[_Test]] = {}
    for test in state.tests.values():
        by_tier.setdefault(test.tier or "unknown", []).append(test)
    for tier_dir in sorted(report_dir.glob("*/results")):  # records of this run whose test we did not see
        by_tier.setdefault(tier_dir.parent.name, [])
    common = {"run_id": state.run_id, "started_at": state.started_at, "finished_at": now(),
              "wall_time_s": time.time() - state.started, "exit_status": int(exitstatus),
              "interrupted": exitstatus == pytest.ExitCode.INTERRUPTED,
              "command": shlex.join(["pytest", *config.invocation_params.args]), "options": _options(config),
              "base_seed": config.getoption("base_seed"), "git": git_info(config.rootpath),
              "code_version": code_version(), "environment": environment()}
    out = []
    for tier, tests in sorted(by_tier.items()):
        records = {r["id"]: r for r in gather(report_dir / tier, state.run_id)} if tier in TIERS else {}
        claims, not_decided, problems = [], [], []
        for test in sorted(tests, key=lambda t: (int(t.claim[1:]) if t.claim[1:].isdigit() else 0, t.claim)):
            record = records.pop(test.claim, None)
            if record is not None:
                sweeps = record.get("sweeps") or test.properties.get("sweeps") or []
                record.update(pytest_outcome=test.outcome, nodeid=test.nodeid, duration_s=test.duration_s,
                              sweeps=sweeps, reproduce=test.properties.get("reproduce"))
                if not record.get("cache_keys"):
                    record["cache_keys"] = cache_keys(test.properties.items())
                claims.append(record)
            elif test.outcome in ("skipped",):
                not_decided.append({"id": test.claim, "nodeid": test.nodeid, "outcome": test.outcome,
                                    "reason": test.reason})
            elif test.outcome == "interrupted":
                problems.append(f"{test.claim} ({test.nodeid}) was interrupted: the run stopped while it ran, "
                                f"before its verdict")
            else:
                problems.append(f"{test.claim} ({test.nodeid}) ran ({test.outcome}) but left no record of this run "
                                f"under {report_dir / tier / 'results'}")
        claims += records.values()  # recorded by this run, outside a test we saw
        if not claims and not problems:
            continue
        environments = [c.get("environment") for c in claims if c.get("environment")]
        env = dict(common["environment"])
        if environments:
            env.update({f"record {k}": v for k, v in environments[-1].items()
                        if k in ("device", "gpu", "torch", "cpu_threads")})
        out.append((report_dir / tier, {**common, "tier": tier, "claims": claims, "not_decided": not_decided,
                                        "problems": problems}))
    return out


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker:
        return
    if state.listener is not None:
        state.listener.close()
        state.listener = None
    if state.usage_error:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    try:
        runs = _run_records(config, state, exitstatus)
    except Exception as err:  # the report must not hide the test results
        state.messages.append(f"iwclaims: could not assemble the run record: {type(err).__name__}: {err}")
        runs = []
    for tier_dir, run in runs:
        try:
            paths = write_run(tier_dir, run)
        except OSError as err:
            run["problems"].append(f"could not write the report under {tier_dir}: {err}")
            paths = []
        state.reports += paths
        for problem in run["problems"]:
            state.messages.append(f"iwclaims problem: {problem}")
        if run["problems"] and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker:
        return
    tr = terminalreporter
    if state.usage_error:
        tr.write_line(f"ERROR: {state.usage_error}", red=True, bold=True)
    if state.reproduce:
        tr.section("iwclaims: reproduce", sep="=", yellow=True)
        for claim, tier, line, keys in state.reproduce:
            tr.write_line(f"{claim} ({tier or '?'} tier): {line}")
            tr.write_line(f"    cache keys: {', '.join(keys) if keys else 'none recorded'}")
    for message in state.messages:
        tr.write_line(message, red=True)
    for path in state.reports:
        if path.suffix == ".md":
            tr.write_line(f"claims report ({state.run_id}): {path}")
