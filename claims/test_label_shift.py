"""The paper's label-shift claim C15 (spec in ``iwcore.battery.paper.label_shift``)."""

from iwcore.battery import parametrize_with_claims
from iwcore.battery.paper import label_shift


@parametrize_with_claims(label_shift.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
