"""The policy guard: the one place deciding whether a principal may act at a scope, what a
key may do (its permissions, as `GET /v1/auth/me` shows them), whose mail a restricted key
may read (its allowed senders), and whether an operator is an admin."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn

import attrs
import sqlalchemy as sa

from dispatch_server.auth.principal import KeyKind, Principal, Scope
from dispatch_server.config import Operators
from dispatch_server.core.errors import Forbidden, InvalidInput, MissingPermission, NotFound
from dispatch_server.db import tables as t


def authorize(
    principal: Principal, scope: Scope, inbox_id: str | None, permission: str | None = None
) -> bool:
    """Whether the key may act at this scope: True, or an error raised (403/404), or False
    when only the database can say which error: an account key on an inbox route, which
    `refuse_account_key` then answers (it is never allowed). An inbox outside the key's
    reach answers 404 whatever the key kind, so ids of other workspaces cannot be probed.

    `permission`: the word of `PERMISSIONS` the route needs; a key in scope without it (a
    restricted inbox key) gets 403 `missing_permission`, after the scope is checked (so
    another inbox's id is still a 404)."""
    allowed = _in_scope(principal, scope, inbox_id)
    if allowed and permission is not None and permission not in permissions(principal):
        raise MissingPermission(permission)
    return allowed


def _in_scope(principal: Principal, scope: Scope, inbox_id: str | None) -> bool:
    if scope is Scope.ANY_KEY:
        return True
    if scope is Scope.ACCOUNT:
        if principal.kind != "account":
            raise Forbidden("this route needs an account key")
        return True
    if principal.kind == "inbox":
        if inbox_id is None or principal.inbox_id != inbox_id:
            raise NotFound("inbox")
        return True
    # An account key: it may read an inbox itself (the domain query filters by its
    # workspace), but inbox routes need that inbox's key.
    return scope is Scope.INBOX_OR_ACCOUNT


# What each kind of key may do, in the words `GET /v1/auth/me` answers with: see
# `permissions`, which says what each word means.
PERMISSIONS: Final[Mapping[KeyKind, tuple[str, ...]]] = {
    "inbox": ("read", "wait", "send", "memory", "organize"),
    "account": (
        "inboxes",
        "inbox_keys",
        "read",
        "send",
        "events",
        "webhooks",
        "billing",
        "suppressions",
        "lists",
        "domains",
    ),
}


def permissions(principal: Principal) -> tuple[str, ...]:
    """What the key may do: its kind's PERMISSIONS, or for a restricted inbox key the part
    of them it was minted with (in PERMISSIONS' order).

    The words name the routes `authorize` lets each kind of key reach; they grant nothing
    by themselves (the scopes decide), so a new route on a scope belongs under one of them.

    An inbox key acts on its own inbox only:

    - `read`: the inbox (GET /v1/inboxes/{id}), its messages and their raw MIME and
      attachments, threads, artifacts, latest OTP, sent mail, its event stream
      (GET /v1/inboxes/{id}/events), and the allow and block entries that apply to it
      (GET /v1/lists: its workspace's and its own; see `list_reach`).
    - `wait`: waiting for mail (GET /v1/inboxes/{id}/wait).
    - `send`: sending from the inbox (POST /v1/send), replying to its mail
      (POST …/messages/{id}/reply), and its drafts, read or written (…/drafts): a draft is
      outgoing mail in the making, which a key that may not send has no use for.
    - `memory`: writing and reading the inbox's memory (…/memory, …/history, …/keys).
    - `organize`: changing the state of the mail it may read: read or unread, spam or not,
      trashed or not, user labels (PATCH …/messages/{id}, POST …/messages/batch); a key
      minted with it also has `read` (see `key_permissions`), as every change answers with
      the messages changed.

    An account key acts on its whole workspace:

    - `inboxes`: listing and creating inboxes (GET and POST /v1/inboxes).
    - `inbox_keys`: minting, listing and revoking inbox keys (/v1/inboxes/{id}/keys).
    - `read`: reading an inbox's own record (GET /v1/inboxes/{id}); not its mail, which
      needs that inbox's key (the SDK mints one).
    - `send`: sending from any inbox of the workspace, named by `inbox_id` in the body of
      POST /v1/send.
    - `events`: the workspace's event stream (GET /v1/events).
    - `webhooks`: webhook endpoints, their deliveries and replays (/v1/webhooks/endpoints).
    - `billing`: Stripe checkout, x402 quotes and payment confirmations (/v1/billing/…).
    - `suppressions`: listing and lifting suppressed recipients (/v1/suppressions).
    - `lists`: adding, listing and deleting allow and block entries (/v1/lists); an inbox
      key, restricted or not, only lists those of its inbox, and changes none (that would
      let it widen what its inbox takes and sends).
    - `domains`: adding, checking, listing and deleting custom domains (/v1/domains), and
      creating inboxes at them (`domain` of POST /v1/inboxes, under `inboxes`).

    Any key, whatever its permissions, may also ask what it is (GET /v1/auth/me) and read its
    workspace's entitlements (GET /v1/billing/entitlements); any unrestricted key may mint a
    claim token (POST /v1/agent/claim-token, see `check_may_hand_over`).
    """
    words = PERMISSIONS[principal.kind]
    if principal.permissions is None:
        return words
    return tuple(word for word in words if word in principal.permissions)


@attrs.frozen
class ListReach:
    """The allow and block entries a key may list (GET /v1/lists): `own_of`, only that
    inbox's own; `applying_to`, only those that apply to that inbox (its workspace's and its
    own); neither: every entry of the workspace."""

    own_of: str | None
    applying_to: str | None


def list_reach(principal: Principal, inbox_id: str | None) -> ListReach:
    """What a listing of allow and block entries shows this key, `inbox_id` the inbox the
    caller asked about (its own entries only). An account key lists its whole workspace's;
    an inbox key (with `read`, which its route asks for) those that apply to its inbox, and
    any other inbox is a 404 as on every inbox route. Adding and deleting entries needs an
    account key (Scope.ACCOUNT)."""
    if principal.kind == "account":
        return ListReach(own_of=inbox_id, applying_to=None)
    if inbox_id is not None and inbox_id != principal.inbox_id:
        raise NotFound("inbox")
    if inbox_id is not None:
        return ListReach(own_of=inbox_id, applying_to=None)
    return ListReach(own_of=None, applying_to=principal.inbox_id)


def reads_memory(principal: Principal) -> bool:
    """Whether the key may see the inbox's memory (its memory folder, its memory sends)."""
    return "memory" in permissions(principal)


def check_may_hand_over(principal: Principal) -> None:
    """A claim (by a claim token the key mints, or by the key itself) gives the operator
    fresh keys with no restriction, for the whole workspace: so a restricted key may not
    start one (403), or it would be a way out of its own restrictions."""
    if principal.restricted:
        raise Forbidden(
            "a restricted key cannot hand its agent over to an operator: use an unrestricted "
            "key of the agent"
        )


# The senders whose mail a key may read (lowercased patterns, see `sender_pattern`); None:
# anyone's.
Senders = tuple[str, ...] | None

# Restrictions taken when an inbox key is minted.
MAX_SENDER_PATTERNS: Final = 50
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A dot-atom local part (RFC 5322) without `*`, which patterns keep for "any".
_ATOM = r"[a-z0-9!#$%&'+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")


