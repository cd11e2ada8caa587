"""The claims report: records, run records, history, the headline view and its two renderings, comparing runs."""

import json

import pytest

from iwcore.report import (ClaimRecord, append_history, claim_rows, compare, main, normalise, read_history, render,
                           set_current_run_id, write_report, write_run)
from iwcore.reportview import deciding_text, seeds_text


def row(part, set_, statistic, value, low=None, high=None, verdict="REPRODUCED", rule="", p=None, t=None, **extra):
    return dict(part=part, set=set_, statistic=statistic, value=value, low=low, high=high, rule=rule, p=p, t=t,
                verdict=verdict, **extra)


def record(claim_id, verdict="REPRODUCED", **changes):
    fields = dict(id=claim_id, claim="a sentence", tier="fast", verdict=verdict, criterion="c", reason="r",
                  paper="p", setting="s", seeds=[0, 1, 2], epochs=10, device="cpu", wall_time_s=1.5, cache_keys=["k"],
                  figures=["figures/x.png"], environment={"device": "cpu", "torch": "2"},
                  rows=[row("", "test", "E_final", 0.1, 0.05, 0.2, rule="t >= 2.776", t=4.0)])
    return ClaimRecord(**{**fields, **changes})


PRESENT = dict(rule="p <= 0.025 (high = null 97.5th percentile of T)", p=0.0001)
C1_ROWS = [row("MLP / test", "test", "E_peak (epoch 1); permutation max-T", 0.083, None, 0.0285, verdict=None, **PRESENT),
           row("MLP / test", "test", "F = E_final / E_peak (Fieller)", 0.030, 0.02, 0.04, rule="F <= 0.25"),
           row("logistic regression / test", "test", "F = E_final / E_peak (Fieller)", 0.48, 0.47, 0.49,
               verdict="NOT REPRODUCED", rule="F <= 0.25"),
           row("logistic regression", "other", "F = E_final / E_peak (Fieller)", 0.40, 0.3, 0.5, verdict="reported"),
           row("did it learn", "test", "MLP final test accuracy", 1.0, 1.0, 1.0, rule="low > chance = 0.5")]
LIMIT = {"verdicts": ["NOT REPRODUCED", "UNDECIDED"],
         "reason": "measured over base seeds 0-4: logistic regression is shown not to fade in 16k SGD steps. More."}


def c1(**changes):
    fields = dict(rows=C1_ROWS, part_verdicts={"MLP": "REPRODUCED", "logistic regression": "NOT REPRODUCED"},
                  seeds_needed=None, setting={"data": "2D, 64 points per class", "model": "MLP, logreg"},
                  paper="Fig 1: 512 points per class, 10,000 epochs", outcome="expected finding", expected=LIMIT)
    return record("C1", changes.pop("verdict", "NOT REPRODUCED"), **{**fields, **changes})


def test_records_load_with_defaults_and_ignore_fields_they_do_not_know():
    old = {k: v for k, v in vars(record("C3")).items() if k in ("id", "claim", "tier", "verdict", "rows")}
    rec = ClaimRecord.from_dict({**old, "expected_failure": "dropped field", "an_unknown_future_field": 1})
    assert rec.part_verdicts == {} and rec.expected is None and rec.outcome is None and rec.run_id is None
    assert not hasattr(rec, "expected_failure") and claim_rows(normalise(old)) == old["rows"]


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
    record("C3", "NOT REPRODUCED", diverged=["w=256 seed=1"], run_id="a").write(tmp_path)
    paths = write_report(tmp_path / "fast")
    assert [p.name for p in paths] == ["claims.json", "claims.md", "claims.html"]
    doc = json.loads(paths[0].read_text())
    assert [c["id"] for c in doc["claims"]] == ["C2", "C3", "C10", "C19"]
    md = paths[1].read_text()
    assert "| test | [E_final](#glossary) | 0.1 | [0.05, 0.2] | 4 | t >= 2.776 | **REPRODUCED** |" in md and "w=256 seed=1" in md
    assert "written by 2 different runs" in md  # never mixed without a word
    assert "<table" in paths[2].read_text()


