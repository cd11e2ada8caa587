"""Figures: bands clipped to [0, 1], a visible w = 1 line, thresholds and y ranges where given,
legends, and the figures added for C11 (agreement), C18/C19 (effect over epochs, null histogram)."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest

from iwcore import figures
from iwcore.results import SweepResult


@pytest.fixture
def drawn(monkeypatch):
    """Every figure drawn during the test (still inspectable after it is saved and closed)."""
    kept = []
    save = figures._save

    def keep(fig, path, **kwargs):
        kept.append(fig)
        return save(fig, path, **kwargs)

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def fake_result(seeds=3) -> SweepResult:
    """Five weight ratios; shares near 0 and 1 with a large spread, so that ±1 sd leaves [0, 1]."""
    rng = np.random.default_rng(0)
    ratios, epochs, side = [0.25, 0.5, 1.0, 2.0, 4.0], np.array([1, 2, 5, 10]), 6
    share = np.clip(rng.normal(0.5, 0.45, (len(epochs), len(ratios), seeds)), 0, 1)
    shares = {"test": np.stack([1 - share, share], -1), "grid": np.stack([1 - share, share], -1)}
    grid_pred = (rng.random((2, len(ratios), seeds, side * side)) > 0.5).astype(np.uint8)
    return SweepResult(config={"weight_ratios": ratios, "seeds": list(range(seeds)), "name": "fake"}, key="k",
                       epochs=epochs, shares=shares, recall={}, class_loss={}, train_loss=np.zeros((4, 5, seeds)),
                       snapshot_epochs=np.array([1, 10]), predictions={"grid": grid_pred},
                       diverged_epoch=np.zeros((len(ratios), seeds), int),
                       meta={"task_meta": {"grid_side": side, "extent": [-1, 1, -1, 1]},
                             "class_names": ["negative", "positive"]})


def band_extent(ax) -> tuple[float, float]:
    ys = np.concatenate([c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths()])
    return ys.min(), ys.max()


def test_share_vs_epoch_clips_bands_and_shows_the_unweighted_line(tmp_path, drawn):
    path = figures.share_vs_epoch(fake_result(), "test", tmp_path / "a.png", "title")
    assert path.stat().st_size > 0
    ax = drawn[0].axes[0]
    low, high = band_extent(ax)
    assert 0.0 <= low and high <= 1.0
    unit = next(line for line in ax.get_lines() if "unweighted" in line.get_label())
    assert mcolors.to_hex(unit.get_color()) == "#000000" and unit.get_linewidth() >= 2
    assert ax.get_legend() is not None


def test_share_vs_weight_and_factor_clip_error_bars(tmp_path, drawn):
    figures.share_vs_weight(fake_result(), ["test", "grid"], tmp_path / "b.png", "t")
    figures.share_vs_factor([1, 2, 4], {"IW": np.array([[0.0, 0.9], [0.5, 0.5], [1.0, 0.1]])}, tmp_path / "c.png", "t")
    for fig in drawn:
        ax = fig.axes[0]
        segments = np.concatenate([seg for c in ax.collections for seg in c.get_segments()])
        assert segments[:, 1].min() >= 0 and segments[:, 1].max() <= 1
    assert any("w = 1" in t.get_text() for t in drawn[0].axes[0].get_legend().get_texts())


def test_lines_draw_the_threshold_and_take_a_y_range(tmp_path, drawn):
    x = np.arange(1, 11)
    figures.lines(x, {"w=0.25": 0.95 + x / 1000, "w=1": 0.97 + x / 1000}, tmp_path / "d.png", "C4", "epoch",
                  "cosine", threshold=0.99, ylim=(0.94, 1.0), threshold_label="needs >= 0.99")
    ax = drawn[0].axes[0]
    assert ax.get_ylim() == (0.94, 1.0)
    hline = next(line for line in ax.get_lines() if line.get_label() == "needs >= 0.99")
    assert set(hline.get_ydata()) == {0.99}
    assert mcolors.to_hex(next(line for line in ax.get_lines() if line.get_label() == "w=1").get_color()) == "#000000"


def test_mean_sd_lines_threshold(tmp_path, drawn):
    figures.mean_sd_lines(np.arange(1, 4), {"rho=0.2": np.ones((3, 4))}, tmp_path / "e.png", "t", "epoch", "gain",
                          threshold=0.05)
    assert any(line.get_label() == "threshold 0.05" for line in drawn[0].axes[0].get_lines())


def test_decision_boundaries_have_a_class_legend(tmp_path, drawn):
    x = np.random.default_rng(1).normal(size=(20, 2))
    y = np.arange(20) % 2
    figures.decision_boundaries(fake_result(), x, y, tmp_path / "f.png", "C1")
    texts = [t.get_text() for legend in drawn[0].legends for t in legend.get_texts()]
    assert "class 0 (negative)" in texts and "class 1 (positive)" in texts
    assert "predicted class 1 (positive)" in texts


def test_agreement_bars_show_both_agreements_and_the_paper(tmp_path, drawn):
    path = figures.agreement_bars({"test": 0.97, "other": 0.89}, {"test": 0.98, "other": 0.90}, tmp_path / "g.png",
                                  "C11", weight_interval={"test": (0.96, 0.98)},
                                  paper={"test": (0.82, 0.78), "other": (0.74, 0.71)})
    assert path.exists()
    ax = drawn[0].axes[0]
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["test", "other"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["paper", "across weights (same seed)", "across seeds (same weight)"] or set(labels) == {
        "paper", "across weights (same seed)", "across seeds (same weight)"}
    assert ax.get_ylim()[0] <= 0.71 and ax.get_ylim()[1] == 1.0


def test_effect_over_epochs_shades_the_early_window(tmp_path, drawn):
    epochs = np.arange(1, 101)
    effect = np.exp(-epochs / 20) / 10
    figures.effect_over_epochs(epochs, effect, effect - 0.01, effect + 0.01, tmp_path / "h.png", "C18", early_end=10,
                               threshold=0.02)
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "early window (epochs <= 10)" in labels and "95% interval" in labels and "threshold 0.02" in labels
    several = {"test": effect, "grid": effect / 2}
    figures.effect_over_epochs(epochs, several, {k: v - 0.01 for k, v in several.items()},
                               {k: v + 0.01 for k, v in several.items()}, tmp_path / "i.png", "two sets", early_end=10)
    assert {"E(t) test", "E(t) grid"} <= {t.get_text() for t in drawn[1].axes[0].get_legend().get_texts()}


def test_null_histogram_marks_observed_and_critical_values(tmp_path, drawn):
    values = np.random.default_rng(0).normal(0, 0.01, 300)
    figures.null_histogram([*values, np.inf], 0.08, 0.015, tmp_path / "j.png", "C19", xlabel="E_peak")
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "null (300 values)" or "null (300 values)" in labels
    assert "critical value 0.015" in labels and "observed 0.08" in labels
    figures.null_histogram(values, None, None, tmp_path / "k.png", "no marks")


def test_null_hit_counts_mark_the_critical_count_and_each_familys_hits(tmp_path, drawn):
    figures.null_hit_counts({"2D": 4, "image CNN": 16}, 200, 0.025, 15, tmp_path / "h.png", "C19")
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["critical count 15", "2D: 4", "image CNN: 16", "Binomial(200, 0.025)"]
    assert ax.get_xlim()[1] >= 16 + 2  # the highest count and a margin beyond it are drawn
    bars = [p.get_height() for p in ax.patches]
    assert np.isclose(sum(bars), 1.0, atol=1e-3)  # the whole null distribution up to the margin


def test_effect_with_band_marks_the_early_window_and_the_fade_threshold_outside_the_legend(tmp_path, drawn):
    result = fake_result(seeds=4)
    result.config["epochs"] = 10
    figures.effect_with_band(result, ["test", "grid"], tmp_path / "l.png", "C1: E(t)", fade_share=0.25)
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"early window (epochs <= 1)", "E(t) test", "95% interval grid", "0.25 x E_peak (test)"} <= set(labels)
    box = ax.get_legend().get_window_extent()
    assert box.x0 >= ax.get_window_extent().x1  # the legend is beside the axes, over no data
    line = next(line for line in ax.get_lines() if line.get_label() == "0.25 x E_peak (test)")
    assert line.get_ydata()[0] == pytest.approx(0.25 * next(l for l in ax.get_lines()
                                                             if l.get_label() == "E(t) test").get_ydata()[0])


def test_share_figures_name_the_positive_class(tmp_path, drawn):
    figures.share_vs_epoch(fake_result(), "test", tmp_path / "m.png", "t")
    figures.share_vs_weight(fake_result(), ["test"], tmp_path / "n.png", "t")
    assert [fig.axes[0].get_ylabel() for fig in drawn] == ["share of 'test' classified positive (class 1)",
                                                           "share classified positive (class 1)"]
    result = fake_result()
    result.meta["class_names"] = ["cat", "dog"]
    figures.share_vs_weight(result, ["test"], tmp_path / "o.png", "t")
    assert drawn[-1].axes[0].get_ylabel() == "share classified positive (class 1: dog)"
    assert drawn[0].axes[0].get_legend().get_window_extent().x0 >= drawn[0].axes[0].get_window_extent().x1


def test_accuracy_bars_show_every_seed_beside_the_papers_numbers(tmp_path, drawn):
    per_seed = {"CE + IW": np.array([0.91, 0.88, 0.95]), "poly + IW, w^1.5": np.array([0.95, 0.94, 0.97]),
                "LDAM": np.array([0.5, 0.5, 0.5])}
    figures.accuracy_bars(per_seed, tmp_path / "p.png", "C20", paper={"CE + IW": (0.578, 0.004),
                                                                     "poly + IW, w^1.5": (0.630, 0.006)},
                          paper_label="Wang et al.")
    ax = drawn[0].axes[0]
    assert len(ax.patches) == 5 and [t.get_text() for t in ax.get_xticklabels()] == list(per_seed)
    dots = np.concatenate([line.get_ydata() for line in ax.get_lines() if line.get_marker() == "."])
    assert sorted(dots) == sorted(np.concatenate(list(per_seed.values())))
    assert {"this run (mean; dots: seeds)", "Wang et al. (±1.96 s.e.)"} == {t.get_text() for t in
                                                                          ax.get_legend().get_texts()}
    assert ax.get_ylim()[0] <= 0.45
