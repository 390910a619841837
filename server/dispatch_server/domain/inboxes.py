"""Inboxes: their addresses, creation (with the multi-inbox gate), listing and lookup."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.billing import entitlements
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import Conflict, InvalidInput, NotFound, UpgradeRequired
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.core.text import CONTROL
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain import domains
from dispatch_server.events import log as event_log

LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
RESERVED_LOCAL_PARTS = frozenset(
    {
        "postmaster",
        "abuse",
        "admin",
        "administrator",
        "hostmaster",
        "webmaster",
        "root",
        "mailer-daemon",
        "noreply",
        "no-reply",
        "security",
        "support",
    }
)
RANDOM_ADDRESS_ATTEMPTS = 5


@attrs.frozen(kw_only=True)
class Inbox:
    id: str
    workspace_id: str
    agent_id: str
    address: str
    display_name: str | None
    created_at: datetime


def validate_local_part(local_part: str) -> str:
    lowered = local_part.strip().lower()
    if not LOCAL_PART.match(lowered) or ".." in lowered:
        raise InvalidInput(
            "local_part must be 1-64 of a-z, 0-9, '.', '_', '-', starting and ending "
            "with a letter or digit",
            param="local_part",
        )
    if lowered in RESERVED_LOCAL_PARTS:
        raise InvalidInput(f"local_part {lowered!r} is reserved", param="local_part")
    return lowered


def validate_display_name(display_name: str) -> str:
    """The name shown in the From of the inbox's mail: no control character, which no
    header can carry (every send would be refused for it)."""
    control = CONTROL.search(display_name)
    if control:
        raise InvalidInput(
            f"display_name holds the control character U+{ord(control.group()):04X}",
            param="display_name",
        )
    return display_name


def random_local_part() -> str:
    return "agent-" + secrets.token_hex(5)


def create_inbox(
    conn: sa.Connection,
    *,
    workspace_id: str,
    agent_id: str,
    domain: str,
    local_part: str | None,
    display_name: str | None,
    enforce_multi_inbox_upgrade: bool,
    custom_domain: str | None = None,
) -> Inbox:
    """A new inbox at `domain` (the service's), or at `custom_domain`: a verified custom
    domain of the workspace (see dispatch_server.domain.domains.inbox_domain)."""
    chosen_domain = domains.inbox_domain(conn, workspace_id, custom_domain, default=domain)
    if enforce_multi_inbox_upgrade:
        _check_multi_inbox_allowed(conn, workspace_id)
    return insert_inbox(
        conn,
        workspace_id=workspace_id,
        agent_id=agent_id,
        domain=chosen_domain,
        local_part=local_part,
        display_name=display_name,
    )


def _check_multi_inbox_allowed(conn: sa.Connection, workspace_id: str) -> None:
    count = conn.scalar(
        sa.select(sa.func.count())
        .select_from(t.inboxes)
        .where(t.inboxes.c.workspace_id == workspace_id)
    )
    if (count or 0) >= 1 and not entitlements.may_have_many_inboxes(conn, workspace_id):
        raise UpgradeRequired("this workspace needs the multi_inbox upgrade for more inboxes")


def insert_inbox(
    conn: sa.Connection,
    *,
    workspace_id: str,
    agent_id: str,
    domain: str,
    local_part: str | None,
    display_name: str | None,
) -> Inbox:
    """A new inbox at `local_part@domain`, or at a random free address without one."""
    chosen = validate_local_part(local_part) if local_part is not None else None
    if display_name is not None:
        validate_display_name(display_name)
    for _attempt in range(RANDOM_ADDRESS_ATTEMPTS):
        address = f"{chosen or random_local_part()}@{domain}"
        taken = conn.scalar(sa.select(t.inboxes.c.id).where(t.inboxes.c.address == address))
        if taken is None:
            break
        if chosen is not None:
            raise Conflict(f"{address} is already an inbox", param="local_part")
    else:
        raise Conflict("could not find a free random address; try again")
    inbox = Inbox(
        id=new_id(),
        workspace_id=workspace_id,
        agent_id=agent_id,
        address=address,
        display_name=display_name,
        created_at=utcnow(),
    )
    try:
        # A savepoint keeps the outer transaction usable if a concurrent insert won the race.
        with conn.begin_nested():
            conn.execute(t.inboxes.insert().values(**attrs.asdict(inbox)))
    except sa.exc.IntegrityError:
        raise Conflict(f"{address} is already an inbox", param="local_part") from None
    event_log.append(
        conn,
        workspace_id=workspace_id,
        inbox_id=inbox.id,
        type="inbox.created",
        payload={"inbox_id": inbox.id, "address": address, "display_name": display_name},
        now=inbox.created_at,
    )
    return inbox


def list_inboxes(
    conn: sa.Connection, workspace_id: str, *, limit: int, cursor: Cursor | None
) -> Page[Inbox]:
    """The workspace's inboxes, oldest first."""
    query = sa.select(t.inboxes).where(t.inboxes.c.workspace_id == workspace_id)
    rows, next_cursor = page(
        conn,
        query,
        t.inboxes,
        "inbox",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
        newest_first=False,
    )
    return Page([Inbox(**row._mapping) for row in rows], next_cursor)


def get_inbox(conn: sa.Connection, workspace_id: str, inbox_id: str) -> Inbox:
    row = conn.execute(
        sa.select(t.inboxes).where(
            t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
        )
    ).first()
    if row is None:
        raise NotFound("inbox")
    return Inbox(**row._mapping)
