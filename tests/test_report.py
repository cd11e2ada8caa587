import json

import pytest

from iwcore.report import ClaimRecord, main, write_report


def record(claim_id, verdict="REPRODUCED", **changes):
    fields = dict(id=claim_id, claim="a sentence", tier="fast", verdict=verdict, criterion="c", reason="r",
                  statistic={"E_final": {"value": 0.1, "low": 0.05, "high": 0.2}}, paper="p", setting="s",
                  seeds=[0, 1, 2], epochs=10, device="cpu", wall_time_s=1.5, cache_keys=["k"],
                  figures=["figures/x.png"], environment={"device": "cpu", "torch": "2"})
    return ClaimRecord(**{**fields, **changes})


def test_report_gathers_records_in_claim_order(tmp_path):
    for cid in ("C10", "C2", "C19"):
        record(cid).write(tmp_path)
    record("C3", "NOT REPRODUCED", expected_failure="measured F = 0.6", diverged=["w=256 seed=1"]).write(tmp_path)
    paths = write_report(tmp_path / "fast")
    assert [p.name for p in paths] == ["claims.json", "claims.md", "claims.html"]
    doc = json.loads(paths[0].read_text())
    assert {"tier", "generated_at", "environment", "claims"} <= doc.keys()
    assert [c["id"] for c in doc["claims"]] == ["C2", "C3", "C10", "C19"]
    assert {"id", "verdict", "statistic", "criterion", "seeds", "epochs", "figures"} <= doc["claims"][0].keys()
    md = paths[1].read_text()
    assert "0.1 [0.05, 0.2]" in md and "known finding" in md and "w=256 seed=1" in md
    assert "<table>" in paths[2].read_text()


def test_report_command_writes_each_tier_and_fails_without_records(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--report-dir", str(tmp_path)])
    assert stop.value.code == 1 and "pytest -m fast" in capsys.readouterr().err
    record("C1").write(tmp_path)
    record("C1", tier="full").write(tmp_path)
    main(["--report-dir", str(tmp_path)])
    assert (tmp_path / "fast" / "claims.md").exists() and (tmp_path / "full" / "claims.md").exists()
