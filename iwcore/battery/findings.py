"""Declared findings: (claim, tier) -> the verdicts measured at that scale and why, as data.

A claim that does not reproduce at a tier is declared here with every verdict it gave over base seeds
0-4 (``python -m iwcore.stability``) and the measured numbers; the test is then a strict expected
failure for exactly those verdicts, and any other verdict or a crash fails the run. REPRODUCED in a
declared set means the claim is not decidable at that scale (CLAIMS.md's seed analysis): its verdict is
reported but not counted, because a REPRODUCED that holds for some base seeds only is not a reproduction.
"""

from __future__ import annotations

from dataclasses import dataclass

from iwcore.verdicts import Verdict

R, N, U, I = Verdict.REPRODUCED, Verdict.NOT_REPRODUCED, Verdict.UNDECIDED, Verdict.INCONCLUSIVE


@dataclass(frozen=True)
class Expected:
    verdicts: frozenset
    reason: str

    def as_dict(self) -> dict:
        return {"verdicts": sorted(v.value for v in self.verdicts), "reason": self.reason}


EXPECTED: dict[tuple[str, str], Expected] = {}

_C4_REASON = ("the direction converges only logarithmically in the number of SGD steps. The SVC's unregularised "
              "bias is not the cause: the hard-margin SVM with a regularised bias (the implicit-bias limit of SGD "
              "with a bias term) points within cosine 0.9997-1.0000 of the SVC's direction on the first three data "
              "draws")
_NOT_DECIDABLE = "not decidable at this scale (CLAIMS.md's seed analysis); its verdict is reported, not counted: "