def full_run(tmp_path):
    """A fast run of C1 (a declared limit), C5, C19 and C20, a full-tier history and stability over base seeds."""
    write_run(tmp_path / "full", {"run_id": "F1", "tier": "full", "claims": [vars(record("C1")), vars(record("C5"))]})
    c19 = record("C19", rows=[row("2D", "null sweeps", "rate of 'present early' (0 of 200)", 0.0, 0.0, 0.0,
                                  rule="rate <= 0.0472")])
    c20 = record("C20", "UNDECIDED", rows=[
        row("", "test", "acc(poly + IW) - acc(CE + IW)", 0.03, -0.01, 0.07, verdict="UNDECIDED", t=1.9, df=7.3),
        row("LDAM", "test", "balanced test accuracy", 0.5, 0.5, 0.5, verdict="reported"),
        row("CE + IW", "test", "balanced test accuracy", 0.793, 0.461, 1.12, verdict="reported"),
        row("did it learn", "test", "CE final test accuracy", 0.8, 0.7, 0.9, rule="low > chance = 0.5")])
    rec = normalise(vars(c1()))
    rec.update(pytest_outcome="xfailed", reproduce="pytest claims -m fast --claim C1", sweeps=[
        {"name": "fast-mlp", "key": "fast-mlp-1", "source": "cache", "read_s": 0.4, "train_s": 312.0},
        {"name": "fast-logreg", "key": "fast-logreg-1", "source": "trained", "read_s": None, "train_s": 61.0}])
    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "stability.json").write_text(json.dumps({"base_seeds": [0, 1], "claims": {
        "C1": {"0": "NOT REPRODUCED", "1": "UNDECIDED"}, "C5": {"0": "REPRODUCED", "1": "REPRODUCED"}}}))
    run = {"run_id": "R1", "tier": "fast", "status": "interrupted", "base_seed": 0, "command": "pytest -m fast",
           "git": {"commit": "abc123def4567890", "dirty": True}, "claims": [c20, rec, record("C5"), c19],
           "not_decided": [{"id": "C6", "outcome": "skipped", "reason": "needs CUDA"}],
           "problems": ["interrupted after 4 claims"]}
    return render(tmp_path / "fast", {**run, "claims": [normalise(vars(c)) if isinstance(c, ClaimRecord) else c
                                                        for c in run["claims"]]})


def test_the_headline_table_comes_first_with_counts_verdicts_and_the_papers_numbers(tmp_path):
    doc_path, md_path, _ = full_run(tmp_path)
    md, doc = md_path.read_text(), json.loads(doc_path.read_text())
    assert doc["counts"]["paper"]["counted"] == [["REPRODUCED", 1]] and doc["counts"]["suite"]["not_run"] == ["C17", "C18"]
    assert doc["stability"]["claims"]["C1"] == {"0": "NOT REPRODUCED", "1": "UNDECIDED"}
    head = md.split("## Glossary")[0]
    assert head.index("The paper's claims (C1–C16)**: 2 of 16 ran. Counted: 1 REPRODUCED. Declared limits of this "
                      "tier's scale (reported, not counted): 1 (1 NOT REPRODUCED).") < head.index("| claim |")
    assert "The suite's own claims (C17–C20)**: 2 of 4 ran. Counted: 1 REPRODUCED, 1 UNDECIDED. Not run: C17, C18." in head
    assert "| claim | in brief | verdict | counts? | deciding number [95% interval] | paper | full tier | base seeds 0 1 |" in head
    c1_line = next(line for line in head.splitlines() if line.startswith("| [C1]"))
    assert ("| **NOT REPRODUCED** | scale limit: logistic regression is shown not to fade in 16k SGD steps | "
            "F = 0.48 [0.47, 0.49] · logistic regression / test | fades (Fig 1) | REPRODUCED | N U |") in c1_line
    c20_line = next(line for line in head.splitlines() if line.startswith("| [C20]"))
    assert "| counted | acc(poly + IW) - acc(CE + IW) = 0.03 [-0.01, 0.07] · test | 0.630 vs 0.578 (Wang et al.) |" in c20_line
    assert "(run interrupted)" in md.splitlines()[0] and "> **Problem:** interrupted after 4 claims" in head
    assert "- C6 (skipped): needs CUDA" in md
    assert md.index("## Run") > md.index("## C20") and "abc123def456 (uncommitted changes)" in md.split("## Run")[1]


def test_decision_tables_have_their_own_columns_and_honest_intervals(tmp_path):
    md = full_run(tmp_path)[1].read_text()
    c1 = md.split("## C1\n")[1].split("\n## ")[0]
    assert "| part | set | statistic | estimate | 95% interval | null threshold | p | rule | verdict |" in c1
    assert ("| MLP / test | test | [E_peak](#glossary) (epoch 1); permutation [max-T](#glossary) | 0.083 |  | 0.0285 "
            "| 0.0001 |") in c1  # the null's percentile in its own column, not as an interval
    assert "| did it learn | test | MLP final test accuracy | 1 | no spread: every seed 1 |" in c1
    assert "None" not in c1  # a row that decides nothing by itself has an empty verdict cell
    assert "Parts: MLP **REPRODUCED**; logistic regression **NOT REPRODUCED**" in c1
    assert "⚑ early effect saturated" in c1 and "**Declared limit at this tier** (NOT REPRODUCED, UNDECIDED)" in c1
    assert "trained 1 of 2 sweeps this run (1 min 01 s); read 1 from the cache in 0.4 s" in c1
    assert "2 seeds" not in c1 and "3 seeds (0–2)" in c1 and "`pytest claims -m fast --claim C1`" in c1
    c19 = md.split("## C19\n")[1].split("\n## ")[0]
    assert "| 0 | [0, 0.0183] |" in c19 and "Clopper-Pearson), 0 of 200" in c19
    c20 = md.split("## C20\n")[1].split("\n## ")[0]
    assert "| CE + IW | test | balanced test accuracy | 0.793 | [0.461, 1] |" in c20 and "shown clipped" in c20
    assert "| LDAM | test | balanced test accuracy | 0.5 | no spread: every seed 0.5 |" in c20
    assert c20.index("Evaluation sets reported, not deciding") < c20.index("| CE + IW |")
    assert "⚑ did not learn: LDAM balanced test accuracy = 0.5, not above chance (0.5)" in c20
    assert "| df = 7.3 |" in c20  # a field the view does not know goes to the note column


