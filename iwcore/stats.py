"""CLAIMS.md's shared statistics, each with a 95% percentile-bootstrap interval over seeds.

The effect size ``E(t)`` is the least-squares slope of the classification ratio against
``log2(weight ratio)``, computed per seed and averaged over seeds. Resampling seeds (the
independent units, as rliable resamples runs) carries every derived quantity's uncertainty:
``E_peak`` (largest ``E(t)`` in the first 10% of epochs), ``E_final``, the fade ratio
``F = E_final / E_peak`` and differences between two sweeps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from iwcore.sweep import early_window_end

CONFIDENCE = 0.95
N_RESAMPLES = 10_000


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}

    def __str__(self):
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def slopes(ratio: np.ndarray, weight_ratios) -> np.ndarray:
    """Per-seed least-squares slope of ``ratio`` (checkpoints, ratios, seeds) against log2 of the
    weight ratios -> (checkpoints, seeds). Missing (diverged) points are left out of the fit."""
    x = np.broadcast_to(np.log2(np.asarray(weight_ratios, float))[None, :, None], ratio.shape)
    ok = np.isfinite(ratio)
    n = ok.sum(1)
    xm = np.where(ok, x, 0).sum(1) / np.maximum(n, 1)
    ym = np.where(ok, ratio, 0).sum(1) / np.maximum(n, 1)
    dx = np.where(ok, x - xm[:, None], 0)
    dy = np.where(ok, ratio - ym[:, None], 0)
    sxx = (dx * dx).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (sxx > 0), (dx * dy).sum(1) / sxx, np.nan)


def resample_indices(n_units: int, seed: int = 0, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """(resamples, units) indices drawn with replacement: one bootstrap world per row."""
    return np.random.default_rng(seed).integers(0, n_units, size=(n_resamples, n_units))


def interval(point: float, resampled: np.ndarray) -> Estimate:
    """Percentile interval; resamples where the statistic is undefined count as +inf (conservative
    for upper bounds) and are never interpolated."""
    tail = (1 - CONFIDENCE) / 2
    values = np.where(np.isnan(resampled), np.inf, resampled)
    low, high = np.quantile(values, [tail, 1 - tail], method="inverted_cdf")
    return Estimate(float(point), float(low), float(high))


def mean_over_seeds(per_seed: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """Mean over the seed axis (last), for the original seeds or each resampled set of them."""
    if idx is None:
        return np.nanmean(per_seed, axis=-1)
    return np.nanmean(per_seed[..., idx], axis=-1)  # (..., resamples, units) -> (..., resamples)


@dataclass(frozen=True)
class EffectSummary:
    """``E(t)`` at every checkpoint and the derived peak, final value and fade ratio."""

    epochs: np.ndarray
    effect: np.ndarray  # (checkpoints,)
    effect_low: np.ndarray
    effect_high: np.ndarray
    peak: Estimate
    peak_epoch: int
    final: Estimate
    fade: Estimate
    n_seeds: int
    per_seed_slopes: np.ndarray  # (checkpoints, seeds)

    def as_dict(self) -> dict:
        return {"E_peak": self.peak.as_dict(), "E_peak_epoch": int(self.peak_epoch), "E_final": self.final.as_dict(),
                "F": self.fade.as_dict(), "n_seeds": self.n_seeds}


def _fade(final, peak):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0, final / peak, np.nan)


@dataclass(frozen=True)
class _Trajectory:
    """A per-unit statistic over checkpoints: its mean, pointwise interval, early peak and final value,
    with the bootstrap draws behind them (for statistics derived from both, like the fade ratio)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    peak_at: int
    peak: Estimate
    final: Estimate
    boot_peak: np.ndarray
    boot_final: np.ndarray


def _trajectory(per_unit: np.ndarray, epochs: np.ndarray, total_epochs: int, seed: int) -> _Trajectory:
    """Bootstrap over the units (last axis) of ``per_unit`` (checkpoints, units); the peak is the
    largest mean in the first 10% of epochs, recomputed in every resample."""
    early = epochs <= early_window_end(total_epochs)
    mean = mean_over_seeds(per_unit)
    boot = mean_over_seeds(per_unit, resample_indices(per_unit.shape[1], seed))  # (checkpoints, resamples)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.nanquantile(boot, [tail, 1 - tail], axis=1)
    peak_at = int(np.nanargmax(np.where(early, mean, -np.inf)))
    boot_peak = np.nanmax(np.where(early[:, None], boot, -np.inf), axis=0)
    return _Trajectory(mean, low, high, peak_at, interval(mean[peak_at], boot_peak), interval(mean[-1], boot[-1]),
                       boot_peak, boot[-1])