def sender_pattern(raw: str) -> str:
    """One allowed-sender pattern, lowercased (addresses are stored lowercased): an address
    (`noreply@x.com`), any address at a domain (`*@github.com`), or any address at a
    subdomain of a domain (`*.example.com`: `a@mail.example.com`, not `a@example.com`).
    InvalidInput (`param` `allowed_senders`) for anything else."""
    pattern = raw.strip().lower()
    local, at, domain = pattern.rpartition("@")
    if not at:
        local, domain = "", pattern
        if not domain.startswith("*."):
            raise _bad_pattern(raw, "an address, *@domain or *.domain")
        domain = domain[2:]
    elif local != "*" and (len(local) > 64 or not _LOCAL.fullmatch(local)):
        raise _bad_pattern(raw, "its part before @ is * or an address's local part")
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise _bad_pattern(raw, "its domain is not a domain name")
    return pattern


def _bad_pattern(raw: str, why: str) -> InvalidInput:
    shown = raw if len(raw) <= 80 else raw[:80] + "…"
    return InvalidInput(f"allowed sender {shown!r}: {why}", param="allowed_senders")


def sender_patterns(raw: Sequence[str]) -> tuple[str, ...]:
    """The allowed senders of a new key, checked and without repeats."""
    if not raw:
        raise InvalidInput(
            "allowed_senders must name at least one sender (leave it out for any)",
            param="allowed_senders",
        )
    if len(raw) > MAX_SENDER_PATTERNS:
        raise InvalidInput(
            f"allowed_senders takes at most {MAX_SENDER_PATTERNS} patterns",
            param="allowed_senders",
        )
    return tuple(dict.fromkeys(sender_pattern(item) for item in raw))


