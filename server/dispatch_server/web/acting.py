"""Whom the console acts for: the signed-in operator's active agent.

An operator holds claimed agents, one active at a time; the console's inbox pages and the
mail desk act for that agent's workspace as its account key would (the same principal the
API's routes take, so the send path and the billing gate are theirs), and an inbox is
reached only through `inbox`, which finds it in that workspace or answers 404.
"""

from __future__ import annotations

import attrs

from dispatch_server.auth.principal import Principal
from dispatch_server.core.errors import NotFound
from dispatch_server.core.ids import is_id
from dispatch_server.domain import claims, inboxes, operators
from dispatch_server.services import Services


@attrs.frozen
class Acting:
    operator: operators.Operator
    agent: claims.ClaimedAgent
    principal: Principal


async def acting_for(services: Services, operator: operators.Operator) -> Acting | None:
    """The operator's active agent, or None while they hold none."""
    agents = await services.db.run_read(claims.list_claimed, operator.id)
    active = next((agent for agent in agents if agent.active), None)
    if active is None:
        return None
    principal = Principal(
        key_id=f"console:{operator.id}",
        kind="account",
        workspace_id=active.workspace_id,
        agent_id=active.agent_id,
        inbox_id=None,
    )
    return Acting(operator, active, principal)


async def inbox(services: Services, acting: Acting, inbox_id: str) -> inboxes.Inbox:
    """An inbox of the active agent's workspace; NotFound for any other id."""
    if not is_id(inbox_id):
        raise NotFound("inbox")
    return await services.db.run_read(inboxes.get_inbox, acting.principal.workspace_id, inbox_id)
