import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from iwcore.stats import difference_of_finals, effect_summary, interval, resample_indices, split_summaries, slopes
from iwcore.sweep import powers
from iwcore.verdicts import Verdict, fades, null_calibration, persists, present_early

RATIOS = powers(2, 4)
X = np.log2(RATIOS)


@given(slope=st.floats(-0.2, 0.2), intercept=st.floats(0, 1), seeds=st.integers(1, 5))
def test_slope_recovers_a_known_slope(slope, intercept, seeds):
    ratio = np.broadcast_to((intercept + slope * X)[None, :, None], (3, len(X), seeds)).copy()
    assert np.allclose(slopes(ratio, RATIOS), slope, atol=1e-9)


def test_slope_leaves_out_missing_points():
    ratio = (0.5 + 0.05 * X)[None, :, None].repeat(2, 2)
    ratio[0, 3, 0] = np.nan
    assert np.allclose(slopes(ratio, RATIOS), 0.05)
    ratio[0, :-1, 1] = np.nan  # a single point left: no slope
    assert np.isnan(slopes(ratio, RATIOS)[0, 1])


def test_bootstrap_interval_covers_at_about_its_nominal_rate():
    rng = np.random.default_rng(0)
    covered = 0
    trials = 300
    for t in range(trials):
        sample = rng.normal(1.0, 2.0, size=30)
        idx = resample_indices(30, seed=t, n_resamples=2000)
        est = interval(sample.mean(), sample[idx].mean(1))
        covered += est.low <= 1.0 <= est.high
    assert 0.90 <= covered / trials <= 0.99  # nominal 0.95; percentile intervals run slightly narrow


def sweep_like(effect_by_epoch, seeds=9, noise=0.01, seed=0):
    """Synthetic classification ratios with slope effect_by_epoch[t] on log2 w, plus noise."""
    rng = np.random.default_rng(seed)
    e = np.asarray(effect_by_epoch)[:, None, None]
    return np.clip(0.5 + e * X[None, :, None] + rng.normal(0, noise, (len(e), len(X), seeds)), 0, 1)


EPOCHS = np.array([1, 2, 5, 10, 50, 100])


def test_a_fading_effect_fades():
    s = effect_summary(sweep_like([0.08, 0.1, 0.06, 0.03, 0.005, 0.0]), RATIOS, EPOCHS, 100)
    assert present_early(s) and s.peak_epoch == 2
    assert fades(s).verdict == Verdict.REPRODUCED


def test_a_lasting_effect_does_not_fade_but_persists():  # negative control for "fades"
    s = effect_summary(sweep_like([0.08, 0.1, 0.1, 0.1, 0.09, 0.09]), RATIOS, EPOCHS, 100)
    assert fades(s).verdict == Verdict.NOT_REPRODUCED
    assert persists(s).verdict == Verdict.REPRODUCED


def test_no_effect_is_inconclusive_for_both():  # a fade of nothing says nothing
    s = effect_summary(sweep_like([0] * 6, noise=0.02), RATIOS, EPOCHS, 100)
    assert fades(s).verdict == Verdict.INCONCLUSIVE
    assert persists(s).verdict == Verdict.INCONCLUSIVE


def test_persists_against_a_baseline_needs_the_difference_above_zero():
    lasting = effect_summary(sweep_like([0.1] * 6), RATIOS, EPOCHS, 100)
    same = effect_summary(sweep_like([0.1] * 6, seed=1), RATIOS, EPOCHS, 100)
    weaker = effect_summary(sweep_like([0.1, 0.1, 0.05, 0.02, 0.0, 0.0], seed=2), RATIOS, EPOCHS, 100)
    assert persists(lasting, difference_of_finals(lasting, weaker, paired=True)).verdict == Verdict.REPRODUCED
    assert persists(lasting, difference_of_finals(lasting, same, paired=True)).verdict == Verdict.NOT_REPRODUCED


def test_effect_summary_intervals_contain_their_point_estimates():
    s = effect_summary(sweep_like([0.05, 0.1, 0.06, 0.03, 0.01, 0.0], noise=0.05), RATIOS, EPOCHS, 100)
    for est in (s.peak, s.final, s.fade):
        assert est.low <= est.value <= est.high
    assert np.all(s.effect_low <= s.effect) and np.all(s.effect <= s.effect_high)


def test_fade_interval_is_infinite_when_the_peak_can_vanish():
    s = effect_summary(sweep_like([0.0, 0.001, 0.0, 0.0, 0.0, 0.0], noise=0.05), RATIOS, EPOCHS, 100)
    assert s.fade.high == np.inf


def test_null_calibration_fails_an_anti_conservative_detector():  # negative control for C19
    rng = np.random.default_rng(0)
    null = 0.5 + rng.normal(0, 0.02, size=(len(EPOCHS), len(X), 9 * 40))  # 40 null sweeps of 9 seeds
    summaries = split_summaries(null, RATIOS, EPOCHS, 100, 9)
    anti_conservative = sum(s.peak.value > 0 for s in summaries)  # a point estimate is no test
    assert len(summaries) == 40 and null_calibration(anti_conservative, 40).verdict == Verdict.NOT_REPRODUCED
    assert null_calibration(0, 40).verdict == Verdict.REPRODUCED
