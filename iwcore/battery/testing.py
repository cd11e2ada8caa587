"""The battery in pytest: ``@parametrize_with_claims`` (like scikit-learn's ``parametrize_with_checks``) turns
claims into test cases, one per (claim, tier), and the plugin's ``check_claim`` fixture runs one.

    from iwcore.battery import Subject, parametrize_with_claims

    MY_SUBJECT = Subject.create("my-mlp", model=my_factory, task="separable_2d", tiers={...})

    @parametrize_with_claims(MY_SUBJECT)
    def test_my_model(claim_case, check_claim):
        check_claim(claim_case)

Each case carries the marks of its tier (``fast``/``full``), ``claim(<record id>)`` and, where its subjects
declare a finding for it (``expected=``, or the paper's ``iwcore.battery.findings``), a strict expected
failure for exactly that finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from iwcore.battery.claim import TIERS, Claim
from iwcore.battery.subject import Subject


@dataclass(frozen=True)
class ClaimCase:
    claim: Claim
    tier: str

    def __str__(self) -> str:
        return f"{self.claim.record_id}-{self.tier}"


def claims_for(target: Subject | Iterable[Claim], claims: Iterable[str] | None = None,
               expected: dict | None = None) -> list[Claim]:
    """The claims of ``target``: the given claims, or for a subject the paper's claims that apply to it (those
    named in ``claims``, by default ``iwcore.battery.paper.FOR_ANY_SUBJECT``), each about that subject with
    ``expected`` declared (``Subject.create``'s argument)."""
    from iwcore.battery.paper import CLAIMS, FOR_ANY_SUBJECT

    if not isinstance(target, Subject):
        if expected:
            raise ValueError("expected= declares the verdicts of a subject: pass the Subject (or declare them in "
                             "Subject.create)")
        return list(target)
    target = target.declaring(expected)
    wanted = tuple(claims) if claims is not None else FOR_ANY_SUBJECT
    unknown = [c for c in wanted if c not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; the battery has {sorted(CLAIMS, key=lambda c: int(c[1:]))}")
    return [CLAIMS[c].with_subjects(target) for c in wanted if CLAIMS[c].applies_to(target)]


def cases(target: Subject | Iterable[Claim], tiers: Iterable[str] = TIERS, claims: Iterable[str] | None = None,
          expected: dict | None = None):
    """One ``pytest.param`` per (claim, tier), with its marks."""
    params = []
    for claim in claims_for(target, claims, expected):
        for tier in tiers:
            if tier not in TIERS:
                raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
            marks = [getattr(pytest.mark, tier), pytest.mark.claim(claim.record_id),
                     *(getattr(pytest.mark, m) for m in claim.marks)]
            if (expected := claim.expected(tier)) is not None:
                marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=expected.reason))
            case = ClaimCase(claim, tier)
            params.append(pytest.param(case, marks=marks, id=str(case)))
    return params


def parametrize_with_claims(target: Subject | Iterable[Claim], tiers: Iterable[str] = TIERS,
                            claims: Iterable[str] | None = None, expected: dict | None = None):
    """Parametrize a test over ``claim_case``: every (claim, tier) of ``target`` (a subject, or claims);
    ``expected`` declares a subject's known verdicts (as ``Subject.create``'s argument)."""
    return pytest.mark.parametrize("claim_case", cases(target, tiers, claims, expected))
