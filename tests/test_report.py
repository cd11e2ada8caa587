"""The claims report: records (old and new), run records, history, rendering, comparing runs."""

import json

import pytest

from iwcore.report import (ClaimRecord, append_history, claim_rows, compare, deciding_text, main, normalise,
                           read_history, render, seeds_text, set_current_run_id, write_report, write_run)


def record(claim_id, verdict="REPRODUCED", **changes):
    fields = dict(id=claim_id, claim="a sentence", tier="fast", verdict=verdict, criterion="c", reason="r",
                  statistic={"E_final": {"value": 0.1, "low": 0.05, "high": 0.2}}, paper="p", setting="s",
                  seeds=[0, 1, 2], epochs=10, device="cpu", wall_time_s=1.5, cache_keys=["k"],
                  figures=["figures/x.png"], environment={"device": "cpu", "torch": "2"})
    return ClaimRecord(**{**fields, **changes})


def row(part, set_, statistic, value, low=None, high=None, verdict="REPRODUCED", rule="", p=None, t=None):
    return dict(part=part, set=set_, statistic=statistic, value=value, low=low, high=high, rule=rule, p=p, t=t,
                verdict=verdict)


C1_ROWS = [row("MLP", "test", "F = E_final/E_peak", 0.030, 0.02, 0.04, rule="F <= 0.25"),
           row("MLP", "grid", "F = E_final/E_peak", 0.12, 0.10, 0.14, rule="F <= 0.25"),
           row("logistic regression", "test", "E_peak permutation max-T", 0.08, p=0.001, rule="p <= 0.025"),
           row("logistic regression", "test", "F = E_final/E_peak", 0.48, 0.47, 0.49, verdict="UNDECIDED",
               rule="F <= 0.25"),
           row("logistic regression", "other", "F = E_final/E_peak", 0.40, 0.3, 0.5, verdict=None)]


def c1(**changes):
    fields = dict(rows=C1_ROWS, part_verdicts={"MLP": "REPRODUCED", "logistic regression": "UNDECIDED"},
                  seeds_needed="about 12", setting={"data": "2D, 64 points per class", "model": "MLP, logreg"},
                  paper="Fig 1: 512 points per class, 10,000 epochs", outcome="mismatch",
                  learned={"accuracy": 0.97, "low": 0.95, "high": 0.99, "chance": 0.5})
    return record("C1", changes.pop("verdict", "UNDECIDED"), **{**fields, **changes})


def test_old_records_load_with_defaults_for_new_fields(tmp_path):
    old = {k: v for k, v in vars(record("C3")).items() if k in (
        "id", "claim", "tier", "verdict", "criterion", "reason", "statistic", "paper", "setting", "seeds", "epochs",
        "device", "wall_time_s", "cache_keys", "figures", "diverged", "expected_failure", "environment",
        "generated_at")}
    old["expected_failure"] = "measured F = 0.6"
    rec = ClaimRecord.from_dict({**old, "an_unknown_future_field": 1})
    assert rec.rows == [] and rec.part_verdicts == {} and rec.expected is None and rec.outcome is None
    assert rec.learned is None and rec.seeds_needed is None and rec.run_id is None and rec.sweeps == []
    assert normalise(old)["expected_failure"] == "measured F = 0.6"
    # the old nested statistic becomes table rows
    assert claim_rows(normalise(old)) == [row("", "", "E_final", 0.1, 0.05, 0.2, verdict=None)]


def test_records_carry_the_run_id_in_progress(tmp_path):
    previous = set_current_run_id("20260101T000000Z-abcdef")
    try:
        path = record("C2").write(tmp_path)
    finally:
        set_current_run_id(previous)
    assert json.loads(path.read_text())["run_id"] == "20260101T000000Z-abcdef"


def test_report_from_records_without_history_is_in_claim_order_and_flags_mixed_runs(tmp_path):
    for cid, run_id in (("C10", "a"), ("C2", "a"), ("C19", "b")):
        record(cid, run_id=run_id).write(tmp_path)
    record("C3", "NOT REPRODUCED", expected_failure="measured F = 0.6", diverged=["w=256 seed=1"], run_id="a"
           ).write(tmp_path)
    paths = write_report(tmp_path / "fast")
    assert [p.name for p in paths] == ["claims.json", "claims.md", "claims.html"]
    doc = json.loads(paths[0].read_text())
    assert [c["id"] for c in doc["claims"]] == ["C2", "C3", "C10", "C19"]
    md = paths[1].read_text()
    assert "| E_final | 0.1 | [0.05, 0.2] |" in md and "known finding" in md and "w=256 seed=1" in md
    assert "written by 2 different runs" in md  # never mixed without a word
    assert "<table>" in paths[2].read_text()