EXPECTED.update({
    ("C1", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4 (5 seeds, 128 points, 1,000 epochs = 16k SGD steps, ~1% of the paper's "
        "1.28M): the MLP fades (F = 0.018-0.031 on the test points, 0.11-0.14 on the grid) but logistic "
        "regression is shown not to: F = 0.45-0.47 on the test points. At the paper's scale it faded (full tier, "
        "revision 1)")),
    ("C4", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4: the smallest final cosine over ratios, against each seed's own SVM, is "
        "0.976-0.988 with intervals reaching 0.95-1.01 (needs >= 0.99): undecided; " + _C4_REASON)),
    ("C4", "full"): Expected(frozenset({N, U}), (
        "measured under revision 2 at the paper's scale (1,024 points, 10,000 epochs, 9 seeds; CPU): the smallest "
        "final cosine over ratios is 0.988 [0.979, 0.997] against 0.99 (undecided), and for the worst ratio the "
        "cosine falls over training (smallest rise -0.006 [-0.012, -0.001], shown below 0); under revision 1 it "
        "ended at 0.975-0.992, below 0.99 for w <= 0.25; " + _C4_REASON)),
    ("C6", "fast"): Expected(frozenset({U, N}), (
        "measured under revision 3 over base seeds 0-4 (5 seeds, 100 epochs): on the other digits and the noise "
        "images the CNN's effect has not faded at this length, F = 0.36-0.51 (other digits) and 0.54-0.67 (noise), "
        "shown above 0.25 at base seeds 1, 3 and 4 (NOT REPRODUCED) and undecided at 0 and 2; on the test digits "
        "F = 0.11-0.31. At the paper's 1,000 epochs (long tier) it fades on the test and other digits")),
    ("C7", "fast"): Expected(frozenset({U, R}), _NOT_DECIDABLE + (
        "under revision 3 over base seeds 0-4 the L2 CNN's final effect is above the unregularised CNN's by "
        "0.013-0.018 (test) and 0.007-0.013 (other digits), shown on both at four base seeds, but on the noise images "
        "by 0.005-0.008, shown at base seed 4 only: REPRODUCED at base seed 4, UNDECIDED at 0-3")),
    ("C8", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4: the dropout CNN's effect only halves in 100 epochs, F = 0.57-0.68, "
        "shown above 0.25 at every base seed")),
    ("C9", "fast"): Expected(frozenset({U, R}), _NOT_DECIDABLE + (
        "BN versus no-BN needs about 200 seeds at fast scale (CLAIMS.md); over base seeds 0-4 BN - no-BN E_final "
        "ranges from -0.003 to 0.006 (REPRODUCED at base seed 2 only), and the no-BN ResNet fades (F = 0.05-0.17)")),
    ("C10", "fast"): Expected(frozenset({U, R, I}), _NOT_DECIDABLE + (
        "under revision 3 over base seeds 0-4 sub-sampling shifts the share to the majority class on the test "
        "digits at every base seed (slope -0.013 to -0.027) and on the other digits and the noise at some (slopes "
        "-0.04 to -0.18), but 'IW removes less than half' is shown on no set at any base seed but the other digits "
        "at base seed 3 (slope(IW) - 0.5 slope(no IW) between -0.029 and 0.040): UNDECIDED at base seeds 1 and 4, "
        "INCONCLUSIVE at 0, 2 and 3 (no shift shown on some set for IW to remove)")),
    ("C11", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4: on the other digits differently weighted models agree less than equally "
        "weighted ones of two seeds by 0.09-0.17, shown beyond the allowed 0.02 at every base seed. The fast "
        "tier's 5 ratios span 2^-8..2^8, so most pairs involve an extreme weight")),
    ("C12", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4: with 5% flipped labels F = 0.56-0.67, shown above 0.25 at every base seed")),
    ("C13", "fast"): Expected(frozenset({N, U}), (
        "revision 3 decides on every set the claim names: over base seeds 0-4 the test digits 7 vs 1 fade or are "
        "undecided (F = 0.07-0.16), but the other digits (F = 0.49-0.57) and the noise images (F = 0.48-0.55) are "
        "shown not to have faded within 100 epochs at base seeds 0-3 (NOT REPRODUCED) and are undecided at 4 "
        "(revision 2, deciding on the test digits alone, said REPRODUCED at base seeds 0-4)")),
    ("C14", "fast"): Expected(frozenset({U, N}), (
        "measured over base seeds 0-4: the Adam CNN's effect does not fade within 100 epochs at this scale; "
        "F = 0.34-0.47, shown above 0.25 at base seeds 1, 3 and 4, undecided at 0 and 2")),
    ("C16", "fast"): Expected(frozenset({N, U}), (
        "measured over base seeds 0-4: the fast text model learns its task (unweighted test accuracy about 0.9) "
        "but its effect only halves in 30 epochs, F = 0.44-0.50, shown above 0.25 at every base seed")),
    ("C17", "fast"): Expected(frozenset({U}), (
        "revision 3 trains the poly loss at lr x log(1+e^-1) (its gradient equals cross-entropy's at margins <= 1); "
        "UNDECIDED at every base seed 0-4. At base seed 0 the 2D MLP's and logistic regression's effects persist above cross-entropy's on the test "
        "points and the grid (t = 12-26), but the digits CNN's final effect with the poly loss is not shown above "
        "cross-entropy's in 100 epochs: -0.009 [-0.023, 0.005] (test), -0.003 [-0.019, 0.012] (other digits), "
        "+0.008 [-0.010, 0.026] (noise); about 276 seeds would decide at this spread. Revision 2, at the paper's "
        "lr 0.1, was INCONCLUSIVE at every base seed (1-2 of 5 poly CNNs at chance)")),
    ("C20", "fast"): Expected(frozenset({U, R}), _NOT_DECIDABLE + (
        "with revision 3's poly lr (x 0.313) over base seeds 0-4 poly + IW (w^1.5) beats CE + IW on balanced "
        "accuracy by 0.020-0.058 (digits 8 vs 3, positive class sub-sampled 10:1, 5 seeds): REPRODUCED at base seeds "
        "0-3, UNDECIDED at 4 (+0.058 [-0.001, 0.116])")),
})