def effect_summary(ratio: np.ndarray, weight_ratios, epochs, total_epochs: int, seed: int = 0) -> EffectSummary:
    """All of CLAIMS.md's effect statistics for one sweep and evaluation set."""
    per_seed = slopes(ratio, weight_ratios)  # (checkpoints, seeds)
    epochs = np.asarray(epochs)
    t = _trajectory(per_seed, epochs, total_epochs, seed)
    fade = interval(float(_fade(t.mean[-1], t.mean[t.peak_at])), _fade(t.boot_final, t.boot_peak))
    return EffectSummary(epochs, t.mean, t.low, t.high, t.peak, int(epochs[t.peak_at]), t.final, fade,
                         per_seed.shape[1], per_seed)


def difference_of_finals(a: EffectSummary, b: EffectSummary, paired: bool, seed: int = 0) -> Estimate:
    """``E_final(a) - E_final(b)`` with a bootstrap interval; seeds are resampled jointly when the
    two sweeps share their seeds (``paired``), independently otherwise."""
    fa, fb = a.per_seed_slopes[-1], b.per_seed_slopes[-1]
    ia = resample_indices(len(fa), seed)
    ib = ia if paired else resample_indices(len(fb), seed + 1)
    return interval(np.nanmean(fa) - np.nanmean(fb), np.nanmean(fa[ia], 1) - np.nanmean(fb[ib], 1))


def binomial_standard_error(rate: float, trials: int) -> float:
    return float(np.sqrt(rate * (1 - rate) / trials))