def test_readable_report_summary_parts_rows_settings_and_sources(tmp_path):
    rec = normalise(vars(c1()))
    rec["sweeps"] = [{"name": "fast-mlp", "key": "fast-mlp-1", "source": "cache", "read_s": 0.4, "train_s": 312.0,
                      "trained_at": "2026-11-29T10:00:00+00:00"},
                     {"name": "fast-logreg", "key": "fast-logreg-1", "source": "trained", "read_s": None,
                      "train_s": 61.0}]
    rec["reproduce"] = "pytest claims/test_synthetic.py -m fast --claim C1 --base-seed 0 -n 0"
    c19 = normalise(vars(record("C19", seeds=list(range(300)), rows=[row("", "test", "null rate of present early", 0.56,
                                                                            0.46, 0.65, verdict="NOT REPRODUCED")])))
    c5 = normalise(vars(record("C5", seeds=[4])))
    run = {"run_id": "R1", "tier": "fast", "base_seed": 0, "git": {"commit": "abc123def4567890", "dirty": True},
           "command": "pytest -m fast", "options": {"device": "auto"}, "code_version": "v1",
           "environment": {"python": "3.11"}, "claims": [c19, rec, c5], "not_decided": [
               {"id": "C6", "outcome": "skipped", "reason": "needs CUDA"}], "problems": []}
    (tmp_path / "stability.json").write_text(json.dumps({"base_seeds": [0, 1], "claims": {
        "C1": {"0": "REPRODUCED", "1": "UNDECIDED"}, "C5": {"0": "REPRODUCED", "1": "REPRODUCED"}},
        "outcomes": {"C1": {"0": "passed", "1": "mismatch"}}}))
    md = render(tmp_path, run)[1].read_text()
    summary = md.split("## Summary")[1].split("\n## ")[0]
    c1_line = next(line for line in summary.splitlines() if line.startswith("| C1 "))
    assert "MLP: REPRODUCED; logistic regression: UNDECIDED" in c1_line
    assert "MLP · test: F = E_final/E_peak = 0.03 [0.02, 0.04]" in c1_line
    assert "logistic regression · test: F = E_final/E_peak = 0.48 [0.47, 0.49]" in c1_line
    assert "data: 2D, 64 points per class" in c1_line and "Fig 1: 512 points per class" in c1_line
    assert "read 1 from the cache in 0.4 s" in c1_line and "trained 1 of 2 sweeps this run (1 min 01 s)" in c1_line
    assert "300 seeds (0–299)" in md and "1 seed (4)" in md and "1 seeds" not in md and "299, " not in md
    assert "| logistic regression | test | E_peak permutation max-T | 0.08 |  | p <= 0.025 | 0.001 |" in md
    other_row = next(line for line in md.splitlines() if "| other | F = E_final/E_peak | 0.4 |" in line)
    assert other_row.endswith("|  |")  # a row that carries no verdict of its own
    assert "not above chance" not in md and "unweighted model's test accuracy 0.97 [0.95, 0.99]" in md
    assert "Seeds needed:** about 12" in md and "--claim C1" in md
    assert "abc123def456 (uncommitted changes)" in md and "Run:** R1" in md
    assert "C6 (skipped): needs CUDA" in md
    stability = md.split("## Stability over base seeds")[1].split("\n## ")[0]
    assert "| C1 | REPRODUCED | UNDECIDED (mismatch) | varies |" in stability
    assert "| C5 | REPRODUCED | REPRODUCED | stable |" in stability


def test_learned_below_chance_is_flagged(tmp_path):
    rec = normalise(vars(record("C16", learned={"accuracy": 0.5, "low": 0.49, "high": 0.51, "chance": 0.5},
                               expected={"verdicts": ["NOT REPRODUCED"], "reason": "tiny BERT stays at chance"})))
    md = render(tmp_path, {"run_id": "R", "tier": "fast", "claims": [rec]})[1].read_text()
    assert "not above chance, so the checks on this model are vacuous" in md
    assert "declared expected finding (NOT REPRODUCED): tiny BERT stays at chance" in md


