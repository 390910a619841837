"""Allow and block lists: which senders an inbox takes mail from, and which recipients it
may send to. The one place their patterns are read and their precedence decided.

An entry belongs to a workspace, and to one inbox or (inbox_id None) to every inbox of the
workspace; it is for mail received (`receive`: the sender is matched) or sent (`send`: each
recipient is matched); it allows or blocks one pattern:

- an address, `a@x.com`: that address only (any case; `+tags` are not removed);
- a domain, `x.com` (or `*@x.com`): any address at x.com, not at its subdomains;
- `*.x.com`: any address at a subdomain of x.com (`a@mail.x.com`), not at x.com itself.

International domains are stored as punycode (`bücher.de` is `xn--bcher-kva.de`), so either
spelling matches. For one inbox and direction, the entries of the inbox and those of its
workspace together decide (`refuses`):

1. a block entry that matches refuses, whatever allows it;
2. else an allow entry that matches takes it;
3. else, if any allow entry exists (allow-list mode), everything else is refused;
4. else it is taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.mail.addresses import ascii_domain_of

Direction = Literal["receive", "send"]
Action = Literal["allow", "block"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("receive", "send")
ACTIONS: Final[tuple[Action, ...]] = ("allow", "block")
WORKSPACE_SCOPE: Final = "workspace"
MAX_PATTERN_CHARS: Final = 320
MAX_ENTRIES: Final = 10_000  # per workspace

_COLUMNS = t.address_lists.c
# A local part as addresses have them, lowercased: no space, control character, `@`, `<>`.
_LOCAL = re.compile(r"[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]{1,64}")


class SenderBlocked(DomainError):
    """Mail whose sender the recipient inbox's receive lists refuse."""

    code = ErrorCode.SENDER_BLOCKED

    def __init__(self) -> None:
        super().__init__("the recipient's lists do not take mail from this sender")


class RecipientBlocked(DomainError):
    code = ErrorCode.RECIPIENT_BLOCKED

    def __init__(self, addresses: Sequence[str], *, param: str = "to") -> None:
        shown = ", ".join(addresses[:10]) + (" …" if len(addresses) > 10 else "")
        super().__init__(
            f"{len(addresses)} recipient(s) are refused by the send lists: {shown}", param=param
        )
        self.addresses = tuple(addresses)


class EntryExists(DomainError):
    code = ErrorCode.LIST_ENTRY_EXISTS


@attrs.frozen(kw_only=True)
class Entry:
    id: str
    inbox_id: str | None
    direction: Direction
    action: Action
    pattern: str
    created_at: datetime


# --- patterns ------------------------------------------------------------------------------


def pattern(raw: str) -> str:
    """The stored form of a pattern (see the module's docstring): lowercased, its domain in
    punycode. InvalidInput (`param` `pattern`) for anything else."""
    if len(raw) > MAX_PATTERN_CHARS:
        raise _bad(raw, f"longer than {MAX_PATTERN_CHARS} characters")
    text = raw.strip().lower()
    if not text:
        raise _bad(raw, "empty")
    local, at, domain = text.rpartition("@")
    if local == "*":  # as restricted keys' allowed senders spell a domain
        local, at = "", ""
    if at and not _LOCAL.fullmatch(local):
        raise _bad(raw, "its part before @ is not an address's local part")
    wildcard = not at and domain.startswith("*.")
    ascii_domain = ascii_domain_of(domain[2:] if wildcard else domain)
    if ascii_domain is None:
        raise _bad(raw, "not an address, a domain or *.domain")
    if at:
        return f"{local}@{ascii_domain}"
    return f"*.{ascii_domain}" if wildcard else ascii_domain


def _bad(raw: str, why: str) -> InvalidInput:
    shown = raw if len(raw) <= 80 else raw[:80] + "…"
    return InvalidInput(f"pattern {shown!r}: {why}", param="pattern")


