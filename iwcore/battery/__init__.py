"""The claim battery: claims as data (``Claim``), the subjects they are about (``Subject``), one runner, and
the ways in — ``check`` from Python, ``parametrize_with_claims`` in a pytest file."""

from iwcore.battery.check import check
from iwcore.battery.claim import Claim, Context, Unavailable, VerdictMismatch
from iwcore.battery.findings import Expected
from iwcore.battery.subject import Subject
from iwcore.battery.testing import ClaimCase, parametrize_with_claims

__all__ = ["Claim", "ClaimCase", "Context", "Expected", "Subject", "Unavailable", "VerdictMismatch", "check",
           "parametrize_with_claims"]
