"""The server's own sender: the inbox its notices (verification codes, onboarding) come from,
in a `system` workspace made on first use. Its local part is one agents cannot take
(RESERVED_LOCAL_PARTS); an inbox at that address in another workspace is never used."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dispatch_server.core.errors import Conflict
from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t
from dispatch_server.domain.sends import Sender

SYSTEM_PLAN = "system"  # not "free": the paid daily send limits apply
DISPLAY_NAME = "Dispatch"


def system_sender(conn: sa.Connection, *, address: str, now: datetime) -> Sender:
    """The system inbox at `address`, made (with its workspace and agent) if missing;
    Conflict if another workspace holds the address."""
    row = conn.execute(
        sa.select(t.inboxes.c.id, t.inboxes.c.workspace_id, t.workspaces.c.plan)
        .join(t.workspaces, t.workspaces.c.id == t.inboxes.c.workspace_id)
        .where(t.inboxes.c.address == address)
    ).first()
    if row is not None:
        if row.plan != SYSTEM_PLAN:
            raise Conflict(f"{address} belongs to an agent's workspace, not the system's")
        return Sender(
            inbox_id=row.id,
            workspace_id=row.workspace_id,
            address=address,
            display_name=DISPLAY_NAME,
            plan=SYSTEM_PLAN,
        )
    workspace_id, agent_id, inbox_id = new_id(), new_id(), new_id()
    conn.execute(
        t.workspaces.insert().values(
            id=workspace_id,
            name="system",
            status="active",
            plan=SYSTEM_PLAN,
            policy={"system": True},
            created_at=now,
        )
    )
    conn.execute(
        t.agents.insert().values(
            id=agent_id, workspace_id=workspace_id, name="system", created_at=now
        )
    )
    conn.execute(
        t.inboxes.insert().values(
            id=inbox_id,
            workspace_id=workspace_id,
            agent_id=agent_id,
            address=address,
            display_name=DISPLAY_NAME,
            created_at=now,
        )
    )
    return Sender(
        inbox_id=inbox_id,
        workspace_id=workspace_id,
        address=address,
        display_name=DISPLAY_NAME,
        plan=SYSTEM_PLAN,
    )
