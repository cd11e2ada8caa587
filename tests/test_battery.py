"""The claim battery's plumbing: claims as data, the outcome of a verdict, which evaluation sets decide, and
which claims a user's subject gets."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from iwcore.battery import Subject
from iwcore.battery.claim import Context, VerdictMismatch, conclude, evaluation_sets
from iwcore.battery.findings import EXPECTED, Expected
from iwcore.battery.paper import CLAIMS, FOR_ANY_SUBJECT
from iwcore.battery.testing import cases, claims_for
from iwcore.results import SweepResult
from iwcore.verdicts import Decision, Verdict

USER = Subject.create("user-mlp", model="mlp", task="separable_2d", lr=0.1, batch_size=8,
                      tiers={"fast": dict(weight_ratios=(0.25, 1.0, 4.0), seeds=tuple(range(5)), epochs=10)})


def test_every_claim_of_the_catalogue_is_a_spec_once():
    assert sorted(CLAIMS, key=lambda c: int(c[1:])) == [f"C{i}" for i in range(1, 21)]
    assert all(claim.id == key and claim.sentence and claim.criterion and claim.paper for key, claim in CLAIMS.items())


def test_criteria_name_no_threshold_that_is_not_a_constant():
    """Criterion texts are built from iwcore.verdicts' constants; a literal like '0.25' typed into a spec would
    drift from the rule. Every number in a criterion must be one of the constants' values."""
    from iwcore import stats, verdicts

    allowed = {str(v) for module in (stats, verdicts) for k, v in vars(module).items()
               if k.isupper() and isinstance(v, (int, float))}
    for claim in CLAIMS.values():
        numbers = set(re.findall(r"(?<![\w^.-])\d+\.\d+(?![\w.])", claim.criterion))
        assert numbers <= allowed, (claim.id, numbers - allowed)


def test_declared_findings_become_strict_xfails_for_exactly_their_verdicts():
    (claim_id, tier), expected = next(iter(EXPECTED.items()))
    case = next(p for p in cases([CLAIMS[claim_id]]) if p.values[0].tier == tier)
    xfail = next(m for m in case.marks if m.name == "xfail")
    assert xfail.kwargs == {"strict": True, "raises": AssertionError, "reason": expected.reason}
    assert CLAIMS[claim_id].expected(tier) == expected  # the paper's subjects declare the paper's findings
    declared = next(iter(expected.verdicts))
    with pytest.raises(AssertionError, match="expected finding"):
        conclude(CLAIMS[claim_id], tier, Decision(declared, "measured"))
    for other in (v for v in Verdict if v not in expected.verdicts and v != Verdict.REPRODUCED):
        with pytest.raises(VerdictMismatch):
            conclude(CLAIMS[claim_id], tier, Decision(other, "measured"))
    conclude(CLAIMS[claim_id], tier, Decision(Verdict.REPRODUCED, "faded"))  # passes: the strict xfail fails it
    undecidable = next(c for (c, t), e in EXPECTED.items() if t == tier and Verdict.REPRODUCED in e.verdicts)
    with pytest.raises(AssertionError, match="expected finding"):  # declared as not decidable at this scale
        conclude(CLAIMS[undecidable], tier, Decision(Verdict.REPRODUCED, "faded"))


def test_a_subject_declares_its_own_expected_verdicts():
    subject = USER.declaring({"C14": "INCONCLUSIVE", ("C17", "fast"): {"UNDECIDED", "NOT REPRODUCED"}})
    claims = {c.id: c for c in claims_for(subject)}
    assert claims["C14"].expected("fast") == Expected(frozenset({Verdict.INCONCLUSIVE}),
                                                      "declared by the subject user-mlp")
    assert claims["C17"].expected("fast").verdicts == {Verdict.UNDECIDED, Verdict.NOT_REPRODUCED}
    assert claims["C6"].expected("fast") is None
    by_case = {p.id: p for p in cases(USER, ["fast"], expected={"C14": "INCONCLUSIVE"})}  # parametrize's argument
    assert [m.kwargs for m in by_case["C14@user-mlp-fast"].marks if m.name == "xfail"] == [
        {"strict": True, "raises": AssertionError, "reason": "declared by the subject user-mlp"}]
    assert not [m for m in by_case["C6@user-mlp-fast"].marks if m.name == "xfail"]
    with pytest.raises(AssertionError, match="expected finding"):
        conclude(claims["C14"], "fast", Decision(Verdict.INCONCLUSIVE, "no effect"))
    with pytest.raises(VerdictMismatch, match="INCONCLUSIVE.*declared by the subject user-mlp"):
        conclude(claims["C14"], "fast", Decision(Verdict.UNDECIDED, "measured"))
    reasoned = USER.declaring({"C14": Expected(frozenset({"UNDECIDED"}), "Adam is slow here")}).expected
    assert reasoned[("C14", "fast")] == Expected(frozenset({Verdict.UNDECIDED}), "Adam is slow here")


