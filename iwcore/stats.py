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


def effect_summary(ratio: np.ndarray, weight_ratios, epochs, total_epochs: int, seed: int = 0) -> EffectSummary:
    """All of CLAIMS.md's effect statistics for one sweep and evaluation set."""
    per_seed = slopes(ratio, weight_ratios)  # (C, S)
    epochs = np.asarray(epochs)
    early = epochs <= early_window_end(total_epochs)
    idx = resample_indices(per_seed.shape[1], seed)
    effect = mean_over_seeds(per_seed)
    boot = mean_over_seeds(per_seed, idx)  # (C, R)
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.nanquantile(boot, [tail, 1 - tail], axis=1)
    peak_at = int(np.nanargmax(np.where(early, effect, -np.inf)))
    boot_peak = np.nanmax(np.where(early[:, None], boot, -np.inf), axis=0)
    peak = interval(effect[peak_at], boot_peak)
    final = interval(effect[-1], boot[-1])
    fade = interval(float(_fade(effect[-1], effect[peak_at])), _fade(boot[-1], boot_peak))
    return EffectSummary(epochs, effect, lo, hi, peak, int(epochs[peak_at]), final, fade, per_seed.shape[1], per_seed)


def difference_of_finals(a: EffectSummary, b: EffectSummary, paired: bool, seed: int = 0) -> Estimate:
    """``E_final(a) - E_final(b)`` with a bootstrap interval; seeds are resampled jointly when the
    two sweeps share their seeds (``paired``), independently otherwise."""
    fa, fb = a.per_seed_slopes[-1], b.per_seed_slopes[-1]
    ia = resample_indices(len(fa), seed)
    ib = ia if paired else resample_indices(len(fb), seed + 1)
    return interval(np.nanmean(fa) - np.nanmean(fb), np.nanmean(fa[ia], 1) - np.nanmean(fb[ib], 1))


def binomial_rate(hits: int, trials: int) -> tuple[float, float]:
    """Observed rate and its binomial standard error."""
    p = hits / trials
    return p, float(np.sqrt(p * (1 - p) / trials))
