"""Workspaces and their agents, and signup: a workspace with its first inbox and keys."""

from __future__ import annotations

from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t
from dispatch_server.domain.inbox_keys import insert_key
from dispatch_server.domain.inboxes import Inbox, insert_inbox


@attrs.frozen(kw_only=True)
class Workspace:
    id: str
    name: str
    status: str  # active | suspended
    plan: str  # free | multi_inbox | ...
    created_at: datetime


@attrs.frozen(kw_only=True)
class Agent:
    id: str
    workspace_id: str
    name: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class Signup:
    workspace: Workspace
    agent: Agent
    inbox: Inbox
    account_key: str = attrs.field(repr=False)
    inbox_key: str = attrs.field(repr=False)


def signup(conn: sa.Connection, *, domain: str, name: str | None, local_part: str | None) -> Signup:
    """A workspace, its agent, a first inbox, an account key and that inbox's key."""
    now = utcnow()
    workspace = Workspace(
        id=new_id(), name=name or "agent", status="active", plan="free", created_at=now
    )
    agent = Agent(id=new_id(), workspace_id=workspace.id, name=workspace.name, created_at=now)
    conn.execute(t.workspaces.insert().values(**attrs.asdict(workspace), policy={}))
    conn.execute(t.agents.insert().values(**attrs.asdict(agent)))
    inbox = insert_inbox(
        conn,
        workspace_id=workspace.id,
        agent_id=agent.id,
        domain=domain,
        local_part=local_part,
        display_name=None,
    )
    account_key, _ = insert_key(
        conn,
        workspace_id=workspace.id,
        agent_id=agent.id,
        kind="account",
        inbox_id=None,
        label="default",
    )
    inbox_key, _ = insert_key(
        conn,
        workspace_id=workspace.id,
        agent_id=agent.id,
        kind="inbox",
        inbox_id=inbox.id,
        label="default",
    )
    return Signup(
        workspace=workspace, agent=agent, inbox=inbox, account_key=account_key, inbox_key=inbox_key
    )
