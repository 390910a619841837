"""Agent signup: a workspace, its agent, a first inbox and both kinds of key, in one call."""

from __future__ import annotations

from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.api.inboxes import Inbox, local_part_field
from dispatch_server.config import Settings
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import invites, workspaces
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project
from dispatch_server.ratelimit.policy import Policy


@attrs.frozen(kw_only=True)
class Workspace:
    id: str
    name: str
    plan: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, workspace: workspaces.Workspace) -> Workspace:
        return project(cls, workspace)


@attrs.frozen(kw_only=True)
class Agent:
    id: str
    workspace_id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, agent: workspaces.Agent) -> Agent:
        return project(cls, agent)


@attrs.frozen(kw_only=True)
class Signup:
    """The new workspace with its keys; the keys are shown only here."""

    workspace: Workspace
    agent: Agent
    inbox: Inbox
    account_key: str = field(description="acts on the whole workspace")
    inbox_key: str = field(description="acts on `inbox` only")


MAX_NAME_CHARS = 200


@attrs.frozen(kw_only=True)
class SignupRequest:
    name: str | None = field(default=None, maxLength=MAX_NAME_CHARS)
    local_part: str | None = local_part_field()
    invite_code: str | None = field(
        default=None,
        maxLength=invites.MAX_CODE_CHARS,
        description="needed while DISPATCH_AGENT_SIGNUP=invite",
    )


def signup_in(conn: sa.Connection, body: SignupRequest, settings: Settings) -> workspaces.Signup:
    """The signup, with an invite redeemed in the same transaction when one is needed (the
    API's route and the console's "new workspace")."""
    gate = settings.operators
    if gate.agent_signup == "closed":
        raise invites.SignupClosed("agent signup is closed here (DISPATCH_AGENT_SIGNUP=closed)")
    if gate.agent_signup == "invite":
        invites.redeem(conn, body.invite_code, env_code=gate.beta_invite_code, now=utcnow())
    return workspaces.signup(
        conn, domain=settings.inboxes.domain, name=body.name, local_part=body.local_part
    )


async def agent_signup(call: Call[SignupRequest]) -> Signup:
    settings = call.services.settings
    result = await call.services.db.run_write(signup_in, call.body, settings)
    return Signup(
        workspace=Workspace.of(result.workspace),
        agent=Agent.of(result.agent),
        inbox=Inbox.of(result.inbox),
        account_key=result.account_key,
        inbox_key=result.inbox_key,
    )


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/agent/signup",
        handler=agent_signup,
        summary="Create a workspace, agent, default inbox, account key and inbox key",
        scope=None,
        body=SignupRequest,
        response=Signup,
        status=201,
        rate_limit=Policy.SIGNUP,
    )
]
