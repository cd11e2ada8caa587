"""The iwclaims pytest plugin, run on throw-away test files (pytester, mostly in subprocesses).

Covers: options parsed in both forms on a first and a second run (an existing folder as a value),
loading with ``-p iwcore.plugin`` without the entry point, ``--claim`` selection by claim, subject and tier,
progress through the controller's terminal (under pytest-xdist, only on a terminal, never with
``--no-progress``), the reproduction line of a failing claim, run records (only this run's claims,
history, a claim that left no record), and what ``run_sweep``/the cache report per sweep.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

from pathlib import Path

import pytest

from iwcore import progress
from iwcore.progress import SweepProgress

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]

INI = """
[pytest]
markers =
    fast: fast tier
    full: full tier
"""

CLAIMS = '''
import pytest
from iwcore.report import ClaimRecord

TIERS = [pytest.param("fast", marks=pytest.mark.fast), pytest.param("full", marks=pytest.mark.full)]


def write(request, report_dir, claim_id, tier, verdict="REPRODUCED"):
    base = request.config.getoption("base_seed")
    rows = [{"part": "", "set": "test", "statistic": "F", "value": 0.1 + base, "low": 0.0, "high": 0.2,
             "rule": "F <= 0.25", "p": None, "t": None, "verdict": verdict}]
    ClaimRecord(id=claim_id, claim="a sentence", tier=tier, verdict=verdict, seeds=[base, base + 1],
                epochs=3, rows=rows, outcome="passed").write(report_dir)
    request.node.user_properties.append(("cache_keys", [f"{tier}-{claim_id}-key"]))


@pytest.mark.claim("C1")
@pytest.mark.parametrize("tier", TIERS)
def test_C1(tier, request, report_dir):
    write(request, report_dir, "C1", tier)


@pytest.mark.claim("C10")
@pytest.mark.parametrize("tier", TIERS)
def test_C10(tier, request, report_dir):
    write(request, report_dir, "C10", tier)


@pytest.mark.claim("C11")
@pytest.mark.parametrize("tier", TIERS)
def test_C11(tier, request, report_dir):
    verdict = "NOT REPRODUCED" if request.config.getoption("base_seed") == 1 else "REPRODUCED"
    write(request, report_dir, "C11", tier, verdict)
    assert verdict == "REPRODUCED", f"C11 {verdict}"


def test_unit():
    pass
'''


@pytest.fixture
def project(pytester):
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_claims=CLAIMS)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:benchmark", "-p", "no:cacheprovider", *args, timeout=60)


def passed_ids(result) -> list[str]:
    return sorted(line.split()[0].split("::")[-1] for line in result.outlines if " PASSED" in line)


# ---------------------------------------------------------------------------------------------
# 1. Options parse in both forms, every time; the plugin loads without its entry point


@pytest.mark.parametrize("form", ["space", "equals"])
def test_options_parse_in_both_forms_on_the_first_and_the_second_run(project, form):
    cache, reports = project.path / "cache", project.path / "out"
    for attempt in range(2):  # the second run finds the folders existing: pytest issue #6904's trigger
        args = ([f"--cache-dir={cache}", f"--report-dir={reports}"] if form == "equals"
                else ["--cache-dir", str(cache), "--report-dir", str(reports)])
        result = run(project, *args, "-m", "fast", "--claim", "C1", "-v")
        assert result.ret == 0, (attempt, result.stdout.str(), result.stderr.str())
        assert passed_ids(result) == ["test_C1[fast]"]
        cache.mkdir(exist_ok=True)
        assert (reports / "fast" / "claims.md").exists()


def test_plugin_loads_with_p_without_the_entry_point(project, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    (project.path / "cache").mkdir()
    result = run(project, "-p", "iwcore.plugin", "--cache-dir", str(project.path / "cache"), "-m", "fast",
                 "--claim", "C1", "-v")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert passed_ids(result) == ["test_C1[fast]"]


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"iwcore.plugin": "iwcore.plugin"}
    assert (ROOT / "conftest.py").read_text().count("\n") <= 2  # the root conftest is a line


def test_the_projects_own_options_parse_with_an_existing_folder_as_value(tmp_path):
    (tmp_path / "cache").mkdir()
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "--collect-only", "-q", "tests/test_report.py",
                          "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------------------------------------
# --claim


def test_claim_selects_exact_ids_only(project):
    result = run(project, "-m", "fast", "--claim", "C1", "-v")
    assert passed_ids(result) == ["test_C1[fast]"]  # not C10 or C11, which -k C1 would select
    result = run(project, "-m", "fast", "--claim", "C1,C10", "-v")
    assert passed_ids(result) == ["test_C10[fast]", "test_C1[fast]"]
    result = run(project, "-m", "full", "--claim", "C10", "--claim", "C1", "-v")
    assert passed_ids(result) == ["test_C10[full]", "test_C1[full]"]


@pytest.mark.parametrize("value, message", [("C99", "no collected test has that claim(id) marker"),
                                            ("c1", "claim ids look like C6, C6@subject or @subject"),
                                            ("C1@", "claim ids look like C6"), ("@a@b", "claim ids look like C6")])
def test_unknown_or_malformed_claim_is_a_usage_error(project, value, message):
    result = run(project, f"--claim={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


SUBJECT_CASES = '''
import pytest

TIERS = [pytest.param("fast", marks=pytest.mark.fast), pytest.param("full", marks=pytest.mark.full)]


@pytest.mark.claim("C6@my-mlp")
@pytest.mark.parametrize("tier", TIERS)
def test_C6_mine(tier):
    pass


@pytest.mark.claim("C7@my-mlp")
@pytest.mark.parametrize("tier", TIERS)
def test_C7_mine(tier):
    pass


@pytest.mark.claim("C6@other+my-mlp")
@pytest.mark.parametrize("tier", TIERS)
def test_C6_both(tier):
    pass
'''


@pytest.mark.parametrize("selector, selected", [
    ("C6@my-mlp-fast", ["test_C6_mine[fast]"]),
    ("C6@my-mlp", ["test_C6_mine[fast]", "test_C6_mine[full]"]),
    ("@my-mlp-full", ["test_C6_mine[full]", "test_C7_mine[full]"]),
    ("@other+my-mlp", ["test_C6_both[fast]", "test_C6_both[full]"]),
    ("C6", ["test_C6_both[fast]", "test_C6_both[full]", "test_C6_mine[fast]", "test_C6_mine[full]"]),
    ("C1,C7@my-mlp", ["test_C1[fast]", "test_C1[full]", "test_C7_mine[fast]", "test_C7_mine[full]"]),
])
def test_claim_selects_cases_by_claim_subject_and_tier(project, selector, selected):
    project.makepyfile(test_subjects=SUBJECT_CASES)
    result = run(project, "-m", "fast or full", f"--claim={selector}", "-v")  # pytest reads `@name` as a file
    assert sorted(passed_ids(result)) == selected, result.stdout.str() + result.stderr.str()


def test_a_selector_that_names_no_case_is_a_usage_error_naming_ids_and_subjects(project):
    project.makepyfile(test_subjects=SUBJECT_CASES)
    result = run(project, "--claim", "C7@other,@nobody")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("--claim @nobody,C7@other: no collected test has that claim(id) marker (collected claims: C1, C6@my-mlp, "
            "C6@other+my-mlp, C7@my-mlp, C10, C11; subjects: my-mlp, other+my-mlp)") in result.stderr.str()


def test_unknown_claim_under_xdist_is_a_usage_error_too(project):
    result = run(project, "-n", "1", "--claim", "C99")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "ERROR: --claim C99: no collected test has that claim(id) marker (collected claims: C1, C10, C11)" in \
        result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


# ---------------------------------------------------------------------------------------------
# 2. Progress


PROGRESS_TEST = '''
import time
from iwcore import progress

def test_trains():
    progress.report("training fake-sweep (3 models, cpu)")
    time.sleep(0.3)
    progress.report("trained fake-sweep in 0.3 s")
'''


def run_on_terminal(folder, *args, timeout=60) -> str:
    """pytest in a pseudo-terminal (as a user's shell would run it); its whole output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: pytest, with the pty as its terminal
        os.chdir(folder)
        os.execvp(sys.executable, [sys.executable, "-m", "pytest", "-p", "no:benchmark", "-p", "no:cacheprovider",
                                   *args])
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_progress_reaches_the_terminal_under_xdist_without_s(pytester):
    pytester.makepyfile(test_progress=PROGRESS_TEST)
    out = run_on_terminal(pytester.path, "-n", "1", "-q")
    assert "[gw0] training fake-sweep (3 models, cpu)" in out and "[gw0] trained fake-sweep" in out, out


def test_progress_in_a_run_without_workers(pytester):
    pytester.makepyfile(test_progress=PROGRESS_TEST)
    out = run_on_terminal(pytester.path, "-n", "0", "-q")
    assert "training fake-sweep (3 models, cpu)" in out and "Captured" not in out, out


def test_no_progress_and_a_pipe_are_silent(pytester):
    pytester.makepyfile(test_progress=PROGRESS_TEST)
    assert "training fake-sweep" not in run_on_terminal(pytester.path, "-n", "1", "-q", "--no-progress")
    result = run(pytester, "-n", "1")  # output to a pipe, not a terminal
    assert result.ret == 0 and "training fake-sweep" not in result.stdout.str() + result.stderr.str()


def test_sweep_progress_reports_epochs_and_an_eta():
    lines, now = [], [0.0]
    bar = SweepProgress("s", lines.append, interval_s=10, clock=lambda: now[0])(total=100, desc="s")
    for _ in range(50):
        now[0] += 0.5
        bar.update(1)
    assert lines == ["s: 20/100 epochs (20%), 10.0 s elapsed, ETA 40.0 s",
                     "s: 40/100 epochs (40%), 20.0 s elapsed, ETA 30.0 s"]
    resumed = SweepProgress("r", lines.append, interval_s=0, clock=lambda: now[0])(total=10)
    resumed.update(6)  # a resumed sweep skips finished work: done, but not in the rate
    now[0] += 2
    resumed.update(1)
    assert lines[-1] == "r: 7/10 epochs (70%), 2.0 s elapsed, ETA 6.0 s"


def test_the_cache_reports_training_hits_and_waiting(tmp_path):
    import torch
    from filelock import FileLock

    from iwcore.cache import SweepCache
    from iwcore.sweep import Sweep

    sweep = Sweep(name="tiny", task="separable_2d", task_options={"n_per_class": 8, "n_test_per_class": 4},
                  model="logreg", weight_ratios=(0.5, 2.0), seeds=(0,), epochs=3, batch_size=8, lr=0.1)
    lines: list[str] = []
    cache = SweepCache(tmp_path, show_progress=False, progress=lines.append)
    first = cache.run(sweep, torch.device("cpu"))
    assert lines[0] == "training tiny (2 models, cpu)" and lines[-1].startswith("trained tiny in")
    assert first.meta["source"] == "trained" and first.meta["trained_at"] and first.meta["wall_time_s"] > 0
    again = cache.run(sweep, torch.device("cpu"))
    assert lines[-1].startswith("cache hit tiny") and again.meta["source"] == "cache"
    assert again.meta["read_s"] >= 0 and again.meta["wall_time_s"] == first.meta["wall_time_s"]

    other = sweep.scaled(name="tiny2")
    lock = FileLock(str(tmp_path / f"{cache.key(other, torch.device('cpu'))}.lock"))
    lock.acquire()  # "another worker" holds the lock
    worker = threading.Thread(target=cache.run, args=(other, torch.device("cpu")))
    worker.start()
    deadline = time.time() + 10
    while "waiting for tiny2 (another worker trains it)" not in lines and time.time() < deadline:
        time.sleep(0.05)
    lock.release()
    worker.join()
    assert "waiting for tiny2 (another worker trains it)" in lines


def test_progress_sink_is_restored_and_never_raises():
    def broken(_):
        raise RuntimeError("terminal gone")

    previous = progress.set_sink(broken)
    try:
        progress.report("anything")  # swallowed
    finally:
        progress.set_sink(previous)


# ---------------------------------------------------------------------------------------------
# 3. Reproduction line


def test_a_failing_claim_prints_its_reproduction_line(project):
    (project.path / "data").mkdir()
    (project.path / "data" / "train.tsv").write_text("x")
    (project.path / "data" / "dev.tsv").write_text("x")
    (project.path / "data" / "test.tsv").write_text("x")
    cache = project.path / "c"
    result = run(project, "-m", "fast", "--base-seed", "1", "--cache-dir", str(cache), "--data-dir",
                 str(project.path / "data"))
    assert result.ret == 1
    out = result.stdout.str()
    line = (f"pytest test_claims.py -m fast --claim C11 --base-seed 1 -n 0 --cache-dir {cache} "
            f"--data-dir {project.path / 'data'}")
    assert "iwclaims: reproduce C11" in out  # in the failure's own output
    assert f"C11 (fast tier): {line}" in out  # and in the summary at the end
    assert "cache keys: fast-C11-key" in out
    assert "reproduce C1 " not in out and "C10 (fast tier)" not in out  # passing claims print none


def test_an_unexpected_pass_prints_its_reproduction_line(pytester):
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_x='''
import pytest

@pytest.mark.claim("C4")
@pytest.mark.parametrize("tier", [pytest.param("fast", marks=[pytest.mark.fast, pytest.mark.xfail(strict=True)])])
def test_C4(tier):
    pass

@pytest.mark.claim("C8")
@pytest.mark.parametrize("tier", [pytest.param("fast", marks=[pytest.mark.fast, pytest.mark.xfail(strict=True)])])
def test_C8(tier):
    assert False  # the expected finding: no reproduction line
''')
    result = run(pytester, "-m", "fast")
    out = result.stdout.str()
    assert result.ret == 1 and "C4 (fast tier): pytest test_x.py -m fast --claim C4 --base-seed 0 -n 0" in out
    assert "--claim C8" not in out


