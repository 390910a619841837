"""The presented key itself: `GET /v1/auth/me` says what it is and what it may do."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.auth import policy
from dispatch_server.auth.principal import KeyKind, Scope
from dispatch_server.domain import inboxes
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field


def _words(permissions: tuple[str, ...]) -> str:
    return ", ".join(f"`{word}`" for word in permissions)


@attrs.frozen(kw_only=True)
class KeyInfo:
    """The API key the request was made with: its kind, where it belongs, what it may do
    and its restrictions. More fields may come; clients should ignore the ones they do not
    know."""

    kind: KeyKind = field(
        description="`account`: acts on the whole workspace; `inbox`: acts on one inbox only"
    )
    key_id: str = field(description="the id of this key: the part before the `.`")
    workspace_id: str = field(description="the workspace the key belongs to")
    agent_id: str = field(description="the agent the key belongs to")
    inbox_id: str | None = field(description="the inbox of an inbox key; null for an account key")
    inbox_address: str | None = field(
        description="the email address of an inbox key's inbox; null for an account key"
    )
    permissions: tuple[str, ...] = field(
        description="what this key may do: on its inbox, an inbox key "
        f"{_words(policy.PERMISSIONS['inbox'])}; on its workspace, an account key "
        f"{_words(policy.PERMISSIONS['account'])}; a restricted inbox key, the part of "
        "them it was minted with. New words may come"
    )
    restricted: bool = field(
        description="whether the key was minted with restrictions (permissions, allowed "
        "senders or an expiry)"
    )
    allowed_senders: tuple[str, ...] | None = field(
        description="the senders whose mail the key may read (`*@github.com`, "
        "`noreply@x.com`, `*.example.com`); null: anyone's"
    )
    expires_at: datetime | None = field(
        description="when the key stops working (then it gets `401 unauthorized`); null: "
        "it does not expire"
    )


async def key_info(call: Call[None]) -> KeyInfo:
    principal = call.principal
    address = None
    if principal.inbox_id is not None:
        inbox = await call.services.db.run_read(
            inboxes.get_inbox, principal.workspace_id, principal.inbox_id
        )
        address = inbox.address
    return KeyInfo(
        kind=principal.kind,
        key_id=principal.key_id,
        workspace_id=principal.workspace_id,
        agent_id=principal.agent_id,
        inbox_id=principal.inbox_id,
        inbox_address=address,
        permissions=policy.permissions(principal),
        restricted=principal.restricted,
        allowed_senders=policy.senders_of(principal),
        expires_at=principal.expires_at,
    )


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/auth/me",
        handler=key_info,
        summary="The presented key: its kind, workspace, inbox, permissions and restrictions",
        description="Read-only: asking changes nothing. A key that is not valid (malformed, "
        "unknown, revoked) gets `401 unauthorized`, as on every keyed route.",
        scope=Scope.ANY_KEY,
        response=KeyInfo,
    )
]
