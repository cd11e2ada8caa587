"""The paper's image claims C6-C14 and C18 (specs in ``iwcore.battery.paper.images``)."""

from iwcore.battery import parametrize_with_claims
from iwcore.battery.paper import images


@parametrize_with_claims(images.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
