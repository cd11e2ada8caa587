"""Figures like the paper's, drawn from sweep results (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from iwcore.results import SweepResult  # noqa: E402
from iwcore.stats import mean_interval, slopes  # noqa: E402
from iwcore.sweep import early_window_end  # noqa: E402


def _ratio_colors(n: int):
    return plt.get_cmap("coolwarm")(np.linspace(0, 1, n))


def _label(w: float) -> str:
    e = np.log2(w)
    return f"2^{e:g}" if e == round(e) else f"{w:g}"


UNIT_WEIGHT_STYLE = dict(color="black", lw=2.2, zorder=5)  # the unweighted model (w = 1) stands out


def _is_unit_weight(name: str) -> bool:
    """Series names such as "w=1", "w=2^0", "1", "ratio 1" denote the unweighted model."""
    tail = str(name).replace(" ", "").split("=")[-1]
    tail = tail.removeprefix("ratio")
    return tail in ("1", "1.0", "2^0", "4^0")


def _positive(result: SweepResult) -> str:
    """The positive class by name, for an axis label: "positive (class 1: dog)"."""
    names = result.meta.get("class_names") or ()
    return f"positive (class 1: {names[1]})" if len(names) > 1 and names[1] != "positive" else "positive (class 1)"


def _legend_outside(ax, **kwargs):
    """The legend right of the axes, so that it covers no data (the early window above all)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def _clip01(x):
    return np.clip(x, 0.0, 1.0)


def _reference_lines(ax, threshold=None, threshold_label=None, zero=False):
    if zero:
        ax.axhline(0, color="grey", lw=0.8, ls="--")
    if threshold is not None:
        for i, t in enumerate(np.atleast_1d(threshold)):
            ax.axhline(t, color="tab:red", lw=1.2, ls="--",
                       label=(threshold_label or f"threshold {t:g}") if i == 0 else None)


def share_vs_epoch(result: SweepResult, eval_set: str, path: Path, title: str) -> Path:
    """Share classified positive vs epoch, one line per weight ratio, bands of ±1 sd over seeds (Fig 4a)."""
    r = result.ratio(eval_set)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (w, color) in enumerate(zip(result.weight_ratios, _ratio_colors(len(result.weight_ratios)))):
        mean, sd = np.nanmean(r[:, i], 1), np.nanstd(r[:, i], 1)
        style = UNIT_WEIGHT_STYLE if w == 1 else dict(color=color, lw=1.2)
        ax.plot(result.epochs, mean, label=_label(w) + (" (unweighted)" if w == 1 else ""), **style)
        ax.fill_between(result.epochs, _clip01(mean - sd), _clip01(mean + sd), color=style["color"], alpha=0.12)
    ax.set(xscale="log", xlabel="epoch", ylabel=f"share of '{eval_set}' classified {_positive(result)}", title=title,
           ylim=(-0.02, 1.02))
    _legend_outside(ax, title="weight ratio\n(band: ±1 sd\nover seeds)", fontsize=6, title_fontsize=7)
    return _save(fig, path)