@pytest.mark.parametrize("expected, message", [
    ({"C99": "UNDECIDED"}, "names claim 'C99'; the battery has C1, C2"),
    ({("C14", "full"): "UNDECIDED"}, "names tier 'full' of C14; subject 'user-mlp' defines \\['fast'\\]"),
    ({"C14": "FAILED"}, "for C14 \\(fast\\): 'FAILED'; give one or more of"),
    ({"C14": set()}, "give one or more of"),
    ({"C14": {"fast": "UNDECIDED"}}, "give one or more of"),
    ({14: "UNDECIDED"}, "a claim id \\('C14'\\) or a \\(claim id, tier\\) pair"),
])
def test_a_bad_declaration_is_a_clear_error(expected, message):
    with pytest.raises(ValueError, match=message):
        USER.declaring(expected)


def test_declarations_belong_to_a_subject_and_its_subjects_must_agree():
    with pytest.raises(ValueError, match="declares the verdicts of a subject"):
        claims_for([CLAIMS["C3"]], expected={"C3": "UNDECIDED"})
    other = replace(USER, name="other")
    claim = replace(CLAIMS["C17"], subjects=(USER.declaring({"C17": "UNDECIDED"}), other))
    with pytest.raises(ValueError, match="the subjects of C17@user-mlp\\+other declare different verdicts"):
        claim.expected("fast")


def test_an_undeclared_claim_passes_on_reproduced_only():
    claim = CLAIMS["C3"]
    conclude(claim, "fast", Decision(Verdict.REPRODUCED, "faded"))
    for verdict in (Verdict.NOT_REPRODUCED, Verdict.UNDECIDED, Verdict.INCONCLUSIVE):
        with pytest.raises(AssertionError):
            conclude(claim, "fast", Decision(verdict, "measured"))


def test_a_users_subject_gets_the_claims_that_apply_and_no_declared_findings():
    claims = claims_for(USER)
    assert [c.id for c in claims] == [c for c in FOR_ANY_SUBJECT if CLAIMS[c].applies_to(USER)]
    assert all(c.subjects == (USER,) and c.record_id == f"{c.id}@user-mlp" and c.expected("fast") is None
               for c in claims)
    with pytest.raises(ValueError, match="does not apply"):
        CLAIMS["C5"].with_subjects(USER)  # C5 needs data the subject cannot separate
    with pytest.raises(ValueError, match="does not apply"):
        CLAIMS["C10"].with_subjects(USER)  # sub-sampling is the paper's image design
    with pytest.raises(ValueError, match="unknown claims"):
        claims_for(USER, ["C42"])


def test_evaluation_sets_decide_by_role():
    result = SweepResult(config={"name": "probe"}, key="k", epochs=None, shares={}, recall={}, class_loss={},
                         train_loss=None, snapshot_epochs=None, predictions={}, diverged_epoch=None,
                         meta={"eval_roles": {"test": "in_domain", "val": "validation", "grid": "grid",
                                              "off_manifold": "out_of_domain"}})
    assert evaluation_sets(result, ("in_domain", "grid")) == (("test", "grid"), ("val", "off_manifold"))
    assert evaluation_sets(result, ("in_domain",)) == (("test",), ("val", "grid", "off_manifold"))
    with pytest.raises(ValueError, match="no evaluation set"):
        evaluation_sets(result, ("noise",))


def test_a_subject_sweep_merges_options_and_names_its_variant():
    sweep = USER.sweep("fast", {}, "dropout", model_options={"dropout": 0.5}, l2=0.01)
    assert sweep.name == "fast-user-mlp-dropout" and sweep.model_options == {"dropout": 0.5} and sweep.l2 == 0.01
    ctx = Context(CLAIMS["C1"].with_subjects(USER), "fast", run_sweep=None, report_dir=".")
    assert ctx.sweep(USER) == USER.sweep("fast")
