"""Intervals at their edges: 0 of n and n of n stay inside [0, 1] with positive width, no spread over seeds
gives the values instead of a zero-width interval, and the report never shows an interval outside its range."""

import pytest
from iwcore.intervals import bounds_of, count_interval, per_seed_interval
from iwcore.reportview import interval_cell


@pytest.mark.parametrize("k, n", [(0, 200), (200, 200), (0, 1), (1, 1), (3, 200)])
def test_count_interval_is_exact_inside_the_unit_range_and_never_zero_width(k, n):
    iv = count_interval(k, n)
    assert 0.0 <= iv.low <= k / n <= iv.high <= 1.0 and iv.high > iv.low
    assert (iv.low == 0.0) == (k == 0) and (iv.high == 1.0) == (k == n)
    if k == 0:  # Clopper-Pearson's upper end at 0 successes: 1 - (alpha/2)^(1/n)
        assert iv.high == pytest.approx(1 - 0.025 ** (1 / n))
    assert iv.method == f"exact binomial (Clopper-Pearson), {k} of {n}"


def test_count_interval_rejects_impossible_counts():
    for k, n in ((3, 2), (-1, 5), (0, 0)):
        with pytest.raises(ValueError, match="0 <= k <= n"):
            count_interval(k, n)


def test_per_seed_interval_without_spread_keeps_the_values():
    iv = per_seed_interval([1.0] * 5)
    assert iv.no_spread and iv.low is None and iv.high is None and iv.values == (1.0,) * 5 and iv.value == 1.0


@pytest.mark.parametrize("values", [[1.0, 1.0, 1.0, 1.0, 0.8], [0.0, 0.0, 0.1, 0.0, 0.0], [0.46, 0.9, 1.0, 0.99, 0.62]])
def test_per_seed_interval_stays_within_the_values_and_the_range(values):
    iv = per_seed_interval(values)
    assert min(values) <= iv.low < iv.value < iv.high <= max(values)
    assert per_seed_interval(values) == iv  # seeded: the same report twice


def test_per_seed_interval_rejects_values_outside_the_range():
    with pytest.raises(ValueError, match="leave their range"):
        per_seed_interval([0.5, 1.2])


def test_bounds_of_statistics_by_name():
    assert bounds_of("MLP final test accuracy") == (0.0, 1.0)
    assert bounds_of("rate of 'present early' (3 of 200)") == (0.0, 1.0)
    assert bounds_of("min over ratios of the final cosine") == (-1.0, 1.0)
    for unbounded in ("F = E_final / E_peak (Fieller)", "b_final - 0.5 b_peak", "min over ratios of final - first cosine",
                      "acc(poly + IW) - acc(CE + IW)", "final gain - 0.25 x gain at t_hat"):
        assert bounds_of(unbounded) is None, unbounded


def row(statistic, value, low=None, high=None, **extra):
    return dict(part="", set="test", statistic=statistic, value=value, low=low, high=high, rule="", p=None, t=None,
                verdict=None, **extra)


def test_the_report_shows_every_interval_inside_its_range():
    text, note = interval_cell(row("unweighted CNN final test accuracy", 0.793, 0.461, 1.12))
    assert text == "[0.461, 1]" and "leaves [0, 1]: shown clipped" in note
    text, note = interval_cell(row("unweighted CNN final test accuracy", 0.793, 0.461, 1.12,
                                   per_seed=[0.46, 0.9, 1.0, 0.99, 0.62]))
    assert "BCa bootstrap over 5 seeds" == note and float(text.strip("[]").split(", ")[1]) <= 1.0
    text, note = interval_cell(row("rate of 'present early' (0 of 200)", 0.0, 0.0, 0.0))
    assert text.startswith("[0, 0.0") and "Clopper-Pearson), 0 of 200" in note
    assert interval_cell(row("accuracy", 1.0, 1.0, 1.0)) == ("no spread: every seed 1", "")
    assert interval_cell(row("accuracy", 0.5, 0.5, 0.5, per_seed=[0.5] * 5)) == ("no spread: 5 seeds all 0.5", "")
    assert interval_cell(row("b_final - 0.5 b_peak", -0.03, -0.04, -0.02)) == ("[-0.04, -0.02]", "")
