"""The folder rules, and SES's verdicts read from a receipt notification and the X-SES headers."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from dispatch_server.mail.verdicts import (
    Check,
    Decision,
    Verdicts,
    classify,
    columns,
    details,
    from_ses,
    read_back,
)

# The "Received" notification of an SNS action, as the SES developer guide shows it
# ("Examples of notifications for Amazon SES email receiving"), its content shortened; with
# the dmarcVerdict and dmarcPolicy fields the guide's field reference describes.
SES_NOTIFICATION = json.loads(
    """
{
  "notificationType": "Received",
  "receipt": {
    "timestamp": "2015-09-11T20:32:33.936Z",
    "processingTimeMillis": 222,
    "recipients": ["recipient@example.com"],
    "spamVerdict": {"status": "PASS"},
    "virusVerdict": {"status": "PASS"},
    "spfVerdict": {"status": "PASS"},
    "dkimVerdict": {"status": "PASS"},
    "dmarcVerdict": {"status": "PASS"},
    "action": {
      "type": "SNS",
      "topicArn": "arn:aws:sns:us-east-1:012345678912:example-topic"
    }
  },
  "mail": {
    "timestamp": "2015-09-11T20:32:33.936Z",
    "source": "61967230-7A45-4A9D-BEC9-87CBCF2211C9@example.com",
    "messageId": "d6iitobk75ur44p8kdnnp7g2n800",
    "destination": ["recipient@example.com"],
    "headersTruncated": false,
    "headers": [
      {
        "name": "Return-Path",
        "value": "<0000014fbe1c09cf-7cb9f704-7531-4e53-89a1-5fa9744f5eb6-000000@amazonses.com>"
      },
      {"name": "From", "value": "sender@example.com"},
      {"name": "To", "value": "recipient@example.com"},
      {"name": "Subject", "value": "Example subject"}
    ],
    "commonHeaders": {
      "returnPath": "0000014fbe1c09cf-7cb9f704-7531-4e53-89a1-5fa9744f5eb6-000000@amazonses.com",
      "from": ["sender@example.com"],
      "date": "Fri, 11 Sep 2015 20:32:32 +0000",
      "to": ["recipient@example.com"],
      "messageId": "<61967230-7A45-4A9D-BEC9-87CBCF2211C9@example.com>",
      "subject": "Example subject"
    }
  }
}
"""
)
SES_NOTIFICATION["content"] = (
    "Return-Path: <sender@example.com>\r\nX-SES-Spam-Verdict: PASS\r\n"
    "X-SES-Virus-Verdict: PASS\r\nFrom: sender@example.com\r\nTo: recipient@example.com\r\n"
    "Subject: Example subject\r\n\r\nExample content\r\n"
)


def receipt(**statuses: str) -> dict[str, Any]:
    found: dict[str, Any] = dict(SES_NOTIFICATION["receipt"])
    for name, status in statuses.items():
        if name == "dmarcPolicy":
            found[name] = status
        else:
            found[name] = {"status": status}
    return found


def test_the_documented_notification_passes_everything() -> None:
    verdicts = from_ses(SES_NOTIFICATION["receipt"], SES_NOTIFICATION["content"].encode())
    assert (verdicts.spam, verdicts.virus, verdicts.source) == ("pass", "pass", "ses")
    assert [c.result for c in (verdicts.spf, verdicts.dkim, verdicts.dmarc) if c] == ["pass"] * 3
    assert (
        verdicts.dkim is not None and verdicts.dkim.why == "Amazon SES: a DKIM signature verified"
    )
    assert classify(verdicts, spam_flagged=False) == Decision("inbox", None)


def test_ses_statuses_become_rfc_8601_words() -> None:
    verdicts = from_ses(
        receipt(spfVerdict="GRAY", dkimVerdict="PROCESSING_FAILED", dmarcVerdict="FAIL")
    )
    assert verdicts.spf is not None and verdicts.spf.result == "none"
    assert verdicts.dkim is not None and verdicts.dkim.result == "temperror"
    assert verdicts.dmarc is not None and verdicts.dmarc.result == "fail"
    assert verdicts.dmarc.policy is None  # SES names one only when DMARC fails with a policy


@pytest.mark.parametrize(
    ("statuses", "folder"),
    [
        ({"virusVerdict": "FAIL"}, "quarantine"),
        ({"virusVerdict": "FAIL", "spamVerdict": "FAIL"}, "quarantine"),
        ({"spamVerdict": "FAIL"}, "spam"),
        ({"spamVerdict": "GRAY"}, "inbox"),
        ({"dmarcVerdict": "FAIL", "dmarcPolicy": "reject"}, "spam"),
        ({"dmarcVerdict": "FAIL", "dmarcPolicy": "QUARANTINE"}, "spam"),
        ({"dmarcVerdict": "FAIL", "dmarcPolicy": "none"}, "inbox"),
        ({"dmarcVerdict": "PROCESSING_FAILED", "dmarcPolicy": "reject"}, "inbox"),
        ({"spfVerdict": "FAIL", "dkimVerdict": "FAIL"}, "inbox"),  # DMARC decides, not these
    ],
)
def test_the_folder_of_ses_mail(statuses: dict[str, str], folder: str) -> None:
    assert classify(from_ses(receipt(**statuses)), spam_flagged=False).folder == folder


def test_the_x_ses_headers_when_there_is_no_receipt() -> None:
    """Mail the S3 action stored comes with no notification: SES's headers say it."""
    raw = b"X-SES-Spam-Verdict: FAIL\r\nX-SES-Virus-Verdict: PASS\r\nFrom: a@b.test\r\n\r\nhi\r\n"
    verdicts = from_ses(None, raw)
    assert (verdicts.spam, verdicts.virus, verdicts.spf) == ("fail", "pass", None)
    assert classify(verdicts, spam_flagged=False).folder == "spam"


