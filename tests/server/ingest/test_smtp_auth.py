"""SPF, DKIM and DMARC end to end: mail through the SMTP door of a running server (on SQLite
and PostgreSQL) whose checks ask the tests' DNS server, read back through the API."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import messages
from dispatch_server.events.hub import Hub
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.mail.verdicts import Check, Verdicts
from dispatch_server.services import Services
from tests.auth_kit import fresh_domain, mail_from, publish_key, sign
from tests.conftest import LiveServer, make_settings
from tests.dns_server import shared_dns
from tests.helpers import InboxClient, smtp_send
from tests.server.ingest.test_pipeline import new_inbox

LOOPBACK = "127.0.0.1"  # where the tests' SMTP clients connect from


def bank_domain(*, dmarc: str = "v=DMARC1; p=reject") -> str:
    """A sending domain with a DKIM key, an SPF record allowing the tests' client and a
    DMARC policy."""
    domain = fresh_domain("bank")
    publish_key(domain)
    shared_dns().add_txt(domain, f"v=spf1 ip4:{LOOPBACK} -all")
    shared_dns().add_txt(f"_dmarc.{domain}", dmarc)
    return domain


def deliver(server: LiveServer, inbox: InboxClient, raw: bytes, sender: str) -> dict[str, Any]:
    """Send `raw` through the SMTP door and get the stored message back, whole."""
    assert smtp_send(server.smtp_host, server.smtp_port, inbox.address, raw, sender) == {}
    [summary] = inbox.get("/messages", folder="all").json()["data"]
    message: dict[str, Any] = inbox.get(f"/messages/{summary['id']}").json()
    assert message["folder"] == summary["folder"]
    assert "authentication" not in summary  # the listing stays lean
    return message


def test_signed_mail_from_its_domain_passes_spf_dkim_and_dmarc(live_server: LiveServer) -> None:
    domain = bank_domain()
    inbox = InboxClient(live_server, "auth-pass")
    message = deliver(live_server, inbox, sign(mail_from(domain), domain), f"bounce@{domain}")
    auth = message["authentication"]
    assert message["folder"] == "inbox"
    assert auth["checked_by"] == "dispatch"
    assert auth["spf"] == {
        "result": "pass",
        "why": f"{LOOPBACK} is permitted by the SPF record of {domain} (ip4:{LOOPBACK})",
        "domain": domain,
    }
    assert auth["dkim"]["result"] == "pass" and auth["dkim"]["domain"] == domain
    assert auth["dmarc"] == {
        "result": "pass",
        "why": f"DKIM signature of {domain} aligned with {domain}",
        "domain": domain,
        "policy": "reject",
    }
    assert (auth["spam"], auth["virus"], auth["folder_reason"]) == (None, None, None)
    assert inbox.get("/otp").json()["otp"]["code"] == "482913"


def test_forged_mail_fails_and_lands_in_spam_per_policy(live_server: LiveServer) -> None:
    domain = bank_domain()
    inbox = InboxClient(live_server, "auth-forged")
    forged = mail_from(domain, text="Your code is 777111")  # no signature, foreign envelope
    message = deliver(live_server, inbox, forged, "x@" + fresh_domain("evil"))
    auth = message["authentication"]
    assert message["folder"] == "spam"
    assert auth["spf"]["result"] == "none"
    assert auth["dkim"]["result"] == "none"
    assert (auth["dmarc"]["result"], auth["dmarc"]["policy"]) == ("fail", "reject")
    assert auth["folder_reason"] == f"DMARC failed and {domain} asks to reject it"
    # Its code is nowhere an agent looks by default.
    assert inbox.get("/otp").json()["otp"] is None
    assert inbox.get("/messages").json()["data"] == []


def test_a_tampered_signature_with_spf_from_elsewhere_is_spam_under_quarantine(
    live_server: LiveServer,
) -> None:
    domain = bank_domain(dmarc="v=DMARC1; p=quarantine")
    inbox = InboxClient(live_server, "auth-tampered")
    tampered = sign(mail_from(domain), domain).replace(b"482913", b"123456")
    elsewhere = fresh_domain("relay")
    shared_dns().add_txt(elsewhere, f"v=spf1 ip4:{LOOPBACK} -all")
    message = deliver(live_server, inbox, tampered, f"b@{elsewhere}")
    auth = message["authentication"]
    assert (auth["spf"]["result"], auth["spf"]["domain"]) == ("pass", elsewhere)  # unaligned
    assert auth["dkim"]["result"] == "fail"
    assert (auth["dmarc"]["result"], auth["dmarc"]["policy"]) == ("fail", "quarantine")
    assert message["folder"] == "spam"


def test_dmarc_p_none_fails_but_stays_in_the_inbox(live_server: LiveServer) -> None:
    domain = bank_domain(dmarc="v=DMARC1; p=none")
    inbox = InboxClient(live_server, "auth-pnone")
    message = deliver(live_server, inbox, mail_from(domain), "x@" + fresh_domain("evil"))
    assert message["authentication"]["dmarc"]["result"] == "fail"
    assert message["folder"] == "inbox"


def test_slow_dns_neither_holds_up_the_server_nor_moves_the_mail(live_server: LiveServer) -> None:
    domain = fresh_domain("slow")
    for name in (domain, f"sel._domainkey.{domain}", f"_dmarc.{domain}"):
        shared_dns().time_out(name)
    inbox = InboxClient(live_server, "auth-slow")
    raw = sign(mail_from(domain), domain)
    sending = threading.Thread(
        target=smtp_send,
        args=(live_server.smtp_host, live_server.smtp_port, inbox.address, raw, f"b@{domain}"),
    )
    started = time.monotonic()
    sending.start()
    slowest = 0.0
    while sending.is_alive():  # the API answers while the checks wait for DNS
        asked = time.monotonic()
        assert httpx.get(f"{live_server.base_url}/health").status_code == 200
        slowest = max(slowest, time.monotonic() - asked)
        time.sleep(0.05)
    sending.join()
    took = time.monotonic() - started
    # Had the checks held the event loop, /health would have waited out the 2 s DNS timeout.
    assert slowest < 1.0, slowest
    assert 1.5 < took < 10, took  # the 2 s DNS timeout, within the 8 s budget
    [summary] = inbox.get("/messages").json()["data"]
    auth = inbox.get(f"/messages/{summary['id']}").json()["authentication"]
    assert [auth[name]["result"] for name in ("spf", "dkim", "dmarc")] == ["temperror"] * 3


def test_webhook_mail_is_checked_by_nobody(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "auth-webhook")
    message_id = inbox.deliver(spam=True)
    auth = inbox.get(f"/messages/{message_id}").json()["authentication"]
    assert auth == {
        "checked_by": "webhook",
        "spf": None,
        "dkim": None,
        "dmarc": None,
        "spam": "fail",
        "virus": None,
        "folder_reason": "the spam verdict is fail",
    }


# -- stored verdicts, on both databases ------------------------------------------------------


@pytest.mark.anyio
async def test_verdicts_are_stored_and_read_back(db: Database, hub: Hub, database_url: str) -> None:
    inbox = await new_inbox(db, "stored")
    services = Services(make_settings(database_url), db, hub)
    verdicts = Verdicts(
        spam="pass",
        virus="fail",
        spf=Check("pass", "permitted", "b.test", extra={"scope": "mailfrom"}),
        dkim=Check(
            "fail", "body hash mismatch", "b.test", extra={"signatures": [], "unchecked": 0}
        ),
        dmarc=Check("fail", "unaligned", "b.test", "reject", extra={"pct": 100}),
        source="ses",
    )
    result = await ingest(
        services, mail_from("b.test"), Envelope((inbox.address,), verdicts=verdicts)
    )
    [delivery] = result.deliveries
    assert delivery.folder == "quarantine"  # the virus rule comes first
    row = await db.run_read(
        lambda conn: conn.execute(
            sa.select(t.message_security).where(
                t.message_security.c.message_id == delivery.message_id
            )
        ).one()
    )
    assert (row.spf_verdict, row.dkim_verdict, row.dmarc_verdict) == ("pass", "fail", "fail")
    assert (row.spam_verdict, row.virus_verdict) == ("pass", "fail")
    assert row.details["dmarc"] == {
        "why": "unaligned",
        "domain": "b.test",
        "policy": "reject",
        "pct": 100,
    }
    assert row.details["folder_reason"] == "the virus scan found a virus"
    cutoff = messages.retention_cutoff(30)
    found = await db.run_read(messages.get_message, inbox.id, delivery.message_id, cutoff=cutoff)
    assert found.message.verdicts == verdicts  # `extra` is kept in details only
    assert found.message.folder == "quarantine"
    assert delivery.stored is not None and delivery.stored.message == found.message
    listed = await db.run_read(
        messages.list_messages,
        inbox.id,
        folder="quarantine",
        limit=10,
        cursor=None,
        cutoff=cutoff,
    )
    assert [s.id for s in listed.items] == [delivery.message_id]
    for folder in ("inbox", "spam"):
        empty = await db.run_read(
            messages.list_messages, inbox.id, folder=folder, limit=10, cursor=None, cutoff=cutoff
        )
        assert list(empty.items) == []