def candidates(address: str | None) -> list[str]:
    """The patterns that match an address: itself, its domain, and `*.` each parent domain
    (`a@m.x.com`: `a@m.x.com`, `m.x.com`, `*.x.com`). None or a string that is no address
    matches nothing (it is then refused only in allow-list mode)."""
    if not address:
        return []
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    ascii_domain = ascii_domain_of(domain) if at and local else None
    if ascii_domain is None:
        return []
    labels = ascii_domain.split(".")
    parents = ["*." + ".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    return [f"{local}@{ascii_domain}", ascii_domain, *parents]


def sender_of(mail_from: str | None, from_address: str | None) -> str | None:
    """The sender receive lists match: the envelope sender (MAIL FROM) when it is an
    address, else (a null sender `<>`, a bounce; a door that has none) the From address."""
    return mail_from if candidates(mail_from) else from_address


def refuses(*, blocked: bool, allowed: bool, allow_list: bool) -> bool:
    """The precedence rule, given what matched among the entries that apply: block wins,
    then allow, then allow-list mode refuses the rest."""
    return blocked or (allow_list and not allowed)


# --- checks --------------------------------------------------------------------------------


def _applies(workspace_id: Any, inbox_id: Any, direction: Direction) -> sa.ColumnElement[bool]:
    return sa.and_(
        _COLUMNS.workspace_id == workspace_id,
        sa.or_(_COLUMNS.inbox_id.is_(None), _COLUMNS.inbox_id == inbox_id),
        _COLUMNS.direction == direction,
    )


def receive_listed(workspace_id: Any, inbox_id: Any) -> sa.ColumnElement[bool]:
    """In SQL, whether any receive entry applies to the inbox: only then can its lists
    refuse a sender (the ingest pipeline asks `receive_refused` for those inboxes only)."""
    return sa.exists().where(_applies(workspace_id, inbox_id, "receive"))


def receive_flags(
    workspace_id: Any, inbox_id: Any, patterns: sa.BindParameter[Any]
) -> tuple[sa.ColumnElement[bool], ...]:
    """For one statement (the SMTP door's RCPT check, correlated with its inbox): whether a
    receive entry applies at all, a block entry matches, an allow entry matches, an allow
    entry exists; `patterns` an expanding parameter of the sender's `candidates`."""

    def exists(*where: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.exists().where(_applies(workspace_id, inbox_id, "receive"), *where)

    return (
        receive_listed(workspace_id, inbox_id).label("listed"),
        exists(_COLUMNS.action == "block", _COLUMNS.pattern.in_(patterns)).label("blocked"),
        exists(_COLUMNS.action == "allow", _COLUMNS.pattern.in_(patterns)).label("allowed"),
        exists(_COLUMNS.action == "allow").label("allow_list"),
    )


def refused_among(
    conn: sa.Connection,
    workspace_id: str,
    inbox_id: str,
    direction: Direction,
    addresses: Iterable[str | None],
) -> list[str]:
    """The addresses the inbox's lists refuse for this direction, in one query; None (a
    sender that is no address) matches nothing, refused in allow-list mode only."""
    wanted = {address or "<>": candidates(address) for address in addresses}
    every = sorted({p for found in wanted.values() for p in found})
    rows = conn.execute(
        sa.select(_COLUMNS.action, _COLUMNS.pattern).where(
            _applies(workspace_id, inbox_id, direction),
            sa.or_(_COLUMNS.pattern.in_(every), _COLUMNS.action == "allow"),
        )
    ).all()
    if not rows:
        return []
    allow_list = any(row.action == "allow" for row in rows)
    blocks = {row.pattern for row in rows if row.action == "block"}
    allows = {row.pattern for row in rows if row.action == "allow"}
    return sorted(
        address
        for address, found in wanted.items()
        if refuses(
            blocked=not blocks.isdisjoint(found),
            allowed=not allows.isdisjoint(found),
            allow_list=allow_list,
        )
    )


def receive_refused(
    conn: sa.Connection, workspace_id: str, inbox_id: str, sender: str | None
) -> bool:
    """Whether the inbox's receive lists refuse mail from `sender` (None: unknown, refused
    only in allow-list mode)."""
    return bool(refused_among(conn, workspace_id, inbox_id, "receive", [sender]))


# --- the entries ---------------------------------------------------------------------------


def _scope_of(conn: sa.Connection, workspace_id: str, inbox_id: str | None) -> str:
    if inbox_id is None:
        return WORKSPACE_SCOPE
    found = conn.scalar(
        sa.select(t.inboxes.c.id).where(
            t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
        )
    )
    if found is None:
        raise InvalidInput("inbox_id names no inbox of this workspace", param="inbox_id")
    return inbox_id


def add(
    conn: sa.Connection,
    workspace_id: str,
    *,
    inbox_id: str | None,
    direction: Direction,
    action: Action,
    raw_pattern: str,
    now: datetime,
) -> Entry:
    """A new entry; EntryExists (409) when the scope and direction list the pattern already,
    InvalidInput naming the field for a bad pattern or another workspace's inbox."""
    stored = pattern(raw_pattern)
    scope = _scope_of(conn, workspace_id, inbox_id)
    existing = conn.scalar(
        sa.select(_COLUMNS.action).where(
            _COLUMNS.workspace_id == workspace_id,
            _COLUMNS.scope == scope,
            _COLUMNS.direction == direction,
            _COLUMNS.pattern == stored,
        )
    )
    if existing is not None:
        raise EntryExists(
            f"{stored!r} is on this {direction} list already (as {existing}): delete that "
            "entry first",
            param="pattern",
        )
    count = conn.scalar(sa.select(sa.func.count()).where(_COLUMNS.workspace_id == workspace_id))
    if (count or 0) >= MAX_ENTRIES:
        raise InvalidInput(f"a workspace holds at most {MAX_ENTRIES} list entries", param="pattern")
    row = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "inbox_id": inbox_id,
        "scope": scope,
        "direction": direction,
        "action": action,
        "pattern": stored,
        "created_at": now,
    }
    conn.execute(t.address_lists.insert().values(**row))
    return _of(row)


def list_entries(
    conn: sa.Connection,
    workspace_id: str,
    *,
    inbox_id: str | None,
    direction: Direction | None,
    limit: int,
    cursor: Cursor | None,
    applying_to: str | None = None,
) -> Page[Entry]:
    """The workspace's entries, newest first; with `inbox_id`, that inbox's own; with
    `applying_to`, those that apply to that inbox (the workspace's and its own)."""
    query = sa.select(t.address_lists).where(_COLUMNS.workspace_id == workspace_id)
    if inbox_id is not None:
        query = query.where(_COLUMNS.inbox_id == inbox_id)
    if applying_to is not None:
        query = query.where(sa.or_(_COLUMNS.inbox_id.is_(None), _COLUMNS.inbox_id == applying_to))
    if direction is not None:
        query = query.where(_COLUMNS.direction == direction)
    rows, next_cursor = page(
        conn,
        query,
        t.address_lists,
        "list_entry",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
    )
    return Page([_of(row) for row in rows], next_cursor)


def delete(conn: sa.Connection, workspace_id: str, entry_id: str) -> Entry:
    """Delete the entry; the entry it was (404 when the workspace has none by that id)."""
    where = (_COLUMNS.workspace_id == workspace_id, _COLUMNS.id == entry_id)
    row = conn.execute(sa.select(t.address_lists).where(*where)).first()
    if row is None:
        raise NotFound("list entry")
    conn.execute(t.address_lists.delete().where(*where))
    return _of(row)


def _of(row: Any) -> Entry:
    mapping = row if isinstance(row, dict) else row._mapping
    return Entry(
        id=mapping["id"],
        inbox_id=mapping["inbox_id"],
        direction=mapping["direction"],
        action=mapping["action"],
        pattern=mapping["pattern"],
        created_at=mapping["created_at"],
    )