# ---------------------------------------------------------------------------------------------
# 4. Runs are records


def test_a_report_holds_exactly_this_runs_claims(project):
    reports = project.path / "reports" / "fast"
    assert run(project, "-m", "fast", "--claim", "C1,C10").ret == 0
    result = run(project, "-m", "fast", "--claim", "C11", "--base-seed", "1", "-n", "1")  # records from a worker
    assert result.ret == 1
    doc = json.loads((reports / "claims.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["C11"]  # not C1/C10 from the earlier run
    assert doc["base_seed"] == 1 and doc["claims"][0]["seeds"] == [1, 2]
    assert doc["claims"][0]["pytest_outcome"] == "failed" and "--claim C11" in doc["claims"][0]["reproduce"]
    assert doc["git"].keys() == {"commit", "dirty"} and doc["code_version"] and doc["environment"]["python"]
    assert "--claim C11" in doc["command"] and doc["options"]["base_seed"] == 1 and doc["options"]["claim"] == ["C11"]
    history = [json.loads(line) for line in (reports / "history.jsonl").read_text().splitlines()]
    assert [sorted(c["id"] for c in h["claims"]) for h in history] == [["C1", "C10"], ["C11"]]
    assert history[0]["run_id"] != history[1]["run_id"] == doc["run_id"]
    md = (reports / "claims.md").read_text()
    assert doc["run_id"] in md and "Base seed:** 1" in md and "## C10" not in md and "[C10]" not in md  # C10 only in "Not run"


def test_compare_last_two_runs_after_two_runs(project):
    assert run(project, "-m", "fast", "--claim", "C1,C11").ret == 0
    assert run(project, "-m", "fast", "--claim", "C1,C11", "--base-seed", "1").ret == 1
    out = subprocess.run([sys.executable, "-m", "iwcore.report", "--report-dir", str(project.path / "reports"),
                          "--compare", "last", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "C11" in out.stdout and "REPRODUCED" in out.stdout and "NOT REPRODUCED" in out.stdout
    assert "1 of 2 claims changed verdict" in out.stdout and "base_seed changed: 0 -> 1" in out.stdout


def test_a_claim_that_leaves_no_record_fails_the_run(pytester):
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_x='''
import shutil
import pytest
from iwcore.report import ClaimRecord

@pytest.mark.claim("C2")
@pytest.mark.parametrize("tier", [pytest.param("fast", marks=pytest.mark.fast)])
def test_C2(tier, report_dir):
    ClaimRecord(id="C2", claim="s", tier=tier, verdict="REPRODUCED").write(report_dir)

@pytest.mark.claim("C3")
@pytest.mark.parametrize("tier", [pytest.param("fast", marks=pytest.mark.fast)])
def test_C3(tier, report_dir):
    ClaimRecord(id="C3", claim="s", tier=tier, verdict="REPRODUCED").write(report_dir)
    shutil.rmtree(report_dir / "fast" / "results")  # someone deletes the report folder mid-run
''')
    result = run(pytester, "-m", "fast", "-p", "no:randomly")
    assert result.ret == 1, result.stdout.str()
    assert "C2 (test_x.py::test_C2[fast]) ran (passed) but left no record" in result.stdout.str()


def test_skipped_claims_are_listed_not_reported_as_decided(pytester):
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_x='''
import pytest
from iwcore.report import ClaimRecord

@pytest.mark.claim("C5")
@pytest.mark.parametrize("tier", [pytest.param("full", marks=pytest.mark.full)])
def test_C5(tier, report_dir):
    ClaimRecord(id="C5", claim="s", tier=tier, verdict="REPRODUCED").write(report_dir)

@pytest.mark.claim("C6")
@pytest.mark.parametrize("tier", [pytest.param("full", marks=pytest.mark.full)])
def test_C6(tier):
    pytest.skip("needs CUDA")
''')
    assert run(pytester, "-m", "full").ret == 0
    doc = json.loads((pytester.path / "reports" / "full" / "claims.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["C5"]
    assert doc["not_decided"][0]["id"] == "C6" and "needs CUDA" in doc["not_decided"][0]["reason"]


@pytest.fixture
def sweep_cache(tmp_path):
    """This module's cache (run_sweep below uses it instead of the session's)."""
    from iwcore.cache import SweepCache

    return SweepCache(tmp_path / "cache", show_progress=False, progress=progress.report)


def test_run_sweep_records_source_and_times_per_sweep(run_sweep, request):
    from iwcore.sweep import Sweep

    sweep = Sweep(name="tiny-rs", task="separable_2d", task_options={"n_per_class": 8, "n_test_per_class": 4},
                  model="logreg", weight_ratios=(1.0,), seeds=(0,), epochs=2, batch_size=8, lr=0.1)
    first, second = run_sweep(sweep), run_sweep(sweep)
    sweeps = dict(request.node.user_properties)["sweeps"]
    assert [s["source"] for s in sweeps] == ["trained", "cache"]
    assert sweeps[0]["key"] == first.key == second.key and sweeps[1]["read_s"] >= 0
    assert sweeps[0]["train_s"] == sweeps[1]["train_s"] > 0 and sweeps[1]["trained_at"]