def share_vs_weight(result: SweepResult, eval_sets: list[str], path: Path, title: str) -> Path:
    """Share classified positive vs weight ratio at the last epoch, mean ± sd over seeds (Fig 4d)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in eval_sets:
        r = result.ratio(name)[-1]
        mean, sd = np.nanmean(r, 1), np.nanstd(r, 1)
        ax.errorbar(result.weight_ratios, mean, yerr=[mean - _clip01(mean - sd), _clip01(mean + sd) - mean], marker="o",
                    capsize=2, label=name)
    ax.axvline(1.0, color="black", lw=1, ls=":", label="w = 1 (unweighted)")
    ax.set(xscale="log", xlabel="weight ratio (positive / negative)", ylabel=f"share classified {_positive(result)}",
           title=f"{title} (epoch {int(result.epochs[-1])})", ylim=(-0.02, 1.02))
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=7, title="evaluation set (bars: ±1 sd)", title_fontsize=7)
    return _save(fig, path)


def share_vs_factor(factors, series: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Share classified positive at the last epoch vs sub-sampling factor, mean ± sd over seeds, one
    line per series of (factors, seeds) ratios (Fig A.6)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, r in series.items():
        mean, sd = np.nanmean(r, 1), np.nanstd(r, 1)
        ax.errorbar(factors, mean, yerr=[mean - _clip01(mean - sd), _clip01(mean + sd) - mean], marker="o", capsize=2,
                    label=name)
    ax.set(xlabel="sub-sampling factor of the positive class", ylabel="share classified positive", title=title,
           ylim=(-0.02, 1.02))
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=7)
    return _save(fig, path)


def decision_boundaries(result: SweepResult, x_train: np.ndarray, y_train: np.ndarray, path: Path, title: str,
                        seed_index: int = 0, max_ratios: int = 5) -> Path:
    """Decision surfaces of differently weighted models (rows) at the kept snapshots (columns), as Fig 1."""
    side = int(result.meta["task_meta"]["grid_side"])
    x0, x1, y0, y1 = result.meta["task_meta"]["extent"]
    rows = np.unique(np.linspace(0, len(result.weight_ratios) - 1, max_ratios).round().astype(int))
    snaps = result.snapshot_epochs
    names = list(result.meta.get("class_names") or ("negative", "positive"))
    height = 2.0 * len(rows) + 0.8
    fig, axes = plt.subplots(len(rows), len(snaps), figsize=(max(2.2 * len(snaps), 4.4), height), squeeze=False)
    for a, i in enumerate(rows):
        for b, epoch in enumerate(snaps):
            ax = axes[a, b]
            surface = result.predictions["grid"][b, i, seed_index].reshape(side, side)
            ax.imshow(surface, origin="lower", extent=(x0, x1, y0, y1), cmap="coolwarm", alpha=0.35, vmin=0, vmax=1,
                      aspect="auto")
            ax.scatter(*x_train[y_train == 0].T, s=2, c="tab:blue", label=f"class 0 ({names[0]})")
            ax.scatter(*x_train[y_train == 1].T, s=2, c="tab:red", label=f"class 1 ({names[1]})")
            ax.set_xticks([]), ax.set_yticks([])
            if a == 0:
                ax.set_title(f"epoch {int(epoch)}", fontsize=8)
            if b == 0:
                ax.set_ylabel(f"w={_label(result.weight_ratios[i])}", fontsize=8)
    from matplotlib.patches import Patch

    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [Patch(color=plt.get_cmap("coolwarm")(1.0), alpha=0.35), Patch(color=plt.get_cmap("coolwarm")(0.0), alpha=0.35)]
    labels += [f"predicted class 1 ({names[1]})", f"predicted class 0 ({names[0]})"]
    fig.legend(handles, labels, loc="lower center", ncol=4 if len(snaps) >= 4 else 2, fontsize=7, markerscale=3,
               frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.75 / height, 1, 1))
    return _save(fig, path, tight=False)


def lines(x, series: dict[str, np.ndarray], path: Path, title: str, xlabel: str, ylabel: str, xscale="log",
          threshold: float | list[float] | None = None, ylim: tuple[float, float] | None = None,
          threshold_label: str | None = None) -> Path:
    """Generic line plot (e.g. C4's cosine to the SVM direction per weight ratio over epochs).

    ``threshold``: a dashed horizontal line (or several) at a criterion's threshold, labelled
    ``threshold_label``; ``ylim``: the y range (e.g. (0.9, 1.0) so that the gap that decides shows).
    A series named like "w=1" (the unweighted model) is drawn in black."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (name, y), color in zip(series.items(), _ratio_colors(len(series))):
        style = UNIT_WEIGHT_STYLE if _is_unit_weight(name) else dict(color=color, lw=1.2)
        ax.plot(x, y, label=name, **style)
    _reference_lines(ax, threshold, threshold_label)
    ax.set(xscale=xscale, xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def mean_sd_lines(x, series: dict[str, np.ndarray], path: Path, title: str, xlabel: str, ylabel: str,
                  xscale="log", threshold: float | None = None, ylim: tuple[float, float] | None = None,
                  threshold_label: str | None = None) -> Path:
    """One line per series of (x, units) values: the mean over units with a ±1 sd band (Fig 5: gain per rho,
    spread over the ten weighted classes); a dashed zero line for reference."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (name, y), color in zip(series.items(), _ratio_colors(len(series))):
        mean, sd = np.nanmean(y, 1), np.nanstd(y, 1)
        ax.plot(x, mean, label=name, color=color)
        ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.15)
    _reference_lines(ax, threshold, threshold_label, zero=True)
    ax.set(xscale=xscale, xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=6, ncol=2, title="band: ±1 sd", title_fontsize=6)
    return _save(fig, path)


def agreement_bars(weight: dict[str, float], seed: dict[str, float], path: Path, title: str,
                   weight_interval: dict[str, tuple[float, float]] | None = None,
                   seed_interval: dict[str, tuple[float, float]] | None = None,
                   paper: dict[str, tuple[float, float]] | None = None) -> Path:
    """C11: per evaluation set, the agreement of differently *weighted* models (same seed) beside that
    of differently *seeded* models (same weight), as bars with optional 95% intervals, and the paper's
    two numbers per set as markers (``paper[set] = (weight agreement, seed agreement)``)."""
    sets = list(weight)
    x = np.arange(len(sets))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(sets), 3.5))
    for offset, values, intervals, label, color in ((-0.2, weight, weight_interval, "across weights (same seed)",
                                                     "tab:orange"),
                                                    (0.2, seed, seed_interval, "across seeds (same weight)", "tab:blue")):
        heights = np.array([values[s] for s in sets], dtype=float)
        yerr = None
        if intervals:
            lows = np.array([intervals[s][0] if s in intervals else values[s] for s in sets], dtype=float)
            highs = np.array([intervals[s][1] if s in intervals else values[s] for s in sets], dtype=float)
            yerr = [heights - lows, highs - heights]
        ax.bar(x + offset, heights, 0.38, yerr=yerr, capsize=3, color=color, label=label)
    if paper:
        for i, s in enumerate(sets):
            if s in paper:
                ax.plot([i - 0.2, i + 0.2], paper[s], "k*", ms=9, label="paper" if i == 0 else None)
    low = min([*weight.values(), *seed.values(), *(v for p in (paper or {}).values() for v in p)])
    ax.set(xticks=x, xticklabels=sets, ylabel="share of predictions that agree", title=title,
           ylim=(max(0.0, low - 0.1), 1.0))
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def effect_over_epochs(epochs, effect, low, high, path: Path, title: str, early_end: float, *,
                       threshold: float | None = None, ylabel: str = "effect size E(t)", xscale: str = "log",
                       threshold_label: str | None = None) -> Path:
    """E(t) over epochs with its 95% interval (a band) and the early window (epochs up to
    ``early_end``, where E_peak is looked for) shaded; a dashed zero line and an optional threshold.

    ``effect``, ``low``, ``high``: arrays over ``epochs``; or dicts name -> array with the same keys
    to draw several series (e.g. one per evaluation set). Used for C18 and C19 as well."""
    series = effect if isinstance(effect, dict) else {"": effect}
    lows = low if isinstance(low, dict) else {"": low}
    highs = high if isinstance(high, dict) else {"": high}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.axvspan(epochs[0], early_end, color="0.85", alpha=0.6, label=f"early window (epochs <= {early_end:g})")
    colors = plt.get_cmap("tab10")(np.arange(len(series)))
    for (name, values), color in zip(series.items(), colors):
        ax.plot(epochs, values, color=color, label=f"E(t) {name}".strip())
        if lows.get(name) is not None and highs.get(name) is not None:
            ax.fill_between(epochs, lows[name], highs[name], color=color, alpha=0.2,
                            label=f"95% interval {name}".strip())
    _reference_lines(ax, threshold, threshold_label, zero=True)
    ax.set(xscale=xscale, xlabel="epoch", ylabel=ylabel, title=title)
    _legend_outside(ax, fontsize=6)
    return _save(fig, path)


def effect_with_band(result: SweepResult, eval_sets, path: Path, title: str, fade_share: float | None = None) -> Path:
    """E(t), the statistic *fades* and *persists* decide on, with its 95% interval over seeds on each evaluation
    set and the early window shaded; for a fades claim (``fade_share``) a dashed line at ``fade_share`` x E_peak
    of the first set, the level the final effect must be shown below."""
    epochs = np.asarray(result.epochs)
    effect, low, high = {}, {}, {}
    for name in eval_sets:
        estimates = [mean_interval(b) for b in slopes(result.ratio(name), result.weight_ratios)]
        effect[name] = np.array([e.value for e in estimates])
        low[name], high[name] = np.array([e.low for e in estimates]), np.array([e.high for e in estimates])
    early_end = early_window_end(int(result.config["epochs"]))
    threshold = None
    if fade_share is not None:
        first = effect[eval_sets[0]]
        threshold = fade_share * np.nanmax(np.where(epochs <= early_end, first, np.nan))
    return effect_over_epochs(epochs, effect, low, high, path, title, early_end, threshold=threshold,
                              threshold_label=None if threshold is None else
                              f"{fade_share:g} x E_peak ({eval_sets[0]})",
                              ylabel="E(t): slope on log2 w")


def accuracy_bars(per_seed: dict[str, np.ndarray], path: Path, title: str, *, paper: dict | None = None,
                  paper_label: str = "paper", ylabel: str = "balanced test accuracy") -> Path:
    """One bar per arm (C20's losses): the mean over seeds with every seed's value as a dot, beside the paper's
    number (``paper[arm] = (mean, standard error)``, drawn with ±1.96 s.e.) where it reports one."""
    arms = list(per_seed)
    x = np.arange(len(arms))
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(arms), 3.8))
    means = [float(np.nanmean(per_seed[a])) for a in arms]
    ax.bar(x - 0.18, means, 0.34, color="tab:blue", alpha=0.6, label="this run (mean; dots: seeds)")
    for i, a in enumerate(arms):
        values = np.asarray(per_seed[a], float)
        ax.plot(np.full(values.shape, i - 0.18), values, "k.", ms=4)
    shown = [i for i, a in enumerate(arms) if a in (paper or {})]
    if shown:
        ax.bar([i + 0.18 for i in shown], [paper[arms[i]][0] for i in shown], 0.34, color="tab:orange", alpha=0.6,
               yerr=[1.96 * paper[arms[i]][1] for i in shown], capsize=3, label=f"{paper_label} (±1.96 s.e.)")
    low = min([*(np.nanmin(per_seed[a]) for a in arms), *(paper[arms[i]][0] for i in shown)])
    ax.set(xticks=x, ylabel=ylabel, title=title, ylim=(max(0.0, low - 0.05), 1.0))
    ax.set_xticklabels(arms, rotation=30, ha="right", fontsize=7)
    _legend_outside(ax, fontsize=7)
    return _save(fig, path)


def null_histogram(values, observed, threshold, path: Path, title: str, *, xlabel: str = "statistic",
                   observed_label: str = "observed", threshold_label: str = "critical value") -> Path:
    """C19: the null distribution of a statistic (histogram of ``values``) with the observed value(s)
    (``observed``: a number, a list, or None) and the critical value ``threshold`` (or None) marked."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.hist(values, bins=min(40, max(10, len(values) // 5)), color="0.6", label=f"null ({len(values)} values)")
    if threshold is not None:
        ax.axvline(threshold, color="tab:red", ls="--", lw=1.5, label=f"{threshold_label} {threshold:.3g}")
    for i, o in enumerate(np.atleast_1d(observed) if observed is not None else []):
        ax.axvline(o, color="black", lw=2, label=f"{observed_label} {o:.3g}" if i == 0 else None)
    ax.set(xlabel=xlabel, ylabel="count", title=title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def null_hit_counts(hits: dict[str, int], sweeps: int, rate: float, critical: int, path: Path, title: str) -> Path:
    """C19: the number of null sweeps on which a rule fires, under Binomial(``sweeps``, ``rate``) (bars), the
    critical count at and above which a family is NOT REPRODUCED, and each family's observed count."""
    top = max(critical, *hits.values()) + 3
    counts = np.arange(top + 1)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.bar(counts, stats.binom.pmf(counts, sweeps, rate), color="0.7", label=f"Binomial({sweeps}, {rate:g})")
    ax.axvline(critical - 0.5, color="tab:red", ls="--", lw=1.5, label=f"critical count {critical}")
    for (family, n), color in zip(hits.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        ax.plot([n], [stats.binom.pmf(n, sweeps, rate)], "v", ms=9, color=color, label=f"{family}: {n}")
    ax.set(xlabel=f"null sweeps (of {sweeps}) on which the rule fired", ylabel="probability at the nominal rate",
           title=title)
    _legend_outside(ax, fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path, tight: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
