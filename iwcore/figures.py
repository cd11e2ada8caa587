"""Figures like the paper's, drawn from sweep results (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from iwcore.results import SweepResult  # noqa: E402


def _ratio_colors(n: int):
    return plt.get_cmap("coolwarm")(np.linspace(0, 1, n))


def _label(w: float) -> str:
    e = np.log2(w)
    return f"2^{e:g}" if e == round(e) else f"{w:g}"


def share_vs_epoch(result: SweepResult, eval_set: str, path: Path, title: str) -> Path:
    """Share classified positive vs epoch, one line per weight ratio, bands of ±1 sd over seeds (Fig 4a)."""
    r = result.ratio(eval_set)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (w, color) in enumerate(zip(result.weight_ratios, _ratio_colors(len(result.weight_ratios)))):
        mean, sd = np.nanmean(r[:, i], 1), np.nanstd(r[:, i], 1)
        ax.plot(result.epochs, mean, color=color, label=_label(w))
        ax.fill_between(result.epochs, mean - sd, mean + sd, color=color, alpha=0.15)
    ax.set(xscale="log", xlabel="epoch", ylabel=f"share of '{eval_set}' classified positive", title=title, ylim=(-0.02, 1.02))
    ax.legend(title="weight ratio", fontsize=6, ncol=2, loc="best")
    return _save(fig, path)


def share_vs_weight(result: SweepResult, eval_sets: list[str], path: Path, title: str) -> Path:
    """Share classified positive vs weight ratio at the last epoch, mean ± sd over seeds (Fig 4d)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in eval_sets:
        r = result.ratio(name)[-1]
        ax.errorbar(result.weight_ratios, np.nanmean(r, 1), yerr=np.nanstd(r, 1), marker="o", capsize=2, label=name)
    ax.set(xscale="log", xlabel="weight ratio (positive / negative)", ylabel="share classified positive",
           title=f"{title} (epoch {int(result.epochs[-1])})", ylim=(-0.02, 1.02))
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=7)
    return _save(fig, path)


def share_vs_factor(factors, series: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Share classified positive at the last epoch vs sub-sampling factor, mean ± sd over seeds, one
    line per series of (factors, seeds) ratios (Fig A.6)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, r in series.items():
        ax.errorbar(factors, np.nanmean(r, 1), yerr=np.nanstd(r, 1), marker="o", capsize=2, label=name)
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
    fig, axes = plt.subplots(len(rows), len(snaps), figsize=(2.2 * len(snaps), 2.0 * len(rows)), squeeze=False)
    for a, i in enumerate(rows):
        for b, epoch in enumerate(snaps):
            ax = axes[a, b]
            surface = result.predictions["grid"][b, i, seed_index].reshape(side, side)
            ax.imshow(surface, origin="lower", extent=(x0, x1, y0, y1), cmap="coolwarm", alpha=0.35, vmin=0, vmax=1,
                      aspect="auto")
            ax.scatter(*x_train[y_train == 0].T, s=2, c="tab:blue")
            ax.scatter(*x_train[y_train == 1].T, s=2, c="tab:red")
            ax.set_xticks([]), ax.set_yticks([])
            if a == 0:
                ax.set_title(f"epoch {int(epoch)}", fontsize=8)
            if b == 0:
                ax.set_ylabel(f"w={_label(result.weight_ratios[i])}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def lines(x, series: dict[str, np.ndarray], path: Path, title: str, xlabel: str, ylabel: str, xscale="log") -> Path:
    """Generic line plot (e.g. C4's cosine to the SVM direction per weight ratio over epochs)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (name, y), color in zip(series.items(), _ratio_colors(len(series))):
        ax.plot(x, y, label=name, color=color)
    ax.set(xscale=xscale, xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def mean_sd_lines(x, series: dict[str, np.ndarray], path: Path, title: str, xlabel: str, ylabel: str,
                  xscale="log") -> Path:
    """One line per series of (x, units) values: the mean over units with a ±1 sd band (Fig 5: gain per rho,
    spread over the ten weighted classes); a dashed zero line for reference."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (name, y), color in zip(series.items(), _ratio_colors(len(series))):
        mean, sd = np.nanmean(y, 1), np.nanstd(y, 1)
        ax.plot(x, mean, label=name, color=color)
        ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.15)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set(xscale=xscale, xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