def split_summaries(ratio: np.ndarray, weight_ratios, epochs, total_epochs: int,
                    seeds_per_sweep: int) -> list[EffectSummary]:
    """Effect summaries of consecutive groups of ``seeds_per_sweep`` seeds of ``ratio`` (checkpoints,
    ratios, seeds), each group read as a sweep of its own (e.g. many null sweeps trained as one)."""
    return [effect_summary(ratio[..., k * seeds_per_sweep:(k + 1) * seeds_per_sweep], weight_ratios, epochs,
                           total_epochs, seed=k)
            for k in range(ratio.shape[2] // seeds_per_sweep)]


def mean_with_interval(per_seed: np.ndarray, seed: int = 0) -> Estimate:
    """Mean over seeds of a per-seed statistic, with its bootstrap interval over seeds."""
    return interval(float(np.nanmean(per_seed)), mean_over_seeds(per_seed, resample_indices(len(per_seed), seed)))


def factor_slopes(ratio: np.ndarray, factors) -> np.ndarray:
    """Per-seed least-squares slope of the classification ratio (factors, seeds) against log2 of the
    sub-sampling factor -> (seeds,)."""
    return slopes(np.asarray(ratio, float)[None], factors)[0]


def fraction_removed(shift: np.ndarray, remaining: np.ndarray, seed: int = 0) -> Estimate:
    """``1 - mean(remaining) / mean(shift)`` from per-seed slopes of the same seeds (resampled jointly):
    the share of a shift (e.g. from sub-sampling) that a correction (re-weighting) undoes."""
    idx = resample_indices(len(shift), seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = 1 - mean_over_seeds(remaining, idx) / mean_over_seeds(shift, idx)
    return interval(1 - np.nanmean(remaining) / np.nanmean(shift), boot)


def _label_counts(labels: np.ndarray, axis: int) -> np.ndarray:
    """How often each class label occurs along ``axis``, as a trailing class axis."""
    moved = np.moveaxis(np.asarray(labels), axis, -1)
    return (moved[..., None] == np.arange(int(moved.max()) + 1)).sum(-2)


def majority_vote(labels: np.ndarray, axis: int) -> np.ndarray:
    """The most common label along ``axis`` (ties go to the lower label)."""
    return _label_counts(labels, axis).argmax(-1)


def mode_share(labels: np.ndarray, axis: int) -> np.ndarray:
    """The share of the labels along ``axis`` equal to their most common value."""
    return _label_counts(labels, axis).max(-1) / labels.shape[axis]


def weight_and_seed_agreement(predictions: np.ndarray) -> tuple[float, float]:
    """The paper's two agreements from predicted labels (ratios, seeds, examples).

    Weight agreement: per weight ratio a majority vote over seeds, then per example the share of the
    voted labels equal to their mode, averaged over examples. Seed agreement: per ratio and example
    the share of seeds agreeing with their mode, averaged over ratios and examples.
    """
    votes = majority_vote(predictions, axis=1)  # (ratios, examples)
    return float(mode_share(votes, axis=0).mean()), float(mode_share(predictions, axis=1).mean())


def weighted_class_loss(class_loss: np.ndarray, class_weights: np.ndarray, class_counts) -> np.ndarray:
    """Each model's weighted loss on a labelled set, ``sum_c w_c n_c loss_c / n``, from per-class mean
    losses (checkpoints, ratios, seeds, classes) and weights (ratios, classes) -> (checkpoints, ratios, seeds)."""
    counts = np.asarray(class_counts, float)
    return (class_loss * np.asarray(class_weights)[None, :, None, :] * counts).sum(-1) / counts.sum()


def chosen_checkpoints(criterion: np.ndarray) -> np.ndarray:
    """Per model the checkpoint with the lowest criterion (checkpoints, ratios, seeds) -> (ratios, seeds);
    non-finite values (diverged models) are never chosen over finite ones."""
    return np.where(np.isfinite(criterion), criterion, np.inf).argmin(0)


def effect_at(ratio: np.ndarray, chosen: np.ndarray, weight_ratios, seed: int = 0) -> Estimate:
    """``E`` with every model read at its own checkpoint ``chosen`` (ratios, seeds) of ``ratio``
    (checkpoints, ratios, seeds), with its bootstrap interval over seeds."""
    picked = np.take_along_axis(ratio, chosen[None], axis=0)  # (1, ratios, seeds)
    return mean_with_interval(slopes(picked, weight_ratios)[0], seed)


def weighted_accuracy(recall: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """``sum_c w_c recall_c / sum_c w_c`` over the trailing class axis: the accuracy on a test set whose
    classes are shifted to the proportions ``w`` (C15), from per-class recall; the arrays broadcast."""
    w = np.asarray(class_weights, float)
    return (recall * w).sum(-1) / w.sum(-1)


def label_shift_gain(recall: np.ndarray, class_weights: np.ndarray, iw_rows, unweighted_row: int) -> np.ndarray:
    """C15's gain ``Delta(t)`` = weighted accuracy of each IW model - that of the unweighted model, both
    weighted by the IW model's class weights. ``recall`` (checkpoints, ratios, seeds, classes),
    ``class_weights`` (ratios, classes) -> (checkpoints, IW rows, seeds), paired by seed."""
    w = np.asarray(class_weights, float)[list(iw_rows)][None, :, None, :]
    return weighted_accuracy(recall[:, list(iw_rows)], w) - weighted_accuracy(recall[:, [unweighted_row]], w)


@dataclass(frozen=True)
class GainSummary:
    """A gain over checkpoints (mean over bootstrap units) with its early peak and final value."""

    epochs: np.ndarray
    gain: np.ndarray  # (checkpoints,)
    gain_low: np.ndarray
    gain_high: np.ndarray
    peak: Estimate
    peak_epoch: int
    final: Estimate
    n_units: int
    unit: str  # what the bootstrap resampled

    def as_dict(self) -> dict:
        return {"gain_peak": self.peak.as_dict(), "gain_peak_epoch": int(self.peak_epoch),
                "gain_final": self.final.as_dict(), "bootstrap_unit": self.unit, "n_units": self.n_units}


def gain_summary(gain: np.ndarray, cell_classes, epochs, total_epochs: int, seed: int = 0) -> GainSummary:
    """Peak (largest mean gain in the first 10% of epochs) and final mean gain with bootstrap intervals.

    ``gain`` is (checkpoints, cells, seeds), ``cell_classes`` the weighted class of each cell. The
    bootstrap resamples seeds (each averaged over all cells) where there are several; with one seed it
    resamples the weighted classes (each averaged over its cells, i.e. over rho), the unit over which
    the paper's Fig 5 shows its spread.
    """
    cell_classes = np.asarray(cell_classes)
    if gain.shape[2] > 1:
        per_unit, unit = np.nanmean(gain, axis=1), "seeds"
    else:
        classes = np.unique(cell_classes)
        per_unit = np.stack([np.nanmean(gain[:, cell_classes == c, 0], axis=1) for c in classes], axis=1)
        unit = "weighted classes (one seed)"
    epochs = np.asarray(epochs)
    t = _trajectory(per_unit, epochs, total_epochs, seed)
    return GainSummary(epochs, t.mean, t.low, t.high, t.peak, int(epochs[t.peak_at]), t.final,
                       per_unit.shape[1], unit)