def key_permissions(raw: Sequence[str]) -> tuple[str, ...]:
    """The permissions of a new inbox key: a non-empty part of the inbox kind's words;
    `organize` only with `read`."""
    if not raw:
        raise InvalidInput(
            "permissions must name at least one permission (leave it out for all)",
            param="permissions",
        )
    unknown = [word for word in raw if word not in PERMISSIONS["inbox"]]
    if unknown:
        raise InvalidInput(
            f"unknown permission {unknown[0][:40]!r}; an inbox key's permissions are "
            + ", ".join(PERMISSIONS["inbox"]),
            param="permissions",
        )
    if "organize" in raw and "read" not in raw:
        raise InvalidInput(
            "the organize permission needs the read permission too", param="permissions"
        )
    return tuple(word for word in PERMISSIONS["inbox"] if word in raw)


def senders_of(principal: Principal) -> Senders:
    """The senders whose mail the key may read; None: anyone's."""
    return principal.allowed_senders


def sender_clause(
    senders: Senders, address: sa.ColumnElement[str | None]
) -> sa.ColumnElement[bool]:
    """In SQL, `sender_allowed` over a (lowercased) From address column."""
    if senders is None:
        return sa.true()
    conditions: list[sa.ColumnElement[bool]] = []
    for pattern in senders:
        if pattern.startswith("*@"):
            conditions.append(address.endswith(pattern[1:], autoescape=True))
        elif pattern.startswith("*."):
            # The suffix holds no @: it lies in the domain, after the address's last @.
            conditions.append(
                sa.and_(address.endswith(pattern[1:], autoescape=True), address.contains("@"))
            )
        else:
            conditions.append(address == pattern)
    return sa.and_(address.is_not(None), sa.or_(*conditions))


def sender_allowed(senders: Senders, address: str | None) -> bool:
    """Whether a message from this (lowercased) From address is one the key may read."""
    if senders is None:
        return True
    if address is None:
        return False
    for pattern in senders:
        if pattern.startswith("*@") and address.endswith(pattern[1:]):
            return True
        if pattern.startswith("*.") and address.endswith(pattern[1:]) and "@" in address:
            return True
        if address == pattern:
            return True
    return False


def refuse_account_key(conn: sa.Connection, principal: Principal, inbox_id: str | None) -> NoReturn:
    """403 with a hint for an inbox of the key's workspace, else 404."""
    if inbox_id is None or not _workspace_has_inbox(conn, principal.workspace_id, inbox_id):
        raise NotFound("inbox")
    raise Forbidden(
        "this route needs an inbox key: use this inbox's key, or mint one with "
        f"POST /v1/inboxes/{inbox_id}/keys"
    )


def _workspace_has_inbox(conn: sa.Connection, workspace_id: str, inbox_id: str) -> bool:
    found = conn.scalar(
        sa.select(t.inboxes.c.id).where(
            t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
        )
    )
    return found is not None


def is_admin(settings: Operators, *, email: str, email_verified: bool) -> bool:
    """An admin manages invite codes and reads the ops status: an operator whose email is on
    DISPATCH_ADMIN_EMAILS, once verified (before, anyone could sign up with that address)."""
    return email_verified and email in settings.admins


@attrs.frozen
class EventReader:
    """What a key restricted to some senders may see of its inbox's event stream: the mail
    received from them, and the inbox's own sends only if its address is among them (as on
    `…/sent`); events about no message (`inbox.created`, entitlements) as any key."""

    senders: tuple[str, ...]
    own_address_allowed: bool

    def sees(self, event_type: str, payload: Mapping[str, Any]) -> bool:
        if event_type == "message.received":
            sender = payload.get("from")
            return sender_allowed(self.senders, sender if isinstance(sender, str) else None)
        if event_type.startswith("message."):
            return self.own_address_allowed
        return True
