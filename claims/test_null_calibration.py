"""The suite's null calibration C19 (spec in ``iwcore.battery.paper.null``)."""

from iwcore.battery import parametrize_with_claims
from iwcore.battery.paper import null


@parametrize_with_claims(null.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
