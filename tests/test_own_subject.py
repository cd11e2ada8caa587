"""The battery pointed at a subject defined outside iwcore: a throw-away package in ``tmp_path`` with its own
model and loss, run by pytest in a subprocess that gets the iwclaims plugin through its entry point only (no
conftest), and through ``iwcore.check`` from Python. Both give decisions and a claims report, with the verdicts
the subject declares as expected failures. The shipped examples (``examples/``) pass the same way."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from iwcore import check
from iwcore.battery.claim import Unavailable
from iwcore.cache import default_cache_dir
from runs import USER_PARTS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytest_plugins = ["pytester"]

USER_PACKAGE = USER_PARTS + '''

SUBJECT = Subject.create(
    "gelu-focal", model=gelu_mlp, loss=focal_loss, task="separable_2d", lr=0.1, batch_size=8,
    task_options={"n_per_class": 16, "n_test_per_class": 16}, deciding_roles=("in_domain", "grid"),
    tiers={"fast": dict(weight_ratios=(1 / 16, 1.0, 16.0), seeds=tuple(range(5)), epochs=40)})
'''

USER_TEST = '''
from mysubject import SUBJECT
from iwcore import parametrize_with_claims


@parametrize_with_claims(SUBJECT, tiers=["fast"], claims=["C1", "C2"])
def test_my_subject(claim_case, check_claim):
    check_claim(claim_case)
'''


def test_a_users_model_and_loss_through_the_plugin_entry_point(pytester):
    pytester.makepyfile(mysubject=USER_PACKAGE, test_mine=USER_TEST)
    pytester.makeini("[pytest]\nmarkers =\n    fast: fast tier\n    long: long tier\n    full: full tier\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", "-m", "fast", "-rA",
                                           "--cache-dir", str(pytester.path / "cache"),
                                           "--report-dir", str(pytester.path / "reports"), timeout=600)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2, result.stdout.str()
    assert "errors" not in outcomes, result.stdout.str()
    report = json.loads((pytester.path / "reports" / "fast" / "claims.json").read_text())
    records = {c["id"]: c for c in report["claims"]}
    assert set(records) == {"C1@gelu-focal", "C2@gelu-focal"}
    for record in records.values():  # each verdict decided, and the pytest outcome follows it
        assert record["verdict"] in ("REPRODUCED", "NOT REPRODUCED", "UNDECIDED", "INCONCLUSIVE")
        assert record["pytest_outcome"] == ("passed" if record["verdict"] == "REPRODUCED" else "failed")
        assert "gelu-focal" in record["setting"] and "mysubject.gelu_mlp" in record["setting"]
    assert "C1@gelu-focal" in (pytester.path / "reports" / "fast" / "claims.md").read_text()

    # The same subject with its verdicts declared (parametrize_with_claims(expected=...)): C1's measured verdict
    # becomes an expected failure; C2 declared as a verdict it does not give fails (REPRODUCED: XPASS(strict)).
    c1, c2 = records["C1@gelu-focal"]["verdict"], records["C2@gelu-focal"]["verdict"]
    other = next(v for v in ("UNDECIDED", "INCONCLUSIVE") if v != c2)
    pytester.makepyfile(test_mine=USER_TEST.replace('claims=["C1", "C2"]',
                                                    f'claims=["C1", "C2"], expected={{"C1": {c1!r}, "C2": {other!r}}}'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", "-m", "fast", "-rA",
                                           "--cache-dir", str(pytester.path / "cache"),
                                           "--report-dir", str(pytester.path / "reports"), timeout=600)
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed"), outcomes.get("xfailed"), outcomes.get("passed")) == (1, 1, None), \
        result.stdout.str()
    assert ("XPASS(strict)" if c2 == "REPRODUCED" else "VerdictMismatch") in result.stdout.str()
    report = json.loads((pytester.path / "reports" / "fast" / "claims.json").read_text())
    records = {c["id"]: c for c in report["claims"]}
    assert records["C1@gelu-focal"]["expected"] == {"verdicts": [c1], "reason": "declared by the subject gelu-focal"}
    assert records["C1@gelu-focal"]["outcome"] == "expected finding"
    assert records["C1@gelu-focal"]["pytest_outcome"] == "xfailed"
    assert records["C2@gelu-focal"]["outcome"] == "mismatch" and records["C2@gelu-focal"]["pytest_outcome"] == "failed"


def test_the_examples_pass_with_their_declared_verdicts(pytester, pytestconfig):
    """``pytest examples -m fast`` (copied out of the checkout, so that only the entry point loads the plugin) is
    green: every claim REPRODUCED or one of the verdicts its subject declares, shown as such in the report."""
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path)
    pytester.makeini("[pytest]\nmarkers =\n    fast: fast tier\n    long: long tier\n    full: full tier\n")
    cache = pytestconfig.getoption("cache_dir") or default_cache_dir()  # the suite's: trained once
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", "-m", "fast", "-rA",
                                           "--cache-dir", str(cache), "--report-dir", str(pytester.path / "reports"),
                                           timeout=900)
    assert result.ret == 0, result.stdout.str()
    records = json.loads((pytester.path / "reports" / "fast" / "claims.json").read_text())["claims"]
    assert {r["id"] for r in records} == {f"{c}@{s}" for c in ("C6", "C7", "C14", "C17")
                                           for s in ("gelu-mlp-focal", "mlp-rings")}
    declared = [r for r in records if r["expected"]]
    assert {r["id"] for r in declared} == {"C14@gelu-mlp-focal", "C14@mlp-rings"}
    for r in declared:
        assert r["verdict"] in r["expected"]["verdicts"] and r["outcome"] == "expected finding"
        assert r["pytest_outcome"] == "xfailed" and r["expected"]["reason"].startswith("declared by the subject")
    assert all(r["verdict"] == "REPRODUCED" and r["pytest_outcome"] == "passed" for r in records if not r["expected"])


def test_check_from_python_decides_and_reports(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mysubject_py.py").write_text(textwrap.dedent(USER_PACKAGE))
    from mysubject_py import SUBJECT

    decisions = check(SUBJECT, claims=["C1"], cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports",
                      show_progress=False)
    assert list(decisions) == ["C1@gelu-focal"]
    report = json.loads((tmp_path / "reports" / "fast" / "claims.json").read_text())
    assert [c["id"] for c in report["claims"]] == ["C1@gelu-focal"]
    assert report["claims"][0]["verdict"] == decisions["C1@gelu-focal"].verdict.value


def test_check_refuses_what_does_not_apply(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mysubject_bad.py").write_text(textwrap.dedent(USER_PACKAGE))
    from mysubject_bad import SUBJECT

    with pytest.raises(ValueError, match="unknown claims"):
        check(SUBJECT, claims=["C99"], report_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown tier"):
        check(SUBJECT, tier="medium", report_dir=tmp_path)
    with pytest.raises(Unavailable, match="defines no full tier"):
        SUBJECT.sweep("full")
