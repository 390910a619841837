"""The plans of the reads that must stay flat as mail piles up (bench.data_growth measures
them at a million messages): on SQLite and PostgreSQL, with enough rows and fresh statistics
that a planner would rather scan a table whole if the query let it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Page
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import messages, workspaces

pytestmark = pytest.mark.anyio
CUTOFF = datetime(2000, 1, 1, tzinfo=UTC)
MESSAGES = 1000  # over 10 inboxes; a tenth of them without artifacts


async def _fill(db: Database) -> str:
    """The first of 10 inboxes holding MESSAGES messages, each with an OTP and a link but
    every tenth, which has none; statistics refreshed. The measured inbox's id."""
    signup = await db.run_write(workspaces.signup, domain="plans.test", name="p", local_part="a")
    inbox_ids = [signup.inbox.id] + [new_id() for _ in range(9)]

    def fill(conn: sa.Connection) -> None:
        now = utcnow()
        conn.execute(
            t.inboxes.insert(),
            [
                {
                    "id": inbox_id,
                    "workspace_id": signup.workspace.id,
                    "agent_id": signup.agent.id,
                    "address": f"box{n}@plans.test",
                    "created_at": now,
                }
                for n, inbox_id in enumerate(inbox_ids[1:])
            ],
        )
        rows, security, artifacts = [], [], []
        for n in range(MESSAGES):
            message_id, at = new_id(), now - timedelta(minutes=MESSAGES - n)
            inbox_id = inbox_ids[n % 10]
            rows.append(
                {
                    "id": message_id,
                    "inbox_id": inbox_id,
                    "workspace_id": signup.workspace.id,
                    "provider_message_id": f"p{n}",
                    "to_addresses": [],
                    "cc_addresses": [],
                    "subject": f"code {n}",
                    "text_body": f"your code is {100000 + n}",
                    "attachments": [],
                    "raw_mime": b"Subject: x\r\n\r\nx",
                    "size_bytes": 14,
                    "received_at": at,
                    "door": "smtp",
                }
            )
            security.append({"message_id": message_id, "folder": "inbox", "details": {}})
            if n % 10 == 9:
                continue
            common = {"message_id": message_id, "inbox_id": inbox_id, "received_at": at}
            for kind, value in (("otp", str(100000 + n)), ("link", f"https://x.test/{n}")):
                artifacts.append(
                    {
                        "id": new_id(),
                        "kind": kind,
                        "value": value,
                        "is_primary": True,
                        "position": 0,
                        "folder": "inbox",
                        **common,
                    }
                )
        conn.execute(t.messages.insert(), rows)
        conn.execute(t.message_security.insert(), security)
        conn.execute(t.artifacts.insert(), artifacts)
        conn.exec_driver_sql("ANALYZE")

    await db.run_write(fill)
    return signup.inbox.id


def _plans(conn: sa.Connection, read: Callable[[sa.Connection], Any]) -> list[str]:
    """The plan lines of every statement `read` runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", record)
    try:
        read(conn)
    finally:
        sa.event.remove(conn, "before_cursor_execute", record)
    lines: list[str] = []
    for statement, params in seen:
        if conn.dialect.name == "postgresql":
            found = conn.exec_driver_sql("EXPLAIN " + statement, params)
            lines += [row[0] for row in found]
        else:
            found = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            lines += [row[3] for row in found]
    return lines


def _full_scans(lines: list[str], table: str) -> list[str]:
    return [
        line for line in lines if f"Seq Scan on {table}" in line or line.strip() == f"SCAN {table}"
    ]


async def test_a_page_of_summaries_looks_up_the_artifacts_of_its_rows_only(db: Database) -> None:
    """has_otp and has_link are looked up per row of the page: PostgreSQL once ran them as a
    hashed subplan that read every artifact of every inbox for one page."""
    inbox_id = await _fill(db)

    def first_page(conn: sa.Connection) -> Page[messages.MessageSummary]:
        return messages.list_messages(
            conn, inbox_id, folder="inbox", limit=20, cursor=None, cutoff=CUTOFF
        )

    plans = await db.run_read(_plans, first_page)
    assert _full_scans(plans, "artifacts") == [], plans
    assert _full_scans(plans, "messages") == [], plans
    page = await db.run_read(first_page)
    assert len(page.items) == 20
    # Newest first: message 999 (none), then 989 ... of this inbox (every tenth is bare).
    for summary in page.items:
        bare = summary.subject is not None and int(summary.subject.split()[1]) % 10 == 9
        assert (summary.has_otp, summary.has_link) == (not bare, not bare)