def test_the_topmost_x_ses_header_is_sess_own() -> None:
    """SES adds its headers on top: a sender's own X-SES-Virus-Verdict further down (or a
    receipt that says otherwise) does not count."""
    raw = b"X-SES-Virus-Verdict: FAIL\r\nFrom: a@b.test\r\nX-SES-Virus-Verdict: PASS\r\n\r\nhi\r\n"
    assert from_ses(None, raw).virus == "fail"
    assert from_ses(receipt(virusVerdict="PASS"), raw).virus == "pass"  # the receipt first


@pytest.mark.parametrize(
    "bad",
    [{"status": "MAYBE"}, {"status": 3}, "PASS", None, {"nostatus": "PASS"}, ["PASS"]],
)
def test_unknown_ses_values_are_left_unset(bad: object) -> None:
    found = dict(SES_NOTIFICATION["receipt"], spamVerdict=bad, dkimVerdict=bad)
    verdicts = from_ses(found, b"X-SES-Spam-Verdict: sure\r\n\r\n")
    assert verdicts.spam is None and verdicts.dkim is None
    assert from_ses({"dmarcPolicy": "everything", "dmarcVerdict": {"status": "FAIL"}}).dmarc == (
        Check("fail", "Amazon SES: the DMARC check failed", None, None)
    )


def test_our_own_dmarc_failure_follows_the_policy() -> None:
    def with_dmarc(result: str, policy: str | None) -> str:
        return classify(
            Verdicts(dmarc=Check(result, "why", "bank.test", policy)), spam_flagged=False
        ).folder

    assert with_dmarc("fail", "reject") == "spam"
    assert with_dmarc("fail", "quarantine") == "spam"
    assert with_dmarc("fail", "none") == "inbox"
    assert with_dmarc("fail", None) == "inbox"
    assert with_dmarc("temperror", "reject") == "inbox"
    assert with_dmarc("pass", "reject") == "inbox"
    reason = classify(Verdicts(dmarc=Check("fail", "x", "bank.test", "reject")), spam_flagged=False)
    assert reason.reason == "DMARC failed and bank.test asks to reject it"


def test_a_spam_flag_header_still_means_spam() -> None:
    assert classify(Verdicts(), spam_flagged=True).folder == "spam"
    assert classify(Verdicts(virus="fail"), spam_flagged=True).folder == "quarantine"


def test_what_is_stored_reads_back() -> None:
    verdicts = Verdicts(
        spam="pass",
        virus=None,
        spf=Check("softfail", "discouraged", "b.test", extra={"scope": "mailfrom"}),
        dkim=Check("pass", "signed", "b.test", extra={"signatures": []}),
        dmarc=Check("fail", "unaligned", "bank.test", "reject", extra={"pct": 100}),
        source="dispatch",
    )
    decision = classify(verdicts, spam_flagged=False)
    row = SimpleNamespace(
        **columns(verdicts), details=details(verdicts, decision, spam_flagged=False)
    )
    assert row.details["spf"]["scope"] == "mailfrom"
    back, reason = read_back(row)
    assert back == verdicts  # `extra` is not compared: it stays in the details
    assert reason == decision.reason


def test_verdicts_stored_before_these_checks_read_back() -> None:
    row = SimpleNamespace(
        spam_verdict="FAIL",
        virus_verdict=None,
        spf_verdict="GRAY",
        dkim_verdict="PASS",
        dmarc_verdict=None,
        details={"spam_flag_header": False},
    )
    back, reason = read_back(row)
    assert back.spam == "fail"
    assert back.spf == Check("none")
    assert back.dkim == Check("pass")
    assert (back.source, reason) == (None, None)


def test_a_long_why_is_cut_when_stored() -> None:
    verdicts = Verdicts(spf=Check("permerror", "x" * 1000))
    stored = details(verdicts, Decision("inbox", None), spam_flagged=False)
    assert len(stored["spf"]["why"]) == 300
