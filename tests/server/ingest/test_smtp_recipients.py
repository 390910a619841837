"""The SMTP door's memory of recipients it took: asked again only when the answer could have
changed, and never trusted over the ingest transaction."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session

from dispatch_server.domain import workspaces
from dispatch_server.ingest.doors import smtp as smtp_door
from dispatch_server.ingest.doors.smtp import (
    QUOTA_MARGIN,
    REMEMBER_SECONDS,
    REMEMBERED_ADDRESSES,
    AcceptedRecipients,
    IngestHandler,
)
from dispatch_server.services import Services
from tests.conftest import make_settings
from tests.helpers import make_mail

pytestmark = pytest.mark.anyio


def test_an_address_is_known_until_its_moment_passes() -> None:
    accepted = AcceptedRecipients()
    assert not accepted.knows("a@x.test", 100.0)
    accepted.remember("a@x.test", 100.0)
    assert accepted.knows("a@x.test", 100.0 + REMEMBER_SECONDS / 2)
    assert not accepted.knows("b@x.test", 100.0)
    assert not accepted.knows("a@x.test", 100.0 + REMEMBER_SECONDS)
    assert not accepted.knows("a@x.test", 100.0)  # forgotten once expired


def test_the_memory_is_bounded() -> None:
    accepted = AcceptedRecipients()
    for n in range(REMEMBERED_ADDRESSES + 5):
        accepted.remember(f"bot{n}@x.test", 0.0)
    assert sum(accepted.knows(f"bot{n}@x.test", 0.0) for n in range(REMEMBERED_ADDRESSES + 5)) <= 5


@attrs.define
class Counted:
    """The door's services, counting the RCPT checks that reach the database."""

    handler: IngestHandler
    asked: list[str]


def counted(services: Services, monkeypatch: pytest.MonkeyPatch) -> Counted:
    asked: list[str] = []
    run_short_read = services.db.run_short_read

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(args[0])
        return await run_short_read(fn, *args, **kwargs)

    monkeypatch.setattr(services.db, "run_short_read", counting)
    return Counted(IngestHandler(services), asked)


async def rcpt(handler: IngestHandler, address: str) -> str:
    envelope = SmtpEnvelope()
    envelope.mail_from = "sender@acme.test"
    session = Session(None)  # type: ignore[arg-type]  # the handler reads only its peer
    reply: str = await handler.handle_RCPT(None, session, envelope, address, [])  # type: ignore[arg-type]
    return reply


async def signed_up(services: Services, local_part: str) -> str:
    signup = await services.db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return signup.inbox.address


async def test_a_taken_address_is_not_asked_about_again_while_remembered(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    door = counted(services, monkeypatch)
    address = await signed_up(services, "remembered")
    for _ in range(5):
        assert (await rcpt(door.handler, address)).startswith("250")
    assert door.asked == [address]


async def test_refusals_are_asked_about_every_time(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    door = counted(services, monkeypatch)
    for _ in range(3):
        assert (await rcpt(door.handler, "nobody@dispatch.test")).startswith("550")
    assert door.asked == ["nobody@dispatch.test"] * 3


async def test_near_the_end_of_a_quota_every_rcpt_asks_and_the_last_one_is_refused(
    database_url: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = QUOTA_MARGIN  # never more than the margin left: nothing is remembered
    services = attrs.evolve(
        services, settings=make_settings(database_url, DISPATCH_DAILY_INBOUND_QUOTA=quota)
    )
    door = counted(services, monkeypatch)
    address = await signed_up(services, "nearly-full")
    for n in range(quota):
        assert (await rcpt(door.handler, address)).startswith("250")
        assert await data(door.handler, address, n) == "250 2.0.0 Message accepted"
    assert (await rcpt(door.handler, address)).startswith("452")
    assert door.asked == [address] * (quota + 1)


async def test_a_quota_used_up_while_remembered_is_refused_at_data(
    database_url: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = QUOTA_MARGIN + 2
    # The address stays remembered through all the DATA below, however slow the machine.
    monkeypatch.setattr(smtp_door, "REMEMBER_SECONDS", 600.0)
    services = attrs.evolve(
        services, settings=make_settings(database_url, DISPATCH_DAILY_INBOUND_QUOTA=quota)
    )
    door = counted(services, monkeypatch)
    address = await signed_up(services, "filled-meanwhile")
    assert (await rcpt(door.handler, address)).startswith("250")  # remembered from here
    replies = [await data(door.handler, address, n) for n in range(quota + 3)]
    assert replies[:quota] == ["250 2.0.0 Message accepted"] * quota
    assert all(reply.startswith("452 4.2.2") for reply in replies[quota:]), replies[quota:]
    assert (await rcpt(door.handler, address)).startswith("250")  # advice, still remembered
    assert door.asked == [address]


async def data(handler: IngestHandler, address: str, serial: int) -> str:
    envelope = SmtpEnvelope()
    envelope.mail_from = "sender@acme.test"
    envelope.rcpt_tos = [address]
    envelope.original_content = make_mail(address, subject=f"Mail {serial}")
    session = Session(None)  # type: ignore[arg-type]
    session.peer = ("127.0.0.1", 2525)  # type: ignore[assignment]
    session.host_name = "client.test"
    reply: str = await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]
    return reply
