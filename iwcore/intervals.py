"""Intervals that respect their quantity's range, for accuracies, rates and shares.

A t interval over seeds (``iwcore.stats.mean_interval``) can leave [0, 1] (an accuracy "0.79 [0.46, 1.12]") and
has zero width when every seed gave the same value ("0.99 [0.99, 0.99]"), which reads as certainty. Here:

- ``count_interval``: k successes of n (a rate over null sweeps, an accuracy on n examples): the exact
  Clopper-Pearson interval (``scipy.stats.binomtest``), inside [0, 1] and of positive width even at 0 of n
  and n of n.
- ``per_seed_interval``: the mean of per-seed values in a bounded range (accuracy per seed): the BCa bootstrap
  interval of the mean (``scipy.stats.bootstrap``), which stays within the values' own range; with no spread
  over seeds it gives no interval and keeps the values, so that a report shows them instead.
- ``bounds_of``: the range of a statistic, from its name, for a report to check an interval against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999

# Statistics bounded by [0, 1] or [-1, 1], by a word of their name (a row's ``statistic``).
_UNIT = re.compile(r"\b(accuracy|accuracies|rate|share|agreement|fraction of (?:seeds|sweeps|models))\b", re.I)
_COSINE = re.compile(r"\bcosine\b", re.I)


@dataclass(frozen=True)
class Interval:
    """An estimate and its interval; ``low``/``high`` are None when there is no spread (``values`` then holds
    the per-seed values, all equal) or no interval."""

    value: float
    low: float | None
    high: float | None
    method: str
    values: tuple[float, ...] = ()

    @property
    def no_spread(self) -> bool:
        return self.low is None and len(self.values) > 0


def count_interval(k: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """k of n: the rate with its exact (Clopper-Pearson) interval."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"a count interval needs 0 <= k <= n and n > 0; got k = {k}, n = {n}")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return Interval(k / n, float(ci.low), float(ci.high), f"exact binomial (Clopper-Pearson), {k} of {n}")


def per_seed_interval(values, bounds: tuple[float, float] = (0.0, 1.0), confidence: float = CONFIDENCE,
                      seed: int = 0) -> Interval:
    """The mean of per-seed values in ``bounds`` with its BCa bootstrap interval (within the values' range,
    hence within ``bounds``); no interval, and the values kept, when every seed gave the same value.
    The resampling is seeded, so a report is reproducible."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"per-seed values must be finite and not empty; got {x.tolist()}")
    if x.min() < bounds[0] or x.max() > bounds[1]:
        raise ValueError(f"per-seed values {x.tolist()} leave their range {list(bounds)}")
    mean = float(x.mean())
    if np.ptp(x) == 0:
        return Interval(mean, None, None, f"no spread over {x.size} seeds", tuple(x.tolist()))
    result = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="BCa", rng=np.random.default_rng(seed))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(mean, low, high, f"BCa bootstrap over {x.size} seeds", tuple(x.tolist()))


def bounds_of(statistic: str) -> tuple[float, float] | None:
    """The range of a statistic named ``statistic``: [0, 1] for accuracies, rates, shares and agreements,
    [-1, 1] for a cosine; None for an unbounded one (slopes, differences, ratios such as F)."""
    text = str(statistic or "")
    if re.search(r"(\s-\s|−|difference|gain|\bF\b)", text):
        return None  # a difference of bounded quantities, or a ratio: unbounded at this level
    if _COSINE.search(text):
        return (-1.0, 1.0)
    if _UNIT.search(text):
        return (0.0, 1.0)
    return None
