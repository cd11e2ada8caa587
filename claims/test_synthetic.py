"""The paper's 2D claims C1-C5 (specs in ``iwcore.battery.paper.synthetic``)."""

from iwcore.battery import parametrize_with_claims
from iwcore.battery.paper import synthetic


@parametrize_with_claims(synthetic.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
