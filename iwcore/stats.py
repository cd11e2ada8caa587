"""CLAIMS.md's statistics (revision 3): seeds are independent replicates; every interval and test is
over seeds, with its error rate stated and measured (tests/test_calibration.py, claim C19).

- ``E(t)``: least-squares slope of the classification ratio against ``log2(weight ratio)``, per seed
  (``b_s(t)``), averaged over seeds.
- *Present early*: ``T = max_{t in W} E(t)`` against its within-seed permutation distribution (weight-ratio
  labels permuted independently within each seed, each model keeping its whole trajectory; the maximum
  over checkpoints handles their multiplicity, Westfall-Young). Exact under "the weights do not affect
  the models", whatever the number of seeds.
- Means over seeds get Student-t intervals and one-sided t tests (``scipy.stats``); the fade ratio
  ``F = E_final / E_peak`` gets a Fieller interval (a ratio of two paired means). *Fades* tests
  ``G_s = b_s(final) - 0.25 b_s(t_hat_-s)``, each seed's early peak chosen on the other seeds.
- Seeds needed: from the noncentral t distribution, for the one-sided test the estimate points to.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from iwcore.sweep import early_window_end

ALPHA = 0.025  # one-sided error rate of every rule
N_PERMUTATIONS = 9_999  # p = (1 + #{T_perm >= T}) / 10,000
MIN_SEEDS = 5  # CLAIMS.md: fewer seeds decide nothing (no rule is calibrated and stable below this)
POWER = 0.95  # "seeds needed": 95% power at the measured mean and spread
MAX_SEEDS_NEEDED = 100_000  # beyond this "seeds needed" is reported as not reachable (None)


@dataclass(frozen=True)
class Estimate:
    """A statistic with its two-sided 95% interval (each bound a one-sided 97.5% bound)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}

    def __str__(self):
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def t_critical(n: int, df: float | None = None) -> float:
    """``t_{n-1, 1-ALPHA}`` (or with ``df`` degrees of freedom): the critical value of the one-sided t
    rules with ``n`` seeds."""
    df = n - 1 if df is None else df
    return float(stats.t.ppf(1 - ALPHA, df)) if df >= 1 else math.inf


