"""The suite's remedies claims C17 and C20 (specs in ``iwcore.battery.paper.remedies``)."""

from iwcore.battery import parametrize_with_claims
from iwcore.battery.paper import remedies


@parametrize_with_claims(remedies.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
