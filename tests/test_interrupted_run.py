"""A run interrupted (SIGINT, as Ctrl-C sends) while a claim trains is recorded as interrupted, in the run
record, the report's header and its problem line, never as passed; a claim decided before keeps its record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from runs import REPO, USER_PARTS

SUBJECTS = USER_PARTS + '''

def subject(name, epochs):
    return Subject.create(name, model=gelu_mlp, loss=focal_loss, task="separable_2d", lr=0.1, batch_size=8,
                          task_options={"n_per_class": 16, "n_test_per_class": 16},
                          deciding_roles=("in_domain", "grid"),
                          tiers={"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=tuple(range(5)), epochs=epochs)})


QUICK = subject("quick", 20)
ENDLESS = subject("endless", 10 ** 7)  # still training when the run is interrupted
'''

TESTS = '''
from subjects import ENDLESS, QUICK
from iwcore import parametrize_with_claims


@parametrize_with_claims(QUICK, tiers=["fast"], claims=["C1"])
def test_quick(claim_case, check_claim):
    check_claim(claim_case)


@parametrize_with_claims(ENDLESS, tiers=["fast"], claims=["C1"])
def test_endless(claim_case, check_claim):
    check_claim(claim_case)
'''


def wait_for(condition, process, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{what} did not happen:\n{process.communicate()[0]}")
        time.sleep(0.1)


def test_sigint_while_a_claim_trains_is_reported_as_interrupted(tmp_path):
    (tmp_path / "subjects.py").write_text(SUBJECTS)
    (tmp_path / "test_claims.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    fast: fast tier\n")
    cache, reports = tmp_path / "cache", tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-m", "fast", f"--cache-dir={cache}",
         f"--report-dir={reports}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl-C as in a shell
    results = reports / "fast" / "results"
    wait_for(lambda: any(results.glob("C1@quick*.json")), process, "the quick claim's record")
    wait_for(lambda: any(entry.is_dir() and not (entry / "result.npz").exists() for entry in cache.iterdir()),
             process, "the endless claim's training")  # its cache entry exists, unfinished
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 2, output  # pytest's INTERRUPTED

    run = json.loads((reports / "fast" / "claims.json").read_text())
    assert run["interrupted"] is True and run["exit_status"] == 2
    assert [(c["id"], c["pytest_outcome"] in ("passed", "failed")) for c in run["claims"]] == [("C1@quick", True)]
    problem, = run["problems"]
    assert problem.startswith("C1@endless") and "was interrupted" in problem and "passed" not in problem
    history = [json.loads(line) for line in (reports / "fast" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["interrupted"] is True
    markdown = (reports / "fast" / "claims.md").read_text()
    assert "**Status:** interrupted" in markdown and "C1@endless" in markdown and "ran (passed)" not in markdown
