"""The webhook sender on a controlled clock, both databases: deliveries are queued in the
event's own transaction, a live claim keeps a second sender off, a lapsed claim (a sender
that died mid-attempt) is attempted again with the same `webhook-id` (at least once), the
retry schedule's waits, and a lost claim's late result is not recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from dispatch_server.config.settings import Webhooks
from dispatch_server.core.clock import utcnow
from dispatch_server.db import tables as t
from dispatch_server.domain import webhooks, workspaces
from dispatch_server.domain.webhooks import Outcome
from dispatch_server.events import log as event_log
from dispatch_server.outbound.webhooks import WebhookSender
from dispatch_server.services import Services
from tests.webhook_receiver import Receiver, Reply, receiver

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def setup(services: Services, hook: Receiver) -> tuple[str, str, str]:
    """A workspace with an endpoint at `hook` and one event: (workspace, endpoint, secret)."""
    signup = await services.db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=None
    )
    workspace_id = signup.workspace.id
    created = await services.db.run_write(
        webhooks.create_endpoint,
        workspace_id,
        url=hook.url,
        event_types=None,
        enabled=True,
        description=None,
        now=utcnow(),
    )

    def append(conn: sa.Connection) -> int:
        return event_log.append(
            conn,
            workspace_id=workspace_id,
            inbox_id=signup.inbox.id,
            type="inbox.created",
            payload={"inbox_id": signup.inbox.id},
            now=utcnow(),
        )

    await services.db.run_write(append)
    return workspace_id, created.endpoint.id, created.secret


def sender(services: Services, clock: Clock, **settings: Any) -> WebhookSender:
    values: dict[str, Any] = {
        "allow_loopback": True,
        "timeout_seconds": 2.0,
        "retry_schedule": (60.0, 600.0),
        "disable_after": 3,
    }
    values.update(settings)
    return WebhookSender(services.db, Webhooks(**values), clock=clock)


async def deliveries(services: Services) -> list[Any]:
    def read(conn: sa.Connection) -> list[Any]:
        return list(conn.execute(sa.select(t.webhook_deliveries)))

    return await services.db.run_read(read)


async def test_the_delivery_is_queued_with_the_event_and_rolls_back_with_it(
    services: Services,
) -> None:
    with receiver() as hook:
        workspace_id, endpoint_id, _ = await setup(services, hook)
        (row,) = await deliveries(services)
        assert row.endpoint_id == endpoint_id and row.status == "pending" and row.attempts == 0

        def append_then_fail(conn: sa.Connection) -> None:
            event_log.append(
                conn,
                workspace_id=workspace_id,
                inbox_id=None,
                type="inbox.created",
                payload={},
                now=utcnow(),
            )
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await services.db.run_write(append_then_fail)
        assert len(await deliveries(services)) == 1


async def test_a_lapsed_claim_is_attempted_again_with_the_same_id(services: Services) -> None:
    with receiver() as hook:
        _, _, secret = await setup(services, hook)
        clock = Clock()
        first, second = sender(services, clock), sender(services, clock)
        try:
            (row,) = await deliveries(services)
            # A sender claims it and dies before it records anything.
            crashed = await services.db.run_write(webhooks.claim, row.id, clock(), first.lease)
            assert crashed is not None
            # While the claim lives, no other sender attempts it.
            assert await second.run_due() == 0
            assert await second.attempt(row.id) is None
            assert hook.none_within(0.2)
            # Once it lapsed, another does: at least once.
            clock.advance(first.lease.total_seconds() + 1)
            assert await second.run_due() == 1
            got = hook.take()
            assert got.headers["webhook-id"] == crashed.webhook_id
            Webhook(secret).verify(got.body, got.headers)  # fresh timestamp: now is now
            (done,) = await deliveries(services)
            assert done.status == "succeeded" and done.attempts == 2
            # The dead sender's late result is not recorded over it.
            late = await services.db.run_write(
                webhooks.record,
                crashed,
                Outcome(ok=False, error="late"),
                now=clock(),
                schedule=(60.0,),
                disable_after=1,
            )
            assert late is None
            (still,) = await deliveries(services)
            assert still.status == "succeeded" and still.last_error is None
        finally:
            await first.close()
            await second.close()


async def test_the_schedule_spaces_the_retries(services: Services) -> None:
    with receiver() as hook:
        hook.default = Reply(status=500)
        workspace_id, endpoint_id, _ = await setup(services, hook)
        clock = Clock()
        sending = sender(services, clock, disable_after=1)
        try:
            started = clock()
            assert await sending.run_due() == 1
            (row,) = await deliveries(services)
            wait = (row.next_attempt_at - started).total_seconds()
            assert 54 <= wait <= 66  # 60 s, give or take the 10 % jitter
            assert row.status == "pending" and row.last_status_code == 500
            clock.advance(30)
            assert await sending.run_due() == 0  # not yet
            clock.advance(40)
            assert await sending.run_due() == 1
            (row,) = await deliveries(services)
            wait = (row.next_attempt_at - clock()).total_seconds()
            assert 540 <= wait <= 660
            clock.advance(700)
            assert await sending.run_due() == 1
            (row,) = await deliveries(services)
            assert row.status == "failed" and row.attempts == 3 and row.next_attempt_at is None
            assert [hook.take() for _ in range(3)]
            endpoint = await services.db.run_read(webhooks.get_endpoint, workspace_id, endpoint_id)
            assert not endpoint.enabled and endpoint.consecutive_failures == 1
            assert endpoint.disabled_reason is not None and "HTTP 500" in endpoint.disabled_reason
        finally:
            await sending.close()


def test_the_default_schedule_spans_more_than_a_day() -> None:
    schedule = Webhooks().retry_schedule
    assert sum(schedule) * (1 - webhooks.JITTER) > 24 * 3600
