"""Security verdicts as a receiving provider reports them, and the inbox/spam decision."""

from __future__ import annotations

import attrs

FAIL = "FAIL"


@attrs.frozen
class Verdicts:
    """Verdicts as a receiving provider reports them (SES: PASS, FAIL, GRAY, PROCESSING_FAILED)."""

    spam: str | None = None
    virus: str | None = None
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None


def classify_folder(verdicts: Verdicts, *, spam_flagged: bool) -> str:
    if spam_flagged or verdicts.spam == FAIL or verdicts.virus == FAIL:
        return "spam"
    return "inbox"
