"""``--claim`` selectors: which claim tests a selector names, by the record id of their ``claim(id)`` marker.

A record id is ``C6`` (a claim about the paper's subjects) or ``C6@my-mlp`` (about a subject of one's own;
``C6@a+b`` about two). A selector names a claim, a subject or both: ``C6`` (claim C6, about any subject),
``C6@my-mlp`` (that claim about that subject), ``@my-mlp`` (every claim about the subject); the subject may
carry a tier, as in the test ids ``parametrize_with_claims`` gives (``C6@my-mlp-fast``: exactly that case).
Standard library only: the plugin's controller imports it.
"""

from __future__ import annotations

import re

SELECTOR = re.compile(r"^(C\d+)?(?:@([^@,\s]+))?$")
FORMS = "C6, C6@subject or @subject"


def parse(values) -> list[str]:
    """The selectors in ``values`` (each comma-separated), in claim order; ValueError for a malformed one."""
    selectors = {part.strip() for value in values for part in str(value).split(",") if part.strip()}
    bad = sorted(s for s in selectors if not SELECTOR.match(s))
    if bad:
        raise ValueError(f"--claim {','.join(bad)}: claim ids look like {FORMS} (comma-separated)")
    return sorted(selectors, key=_order)


def _order(selector: str) -> tuple:
    claim = SELECTOR.match(selector).group(1)
    return (int(claim[1:]) if claim else 0, selector)


def subjects_of(record_id: str) -> str:
    """The subjects part of a record id ("" for the paper's)."""
    return record_id.partition("@")[2]


def matches(selector: str, record_id: str, tier: str | None) -> bool:
    """Whether ``selector`` names the test of ``record_id`` at ``tier``."""
    claim, subject = SELECTOR.match(selector).groups()
    if claim is not None and claim != record_id.partition("@")[0]:
        return False
    subjects = subjects_of(record_id)
    return subject is None or bool(subjects) and subject in (subjects, f"{subjects}-{tier}")


def unmatched_message(selectors: list[str], collected: list[tuple[str, str | None]]) -> str:
    """The usage error for ``selectors`` that name no collected (record id, tier): what was collected."""
    ids = sorted({record_id for record_id, _ in collected}, key=lambda c: (len(c.partition("@")[0]), c))
    subjects = sorted({subjects_of(record_id) for record_id in ids} - {""})
    known = ", ".join(ids) or "none"
    if subjects:
        known += f"; subjects: {', '.join(subjects)}"
    return f"--claim {','.join(selectors)}: no collected test has that claim(id) marker (collected claims: {known})"
