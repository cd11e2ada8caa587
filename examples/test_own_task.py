"""Point the claim battery at a task of your own (README, "Test your own model"): a factory returning an
``iwcore.data.Task``, here two concentric rings in the plane, with one of the paper's models (its MLP).

    pytest examples/test_own_task.py -m fast

A task factory takes its options and a ``seed`` (the task seed: it fixes the evaluation sets, and the run's
``--base-seed`` shifts it) and returns the training sample of that seed, a ``sampler`` that draws each
replicate's own sample, and named evaluation sets with roles (``"test"`` is ``in_domain`` and decides).
"""

import math

import torch

from iwcore import Subject, parametrize_with_claims
from iwcore.data.task import EvalSet, Task, TrainingSample


def rings(n_per_class: int = 64, n_test_per_class: int = 128, seed: int = 0) -> Task:
    """Two concentric rings: radius 0-1 positive, 1.5-2.5 negative. Separable, but not by a line."""
    def points(g: torch.Generator, low: float, high: float, n: int) -> torch.Tensor:
        radius, angle = low + (high - low) * torch.rand(n, generator=g), 2 * math.pi * torch.rand(n, generator=g)
        return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)

    def draw(generator_seed: int, n: int) -> TrainingSample:
        g = torch.Generator().manual_seed(generator_seed)
        x = torch.cat([points(g, 0.0, 1.0, n), points(g, 1.5, 2.5, n)])
        return TrainingSample(x, torch.cat([torch.ones(n), torch.zeros(n)]).long())

    own, test = draw(2 * seed, n_per_class), draw(2 * seed + 1, n_test_per_class)
    gap = points(torch.Generator().manual_seed(2 * seed + 1), 1.0, 1.5, n_test_per_class)  # never in training
    return Task("rings", own.x, own.y, {"test": EvalSet(test.x, test.y), "gap": EvalSet(gap, role="out_of_domain")},
                sampler=lambda sample_seed: draw(sample_seed, n_per_class))


SUBJECT = Subject.create(
    "mlp-rings", label="MLP, concentric rings", model="mlp", task=rings, lr=0.05, batch_size=8,
    tiers={"fast": dict(weight_ratios=(1 / 16, 1 / 4, 1.0, 4.0, 16.0), seeds=tuple(range(5)), epochs=300)},
    # Measured at base seed 0: with Adam at the paper's lr 1e-4 the effect has not faded after 300 epochs (C14), and
    # 5 seeds do not decide whether the poly loss keeps more effect than cross-entropy (C17).
    expected={"C14": {"NOT REPRODUCED"}})


@parametrize_with_claims(SUBJECT, tiers=["fast"])
def test_mlp_on_rings(claim_case, check_claim):
    check_claim(claim_case)