# The long tier (CLAIMS.md revision 3: the fast tier's data and models at the paper's training length, 10 seeds,
# 1,000 noise images), measured at base seed 0 on 2026-12-06 (base seed 1 not yet run). On the test images and
# the other digits every image claim comes out as the paper says; the noise images' share is the noisiest
# statistic and decides nothing at 10 seeds.
_NOISE = "the noise images do not decide at 10 seeds: "
EXPECTED.update({
    ("C6", "long"): Expected(frozenset({U}), _NOISE + (
        "the CNN faded on the test digits (F = 0.017 [0.011, 0.022], G's t = -93) and the other digits (F = 0.14 "
        "[0.09, 0.19], t = -5.3), but on the noise F = 0.33 [0.14, 0.52] (t = 0.9); about 197 seeds would decide")),
    ("C7", "long"): Expected(frozenset({U}), _NOISE + (
        "with L2 the effect persists above the unregularised CNN on the test digits (+0.0074 [0.0059, 0.0089]) and "
        "the other digits (+0.015 [0.012, 0.019]); on the noise +0.009 [-0.001, 0.020] (t = 2.0); about 36 seeds "
        "would decide")),
    ("C8", "long"): Expected(frozenset({U}), _NOISE + (
        "the dropout CNN faded on the test digits (F = 0.013, t = -75) and the other digits (F = 0.15, t = -3.5); "
        "on the noise F = 0.30 [0.17, 0.43] (t = 0.85); about 227 seeds would decide")),
    ("C9", "long"): Expected(frozenset({U}), _NOISE + (
        "with BN the ResNet's effect persists above the no-BN ResNet's on the test digits (+0.0014 [0.0002, 0.0026], "
        "t = 2.6) and the other digits (+0.012, t = 4.5), and the no-BN ResNet faded there (F = 0.013 and 0.11); on "
        "the noise BN - no-BN = +0.004 [-0.010, 0.018] and the no-BN F = 0.32 [0.16, 0.49]; about 268 seeds would "
        "decide")),
    ("C10", "long"): Expected(frozenset({I, U}), (
        "sub-sampling shifts the share to the majority class on the test digits (-0.018 [-0.023, -0.013]) and the "
        "other digits (-0.049 [-0.070, -0.027]) but not shown on the noise at 10 seeds (-0.024 [-0.069, 0.020]), so "
        "IW has no shift to remove there (INCONCLUSIVE); where the shift is shown, 'IW removes less than half' is "
        "undecided (slope(IW) - 0.5 slope(no IW) = -0.006 [-0.012, 0.001] and -0.015 [-0.040, 0.011])")),
    ("C11", "long"): Expected(frozenset({U}), (
        "on the test digits differently weighted models agree as well as differently seeded ones (weight - seed "
        "agreement -0.001 [-0.003, 0.001], t = 24.6 against the allowed -0.02); on the other digits -0.015 "
        "[-0.033, 0.004] (t = 0.66): about 301 seeds would decide")),
    ("C12", "long"): Expected(frozenset({U}), _NOISE + (
        "with 5% flipped labels the CNN faded on the test digits (F = 0.046, t = -24) and the other digits "
        "(F = 0.15, t = -4.6); on the noise F = 0.35 [0.14, 0.55] (t = 1.1); about 149 seeds would decide")),
    ("C13", "long"): Expected(frozenset({U}), (
        "7 vs 1 faded on the test digits (F = 0.002, t = -225) and the noise images (F = 0.14 [0.04, 0.24], "
        "t = -2.6), but on the other digits F = 0.23 [0.18, 0.29] sits at the boundary 0.25 (G's t = -0.65): about "
        "307 seeds would decide")),
    ("C14", "long"): Expected(frozenset({U}), _NOISE + (
        "with Adam the CNN faded on the test digits (F = 0.010, t = -80) and the other digits (F = 0.056, t = -14); "
        "on the noise F = 0.20 [0.02, 0.38] (t = -0.67); about 294 seeds would decide")),
    ("C4", "long"): Expected(frozenset({N, U}), (
        "the full tier's sweep (the long tier's 2D claims are the full tier's): the smallest final cosine over ratios "
        "0.988 [0.979, 0.997] (needs >= 0.99), its rise from the first checkpoint -0.006 [-0.012, -0.001] (t = -2.6: "
        "below 0 at alpha alone, not at alpha/2); " + _C4_REASON)),
    ("C17", "long"): Expected(frozenset({U}), (
        "with the poly loss at lr x 0.313 the effect persists above cross-entropy's for the 2D logistic regression "
        "(test and grid, t = 66-77), the digits CNN (test +0.007 [0.002, 0.012], other digits +0.017, noise +0.021) "
        "and the 2D MLP's grid (+0.0054, t = 24); the 2D MLP's test points differ by +0.00005 [-0.00004, 0.00014] "
        "after 10,000 epochs (both near 0): about 68 seeds would decide")),
})