def mean_interval(per_seed) -> Estimate:
    """Mean over seeds with its Student-t 95% interval; unbounded with fewer than two seeds, NaN if any
    seed is not finite (a diverged model never narrows an interval)."""
    x = np.asarray(per_seed, float)
    if not np.isfinite(x).all():
        return Estimate(math.nan, math.nan, math.nan)
    m = float(x.mean())
    if len(x) < 2:
        return Estimate(m, -math.inf, math.inf)
    half = t_critical(len(x)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Estimate(m, m - half, m + half)


def t_statistic(per_seed, threshold: float = 0.0) -> float:
    """One-sample t statistic of the mean over seeds against ``threshold`` (``scipy.stats.ttest_1samp``).
    A spread of exactly 0 gives +-inf (or NaN at the threshold); a non-finite seed gives NaN."""
    x = np.asarray(per_seed, float)
    if len(x) < 2 or not np.isfinite(x).all():
        return math.nan
    if np.ptp(x) == 0:
        d = x[0] - threshold
        return math.copysign(math.inf, d) if d else math.nan
    return float(stats.ttest_1samp(x, threshold).statistic)


def difference_t_statistic(a, b, paired: bool) -> tuple[float, Estimate, float]:
    """t statistic, interval and degrees of freedom of ``mean(a) - mean(b)``: paired (``ttest_rel``) when
    the two sweeps share their seeds (and so their training samples), Welch (``ttest_ind``, unequal
    variances, Welch-Satterthwaite degrees of freedom) otherwise."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if paired:
        return t_statistic(a - b), mean_interval(a - b), len(a) - 1
    if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan, Estimate(math.nan, math.nan, math.nan), math.nan
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(1 - 2 * ALPHA)
    return float(test.statistic), Estimate(float(a.mean() - b.mean()), float(ci.low), float(ci.high)), float(test.df)


def one_sided_p(t: float, df: float, direction: int = 1) -> float:
    """One-sided p-value of a t statistic in ``direction`` (+1: large t is evidence, -1: small t):
    ``p <= ALPHA`` exactly when ``direction * t >= t_critical``; NaN stays NaN (never decisive)."""
    if math.isnan(t) or math.isnan(df):
        return math.nan
    return float(stats.t.sf(direction * t, df)) if df >= 1 else math.nan


def seeds_needed(per_seed, threshold: float = 0.0, alpha: float = ALPHA) -> int | None:
    """How many seeds the one-sided t test of the mean against ``threshold``, in the direction the estimate
    points to, needs for ``POWER`` at level ``alpha``, at the measured mean and spread (noncentral t:
    power = P(T'_{n-1, d sqrt n} >= t_{n-1, 1-alpha})). None where the mean sits on the threshold, nothing
    varies, or more than ``MAX_SEEDS_NEEDED`` would be needed."""
    x = np.asarray(per_seed, float)
    if len(x) < 2 or not np.isfinite(x).all():
        return None
    distance, sd = abs(float(x.mean()) - threshold), float(x.std(ddof=1))
    if distance == 0 or sd == 0:
        return None
    d = distance / sd
    guess = ((stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)) / d) ** 2  # the normal approximation, a start
    n = np.arange(MIN_SEEDS, min(MAX_SEEDS_NEEDED, math.ceil(2 * guess) + 20) + 1)
    power = stats.nct.sf(stats.t.ppf(1 - alpha, n - 1), n - 1, d * np.sqrt(n))
    enough = np.flatnonzero(power >= POWER)
    return int(n[enough[0]]) if len(enough) else None


def fieller_ratio(numerator, denominator) -> Estimate:
    """``mean(numerator) / mean(denominator)`` over paired seeds with Fieller's 95% interval; unbounded
    where the denominator's mean is not clearly away from 0 (the ratio is then not estimable)."""
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    n = len(a)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return Estimate(math.nan, math.nan, math.nan)
    if n < 2:
        return Estimate(float(a.mean() / b.mean()) if b.mean() else math.nan, -math.inf, math.inf)
    ma, mb = float(a.mean()), float(b.mean())
    cov = np.cov(a, b) / n
    t2 = t_critical(n) ** 2
    qa, qb, qc = mb * mb - t2 * cov[1, 1], ma * mb - t2 * cov[0, 1], ma * ma - t2 * cov[0, 0]
    value = ma / mb if mb else math.nan
    disc = qb * qb - qa * qc
    if qa <= 0 or disc < 0:
        return Estimate(value, -math.inf, math.inf)
    root = math.sqrt(disc)
    return Estimate(value, float((qb - root) / qa), float((qb + root) / qa))


def slopes(ratio: np.ndarray, weight_ratios) -> np.ndarray:
    """Per-seed least-squares slope of ``ratio`` (checkpoints, ratios, seeds) against log2 of the weight
    ratios -> (checkpoints, seeds); NaN wherever a model of that seed is missing (diverged)."""
    x = np.log2(np.asarray(weight_ratios, float))
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0:
        return np.full((ratio.shape[0], ratio.shape[2]), np.nan)
    return np.einsum("r,trs->ts", xc, ratio) / sxx


def factor_slopes(ratio: np.ndarray, factors) -> np.ndarray:
    """Per-seed slope of the classification ratio (factors, seeds) against log2 of the sub-sampling
    factor -> (seeds,)."""
    return slopes(np.asarray(ratio, float)[None], factors)[0]


def permutation_seed(key: str) -> int:
    """The permutations of a test are seeded from the sweep's cache key, so a verdict is reproducible."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class PermutationTest:
    """The within-seed permutation max-T test of *present early*."""

    statistic: float  # T: the largest E(t) over the window
    p_value: float
    null_quantile: float  # the null distribution's 97.5th percentile of T
    n_permutations: int

    @property
    def present(self) -> bool:
        return self.p_value <= ALPHA

    def as_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}


def within_seed_permutation_test(per_seed: list[np.ndarray], n_labels: int, statistic, seed: int = 0,
                                 n_permutations: int = N_PERMUTATIONS) -> PermutationTest:
    """A max-T permutation test under "the weights do not affect the models": the labels (weight ratios, or
    weighting schemes) of a seed's models are permuted independently within each seed, each model keeping
    all it measured (``scipy.stats.permutation_test``, 'pairings'; p = (1 + #{T_perm >= T}) / (B + 1), or
    exact where all permutations fit in B).

    ``per_seed[s]`` is what ``statistic`` reads of seed s; ``statistic(holders, per_seed)`` returns the
    statistic for a batch of labellings, ``holders[s]`` being (batch, n_labels): the model that carries each
    label. Seeds are put in a canonical order (by their data) first, so relabelling the seeds cannot change
    the p-value. A non-finite value (a diverged model) makes the test undefined (p = NaN), never present."""
    if any(not np.isfinite(v).all() for v in per_seed):
        return PermutationTest(math.nan, math.nan, math.nan, n_permutations)
    per_seed = sorted(per_seed, key=lambda v: np.ascontiguousarray(v).tobytes())

    def batched(*holders, axis=-1):
        flat = [np.moveaxis(h, axis, -1).reshape(-1, n_labels) for h in holders]
        return statistic(flat, per_seed).reshape(np.moveaxis(holders[0], axis, -1).shape[:-1])

    test = stats.permutation_test(tuple(np.arange(n_labels) for _ in per_seed), batched, permutation_type="pairings",
                                  n_resamples=n_permutations, vectorized=True, alternative="greater",
                                  rng=np.random.default_rng(seed))
    return PermutationTest(float(test.statistic), float(test.pvalue),
                           float(np.quantile(test.null_distribution, 1 - ALPHA)), len(test.null_distribution))


def _centred_log2(weight_ratios) -> tuple[np.ndarray, float]:
    x = np.log2(np.asarray(weight_ratios, float))
    xc = x - x.mean()
    return xc, float(xc @ xc)


def present_early_test(window_ratio: np.ndarray, weight_ratios, seed: int = 0,
                       n_permutations: int = N_PERMUTATIONS) -> PermutationTest:
    """*Present early*: ``T = max_t E(t)`` over the checkpoints of ``window_ratio`` (checkpoints, ratios,
    seeds), by the within-seed permutation max-T test."""
    ratio = np.asarray(window_ratio, float)
    xc, sxx = _centred_log2(weight_ratios)

    def max_effect(holders, per_seed):  # per_seed[s]: (checkpoints, models)
        return (sum(r[:, h] @ xc for h, r in zip(holders, per_seed)) / (sxx * len(per_seed))).max(0)

    return within_seed_permutation_test([ratio[:, :, s] for s in range(ratio.shape[2])], len(xc), max_effect,
                                        seed, n_permutations)


def present_at_selected_test(value_if_labelled: np.ndarray, weight_ratios, seed: int = 0,
                             n_permutations: int = N_PERMUTATIONS) -> PermutationTest:
    """*Present* where what a model contributes depends on its label (C18: each model is read at the checkpoint
    its own label's weighted validation loss selects): ``value_if_labelled`` (models, seeds, labels) holds
    model m's value if it carried label k, so the selection is redone under every permutation and the test
    stays exact. T = the mean over seeds of the slope against log2 w."""
    values = np.asarray(value_if_labelled, float)
    xc, sxx = _centred_log2(weight_ratios)
    labels = np.arange(len(xc))

    def effect(holders, per_seed):  # per_seed[s]: (models, labels)
        return sum(v[h, labels] @ xc for h, v in zip(holders, per_seed)) / (sxx * len(per_seed))

    return within_seed_permutation_test([values[:, s, :] for s in range(values.shape[1])], len(xc), effect, seed,
                                        n_permutations)


@dataclass(frozen=True)
class EffectSummary:
    """One sweep on one evaluation set: ``E(t)`` with pointwise intervals, the permutation test of
    *present early*, the peak ``t_hat`` in the early window (over all seeds, and for each seed the one chosen
    on the other seeds, ``t_hat_-s``), the final effect and ``F``."""

    epochs: np.ndarray
    effect: np.ndarray  # (checkpoints,) E(t)
    effect_low: np.ndarray
    effect_high: np.ndarray
    early_end: int  # last epoch of the early window W
    peak_at: int  # index of t_hat
    present: PermutationTest
    final: Estimate
    fade: Estimate
    per_seed_slopes: np.ndarray  # (checkpoints, seeds)
    complete: bool  # every model finite at every checkpoint (none diverged)
    held_out_peak_at: np.ndarray  # (seeds,) index of t_hat_-s: the early peak of the other seeds' mean

    @property
    def n_seeds(self) -> int:
        return self.per_seed_slopes.shape[1]

    @property
    def peak_epoch(self) -> int:
        return int(self.epochs[self.peak_at])

    @property
    def peak_slopes(self) -> np.ndarray:
        return self.per_seed_slopes[self.peak_at]

    @property
    def final_slopes(self) -> np.ndarray:
        return self.per_seed_slopes[-1]

    @property
    def held_out_peak_slopes(self) -> np.ndarray:
        """``b_s(t_hat_-s)``: each seed's slope at the early peak chosen without it, so that choosing the peak
        does not select the seed's own noise (CLAIMS.md revision 3)."""
        return self.per_seed_slopes[self.held_out_peak_at, np.arange(self.n_seeds)]

    @property
    def reaches_end(self) -> bool:
        """Whether the last checkpoint is the end of training (not a sweep stopped after the window)."""
        return self.epochs[-1] > self.early_end

    def as_dict(self) -> dict:
        return {"E_peak": float(self.effect[self.peak_at]), "E_peak_epoch": self.peak_epoch,
                "present_early": self.present.as_dict(), "E_final": self.final.as_dict(), "F": self.fade.as_dict(),
                "t_hat_held_out_epochs": [int(e) for e in self.epochs[self.held_out_peak_at]], "n_seeds": self.n_seeds}


def effect_summary(ratio: np.ndarray, weight_ratios, epochs, total_epochs: int, seed: int = 0,
                   n_permutations: int = N_PERMUTATIONS) -> EffectSummary:
    """Every effect statistic of CLAIMS.md for one sweep and evaluation set; ``seed`` seeds the permutations
    (use ``permutation_seed(cache key)``)."""
    epochs = np.asarray(epochs)
    ratio = np.asarray(ratio, float)
    per_seed = slopes(ratio, weight_ratios)
    early_end = early_window_end(total_epochs)
    window = epochs <= early_end
    if not window.any():
        raise ValueError(f"no checkpoint in the early window (epochs <= {early_end}); checkpoints {epochs.tolist()}")
    intervals = [mean_interval(b) for b in per_seed]
    effect = np.array([e.value for e in intervals])
    peak_at = early_peak(effect[:, None], window)[0]
    present = present_early_test(ratio[window], weight_ratios, seed, n_permutations)
    return EffectSummary(epochs, effect, np.array([e.low for e in intervals]), np.array([e.high for e in intervals]),
                         early_end, int(peak_at), present, intervals[-1],
                         fieller_ratio(per_seed[-1], per_seed[peak_at]), per_seed, bool(np.isfinite(ratio).all()),
                         held_out_peaks(per_seed, window))


def early_peak(effect: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Per column of ``effect`` (checkpoints, k) the checkpoint of its largest value within ``window``; a
    non-finite value is never the peak."""
    allowed = np.where(np.isfinite(effect) & window[:, None], effect, -np.inf)
    return allowed.argmax(0)


def held_out_peaks(per_seed: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``t_hat_-s`` for every seed s: the early peak of the mean slope over all other seeds (with one seed,
    its own)."""
    n = per_seed.shape[1]
    others = (per_seed.sum(1, keepdims=True) - per_seed) / (n - 1) if n > 1 else per_seed
    return early_peak(others, window)


def gain_present_early_test(window_recall: np.ndarray, class_weights: np.ndarray, unweighted_row: int, seed: int = 0,
                            n_permutations: int = N_PERMUTATIONS) -> PermutationTest:
    """C15's *present early*: ``T = max_t`` of the gain ``Delta(t)`` (each IW model's label-shift-weighted
    accuracy minus the unweighted model's under the same weights, averaged over the IW models and seeds),
    by the within-seed permutation max-T test: under "the weights do not matter" a seed's unweighted and
    IW models are exchangeable, so their labels are permuted. ``window_recall`` is (checkpoints, models,
    seeds, classes), ``class_weights`` (models, classes)."""
    w = np.asarray(class_weights, float)
    w = w / w.sum(1, keepdims=True)
    accuracy_as = np.einsum("tmsc,kc->tmsk", np.asarray(window_recall, float), w)  # model m judged as label k
    labels = np.arange(len(w))
    iw = labels != unweighted_row

    def max_gain(holders, per_seed):  # per_seed[s]: (checkpoints, models, labels)
        gain = sum((a[:, h, labels] - a[:, h[:, unweighted_row], :])[..., iw].mean(-1)
                   for h, a in zip(holders, per_seed)) / len(per_seed)
        return gain.max(0)

    return within_seed_permutation_test([accuracy_as[:, :, s, :] for s in range(accuracy_as.shape[2])], len(w),
                                        max_gain, seed, n_permutations)


def split_seeds(ratio: np.ndarray, seeds_per_sweep: int) -> list[np.ndarray]:
    """Consecutive groups of ``seeds_per_sweep`` seeds of ``ratio`` (checkpoints, ratios, seeds), each read
    as a sweep of its own (many null sweeps trained as one stack)."""
    return [ratio[..., k * seeds_per_sweep:(k + 1) * seeds_per_sweep]
            for k in range(ratio.shape[2] // seeds_per_sweep)]


def agreement_per_seed(predictions: np.ndarray) -> np.ndarray:
    """C11's statistic from predicted labels (ratios, seeds, examples), as one jackknife pseudo-value per seed.

    For two seeds, ``d`` = agreement of their models with different weight ratios minus that of their models
    with the same ratio (shares of examples, averaged over the pairs of models). Both kinds of pair differ by
    seed, and so by training sample, so ``d`` is 0 in expectation when weighting changes nothing. The
    statistic is the mean of ``d`` over all pairs of seeds; its pairs share seeds, so the per-seed values
    returned are leave-one-seed-out pseudo-values, whose mean is that statistic and whose spread gives
    its jackknife standard error (a t rule on them stays calibrated, tests/test_calibration.py)."""
    pred = np.asarray(predictions)
    n_ratios, n_seeds = pred.shape[:2]
    if n_ratios < 2 or n_seeds < 3:
        return np.full(n_seeds, np.nan)
    same = np.eye(n_ratios, dtype=bool)
    d = np.zeros((n_seeds, n_seeds))
    for s in range(n_seeds):
        for o in range(s + 1, n_seeds):
            agree = (pred[:, s, None, :] == pred[None, :, o, :]).mean(-1)  # (ratios of s, ratios of o)
            d[s, o] = d[o, s] = agree[~same].mean() - agree[same].mean()
    pairs = n_seeds * (n_seeds - 1) / 2
    total = d.sum() / 2
    without = (total - d.sum(1)) / (pairs - (n_seeds - 1))  # the statistic with each seed left out
    return n_seeds * total / pairs - (n_seeds - 1) * without


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
    """The paper's two agreements from predicted labels (ratios, seeds, examples), reported beside C11's
    rule. Weight agreement: per weight ratio a majority vote over seeds, then per example the share of the
    voted labels equal to their mode, averaged over examples. Seed agreement: per ratio and example the
    share of seeds agreeing with their mode, averaged over ratios and examples."""
    votes = majority_vote(predictions, axis=1)  # (ratios, examples)
    return float(mode_share(votes, axis=0).mean()), float(mode_share(predictions, axis=1).mean())


def weighted_class_loss(class_loss: np.ndarray, class_weights: np.ndarray, class_counts) -> np.ndarray:
    """Each model's weighted loss on a labelled set, ``sum_c w_c n_c loss_c / n``, from per-class mean
    losses (checkpoints, ratios, seeds, classes) and weights (ratios, classes) -> (checkpoints, ratios, seeds)."""
    counts = np.asarray(class_counts, float)
    return (class_loss * np.asarray(class_weights)[None, :, None, :] * counts).sum(-1) / counts.sum()


def chosen_checkpoints(criterion: np.ndarray, window: np.ndarray | None = None) -> np.ndarray:
    """Per model the checkpoint with the lowest criterion (checkpoints, ratios, seeds) -> (ratios, seeds),
    among the checkpoints in ``window`` (all if None); non-finite values are never chosen over finite ones."""
    allowed = np.ones(criterion.shape[0], bool) if window is None else np.asarray(window)
    return np.where(np.isfinite(criterion) & allowed[:, None, None], criterion, np.inf).argmin(0)


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
