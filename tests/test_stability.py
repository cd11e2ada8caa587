"""The base-seed stability table: parsing, tabulation, and that a differing pytest outcome is named."""

import argparse

import pytest

from iwcore.stability import markdown, parse_base_seeds, table


def test_base_seeds_parse_ranges_and_lists():
    assert parse_base_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_base_seeds("0,3,7-8") == [0, 3, 7, 8]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_base_seeds("-1")


def claims(*pairs):
    return {"claims": [{"id": cid, "verdict": v, "outcome": o} for cid, v, o in pairs]}


def test_table_names_claims_whose_pytest_outcome_differs():
    runs = {0: claims(("C1", "REPRODUCED", "passed"), ("C9", "UNDECIDED", "expected finding")),
            1: claims(("C1", "REPRODUCED", "passed"), ("C9", "REPRODUCED", "mismatch")),
            2: claims(("C9", "UNDECIDED", "expected finding"))}  # C1 left no record: it crashed
    doc = table(runs)
    assert doc["claims"]["C9"] == {"0": "UNDECIDED", "1": "REPRODUCED", "2": "UNDECIDED"}
    assert doc["outcomes"]["C1"]["2"] == "error"
    assert doc["unstable"] == ["C1", "C9"]
    assert "DIFFERS" in markdown(doc)
    assert table({0: runs[0], 1: runs[0]})["unstable"] == []