def test_deciding_statistic_prefers_the_row_that_carries_the_parts_verdict():
    text = deciding_text(normalise(vars(c1())))
    assert "logistic regression · test: F = E_final/E_peak = 0.48" in text  # its UNDECIDED row, not its first row
    assert seeds_text([1, 2, 3]) == "3 seeds (1–3)" and seeds_text([0, 5]) == "2 seeds (0, 5)"


def test_history_appends_runs_and_skips_a_torn_line(tmp_path):
    write_run(tmp_path, {"run_id": "R1", "tier": "fast", "claims": [vars(record("C1"))]})
    with (tmp_path / "history.jsonl").open("a") as f:
        f.write('{"run_id": "torn')
    append_history(tmp_path, {"run_id": "R2", "tier": "fast", "claims": []})
    with pytest.warns(UserWarning, match="unreadable run record"):
        assert [r["run_id"] for r in read_history(tmp_path)] == ["R1", "R2"]


def history_of_two_runs(tmp_path):
    a = {"run_id": "20260101T000000Z-aaaaaa", "tier": "fast", "base_seed": 0, "claims": [vars(c1()), vars(record("C2"))]}
    changed_rows = [dict(r) for r in C1_ROWS]
    changed_rows[3] = row("logistic regression", "test", "F = E_final/E_peak", 0.20, 0.18, 0.22, rule="F <= 0.25")
    b = {"run_id": "20260102T000000Z-bbbbbb", "tier": "fast", "base_seed": 1,
         "claims": [vars(c1(verdict="REPRODUCED", rows=changed_rows,
                            part_verdicts={"MLP": "REPRODUCED", "logistic regression": "REPRODUCED"})),
                    vars(record("C2"))]}
    write_run(tmp_path / "fast", a)
    write_run(tmp_path / "fast", b)


def test_compare_prints_changed_verdicts_and_statistics(tmp_path, capsys):
    history_of_two_runs(tmp_path)
    main(["--report-dir", str(tmp_path), "--compare", "last", "2"])
    out = capsys.readouterr().out
    assert "C1" in out and "logistic regression: UNDECIDED" in out and "logistic regression: REPRODUCED" in out
    assert "1 of 2 claims changed verdict" in out and "base_seed changed: 0 -> 1" in out
    assert "0.48 [0.47, 0.49] UNDECIDED" in out and "0.2 [0.18, 0.22] REPRODUCED" in out and "-0.28" in out
    main(["--report-dir", str(tmp_path), "--compare", "20260101", "20260102T000000Z-bbbbbb"])
    assert capsys.readouterr().out == out


def test_compare_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--report-dir", str(tmp_path), "--compare", "last", "2"])
    assert stop.value.code == 1 and "no run history" in capsys.readouterr().err
    write_run(tmp_path / "fast", {"run_id": "R1", "tier": "fast", "claims": []})
    with pytest.raises(SystemExit):
        main(["--report-dir", str(tmp_path), "--compare", "last", "2"])
    assert "has 1 recorded run(s)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--report-dir", str(tmp_path), "--compare", "R1", "R9"])
    assert "no run matches 'R9'" in capsys.readouterr().err


def test_compare_shows_claims_present_in_one_run_only():
    a = {"run_id": "A", "tier": "fast", "claims": [vars(record("C1"))]}
    b = {"run_id": "B", "tier": "fast", "claims": [vars(record("C2"))]}
    out = compare(a, b)
    assert "(not run)" in out and "2 of 2 claims changed verdict" in out


def test_report_command_rewrites_the_latest_run_and_fails_without_records(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--report-dir", str(tmp_path)])
    assert stop.value.code == 1 and "pytest -m fast" in capsys.readouterr().err
    record("C1").write(tmp_path)
    record("C1", tier="full").write(tmp_path)
    main(["--report-dir", str(tmp_path)])
    assert (tmp_path / "fast" / "claims.md").exists() and (tmp_path / "full" / "claims.md").exists()
    history_of_two_runs(tmp_path)
    main(["--report-dir", str(tmp_path), "--tier", "fast"])
    assert json.loads((tmp_path / "fast" / "claims.json").read_text())["run_id"] == "20260102T000000Z-bbbbbb"
    main(["--report-dir", str(tmp_path), "--tier", "fast", "--run", "20260101"])
    assert json.loads((tmp_path / "fast" / "claims.json").read_text())["run_id"] == "20260101T000000Z-aaaaaa"