def test_markdown_and_html_render_one_view(tmp_path):
    _, md_path, html_path = full_run(tmp_path)
    md, page = md_path.read_text(), html_path.read_text()
    assert page.index('id="headline"') < page.index('class="glossary"') < page.index('<section class="claim"')
    for verdict, css in (("NOT REPRODUCED", "v-not-reproduced"), ("UNDECIDED", "v-undecided"),
                         ("REPRODUCED", "v-reproduced")):
        assert f'<span class="v {css}">{verdict}</span>' in page
    assert "v-REPRODUCED)" not in page and 'href="#g-maxT">max-T</a>' in page
    for text in ("F = 0.48 [0.47, 0.49] · logistic regression / test", "[0, 0.0183]", "no spread: every seed 0.5",
                 "scale limit: logistic regression is shown not to fade in 16k SGD steps", "run interrupted"):
        assert text in md and text in page, text
    assert '<img src="figures/x.png"' not in page and "figure missing: figures/x.png" in page  # never drawn


def test_a_report_committed_without_its_figures_links_none(tmp_path):
    (tmp_path / "fast" / "figures").mkdir(parents=True)
    (tmp_path / "fast" / "figures" / "x.png").write_bytes(b"png")
    run = {"run_id": "R", "tier": "fast", "claims": [normalise(vars(record("C2")))]}
    _, md, page = render(tmp_path / "fast", run)
    assert "](figures/x.png)" in md.read_text() and '<img src="figures/x.png"' in page.read_text()
    _, md, page = render(tmp_path / "fast", run, figure_links=False)
    assert "figures/" not in md.read_text() and "figures/" not in page.read_text()


def test_deciding_statistic_is_the_row_that_carries_the_claims_verdict():
    assert deciding_text(normalise(vars(c1()))) == "F = 0.48 [0.47, 0.49] · logistic regression / test"
    present = row("early gain", "test", "max early gain (permutation max-T)", 0.212, None, 0.29, verdict="UNDECIDED",
                  rule="p <= 0.025 (high = null 97.5th percentile)", p=0.13)
    assert deciding_text({"verdict": "UNDECIDED", "rows": [present]}) == ("max early gain = 0.212 (p = 0.13, null "
                                                                          "threshold 0.29) · early gain / test")
    assert seeds_text([1, 2, 3]) == "3 seeds (1–3)" and seeds_text([0, 5]) == "2 seeds (0, 5)"


def test_history_appends_runs_and_skips_a_torn_line(tmp_path):
    write_run(tmp_path, {"run_id": "R1", "tier": "fast", "claims": [vars(record("C1"))]})
    with (tmp_path / "history.jsonl").open("a") as f:
        f.write('{"run_id": "torn')
    append_history(tmp_path, {"run_id": "R2", "tier": "fast", "claims": []})
    with pytest.warns(UserWarning, match="unreadable run record"):
        assert [r["run_id"] for r in read_history(tmp_path)] == ["R1", "R2"]


def history_of_two_runs(tmp_path):
    a = {"run_id": "20260101T000000Z-aaaaaa", "tier": "fast", "base_seed": 0,
         "claims": [vars(c1(verdict="UNDECIDED", part_verdicts={"MLP": "REPRODUCED", "logistic regression": "UNDECIDED"},
                            rows=[*C1_ROWS[:2], {**C1_ROWS[2], "verdict": "UNDECIDED"}])), vars(record("C2"))]}
    changed_rows = [dict(r) for r in C1_ROWS]
    changed_rows[2] = row("logistic regression / test", "test", "F = E_final / E_peak (Fieller)", 0.20, 0.18, 0.22,
                          rule="F <= 0.25")
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
    assert "figure missing: figures/x.png" in (tmp_path / "fast" / "claims.md").read_text()
    main(["--report-dir", str(tmp_path), "--tier", "fast", "--no-figure-links"])
    assert "figures/" not in (tmp_path / "fast" / "claims.md").read_text()
