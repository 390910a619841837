"""Drafts: messages an inbox is writing, saved before they are sent.

A draft holds a send's fields (dispatch_server.domain.sends.SendFields but attachments),
any of them still missing: it is checked only against caps when saved (lengths, counts; the
message it replies to must be the inbox's), and in full when sent, by the send path itself
(`as_send`), with the send's error codes. Each update adds one to its `version`; an update
naming an older version is refused (`DraftChanged`), and so is the send of a draft updated
while it was composed. Sending deletes the draft in the transaction that queues its send
(`take`), so a draft is sent once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server.auth.policy import Senders, sender_clause
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain.sends import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, SendFields
from dispatch_server.mail.addresses import check_recipient_count

MAX_DRAFTS = 1000  # per inbox
MAX_ADDRESS_CHARS = 998  # one address as given, its display name included
MAX_HEADERS = 50
MAX_HEADER_NAME_CHARS = 100
MAX_HEADER_VALUE_CHARS = 998

_D = t.drafts.c


class DraftChanged(DomainError):
    code = ErrorCode.DRAFT_CHANGED

    def __init__(self, message: str) -> None:
        super().__init__(message, param="version")


@attrs.frozen(kw_only=True)
class DraftFields:
    """What a draft says, as given."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    in_reply_to: str | None = None  # the id of a message the inbox received


# The fields an update may change, each left out to keep it.
FIELD_NAMES = tuple(a.name for a in attrs.fields(DraftFields))


@attrs.frozen(kw_only=True)
class Draft:
    id: str
    inbox_id: str
    fields: DraftFields
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> Draft:
        return cls(
            id=row.id,
            inbox_id=row.inbox_id,
            fields=DraftFields(
                to=tuple(row.to_addresses),
                cc=tuple(row.cc_addresses),
                bcc=tuple(row.bcc_addresses),
                reply_to=tuple(row.reply_to),
                subject=row.subject,
                text=row.text_body,
                html=row.html_body,
                headers=dict(row.headers),
                in_reply_to=row.in_reply_to,
            ),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def as_send(draft: Draft) -> SendFields:
    """The send of the draft, for the send path to validate in full."""
    f = draft.fields
    return SendFields(
        to=f.to,
        cc=f.cc,
        bcc=f.bcc,
        reply_to=f.reply_to,
        subject=f.subject,
        text=f.text,
        html=f.html,
        headers=dict(f.headers),
        in_reply_to=f.in_reply_to,
    )


def check_caps(fields: DraftFields, *, max_recipients: int) -> None:
    """What a draft must keep to even unfinished: an InvalidInput naming the field."""
    check_recipient_count(len(fields.to) + len(fields.cc) + len(fields.bcc), max_recipients, "to")
    check_recipient_count(len(fields.reply_to), max_recipients, "reply_to")
    for name in ("to", "cc", "bcc", "reply_to"):
        for value in getattr(fields, name):
            if len(value) > MAX_ADDRESS_CHARS:
                raise InvalidInput(
                    f"an address in {name} is longer than {MAX_ADDRESS_CHARS} characters",
                    param=name,
                )
    if len(fields.subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(
            f"subject is longer than {MAX_SUBJECT_CHARS} characters", param="subject"
        )
    for name, body in (("text", fields.text), ("html", fields.html)):
        if body is not None and len(body) > MAX_BODY_CHARS:
            raise InvalidInput(f"{name} is longer than {MAX_BODY_CHARS} characters", param=name)
    if len(fields.headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} headers", param="headers")
    for header, value in fields.headers.items():
        if not header or len(header) > MAX_HEADER_NAME_CHARS:
            raise InvalidInput(
                f"a header name is 1 to {MAX_HEADER_NAME_CHARS} characters", param="headers"
            )
        if len(value) > MAX_HEADER_VALUE_CHARS:
            raise InvalidInput(
                f"a header value is at most {MAX_HEADER_VALUE_CHARS} characters",
                param="headers",
            )


def _check_reply(conn: sa.Connection, inbox_id: str, message_id: str, senders: Senders) -> None:
    """The message a draft replies to is the inbox's (and, for a restricted key, from its
    senders); else the InvalidInput a send would give."""
    found = conn.scalar(
        sa.select(t.messages.c.id).where(
            t.messages.c.inbox_id == inbox_id,
            t.messages.c.id == message_id,
            sender_clause(senders, t.messages.c.from_address),
        )
    )
    if found is None:
        raise InvalidInput(
            f"in_reply_to: no message {message_id[:40]!r} in this inbox", param="in_reply_to"
        )


def _visible(senders: Senders) -> sa.ColumnElement[bool]:
    """Drafts a key restricted to `senders` sees: those replying to nothing, or to mail from
    its senders (another draft would show a message id it may not read)."""
    if senders is None:
        return sa.true()
    replied = sa.exists().where(
        t.messages.c.id == _D.in_reply_to,
        t.messages.c.inbox_id == _D.inbox_id,
        sender_clause(senders, t.messages.c.from_address),
    )
    return sa.or_(_D.in_reply_to.is_(None), replied)


def _values(fields: DraftFields) -> dict[str, Any]:
    return {
        "to_addresses": list(fields.to),
        "cc_addresses": list(fields.cc),
        "bcc_addresses": list(fields.bcc),
        "reply_to": list(fields.reply_to),
        "subject": fields.subject,
        "text_body": fields.text,
        "html_body": fields.html,
        "headers": dict(fields.headers),
        "in_reply_to": fields.in_reply_to or None,
    }


def create_draft(
    conn: sa.Connection,
    workspace_id: str,
    inbox_id: str,
    fields: DraftFields,
    *,
    now: datetime,
    max_recipients: int,
    senders: Senders = None,
) -> Draft:
    """Save a new draft of the inbox (at most MAX_DRAFTS an inbox: more is an InvalidInput)."""
    check_caps(fields, max_recipients=max_recipients)
    if fields.in_reply_to:
        _check_reply(conn, inbox_id, fields.in_reply_to, senders)
    count = (
        conn.scalar(sa.select(sa.func.count()).select_from(t.drafts).where(_D.inbox_id == inbox_id))
        or 0
    )
    if count >= MAX_DRAFTS:
        raise InvalidInput(
            f"the inbox has {MAX_DRAFTS} drafts, the most it keeps: send or delete some"
        )
    draft_id = new_id()
    conn.execute(
        t.drafts.insert().values(
            id=draft_id,
            workspace_id=workspace_id,
            inbox_id=inbox_id,
            version=1,
            created_at=now,
            updated_at=now,
            **_values(fields),
        )
    )
    return get_draft(conn, inbox_id, draft_id)


def get_draft(
    conn: sa.Connection, inbox_id: str, draft_id: str, *, senders: Senders = None
) -> Draft:
    row = conn.execute(
        sa.select(t.drafts).where(_D.inbox_id == inbox_id, _D.id == draft_id, _visible(senders))
    ).first()
    if row is None:
        raise NotFound("draft")
    return Draft.of(row)


def list_drafts(
    conn: sa.Connection,
    inbox_id: str,
    *,
    limit: int,
    cursor: Cursor | None,
    senders: Senders = None,
) -> Page[Draft]:
    """The inbox's drafts, the latest updated first."""
    query = sa.select(t.drafts).where(_D.inbox_id == inbox_id, _visible(senders))
    rows, next_cursor = page(
        conn, query, t.drafts, "draft", limit=limit, cursor=cursor, time_column="updated_at"
    )
    return Page([Draft.of(row) for row in rows], next_cursor)


def update_draft(
    conn: sa.Connection,
    inbox_id: str,
    draft_id: str,
    changes: Mapping[str, Any],
    *,
    version: int | None,
    now: datetime,
    max_recipients: int,
    senders: Senders = None,
) -> Draft:
    """Change the fields named in `changes` (FIELD_NAMES; `in_reply_to` "" replies to
    nothing), the others kept. With `version`, only if the draft is still at it
    (DraftChanged); the version goes up by one."""
    unknown = set(changes) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"not draft fields: {sorted(unknown)}")
    current = get_draft(conn, inbox_id, draft_id, senders=senders)
    if version is not None and version != current.version:
        raise DraftChanged(
            f"the draft is at version {current.version}, not {version}: read it again"
        )
    fields = attrs.evolve(current.fields, **changes)
    check_caps(fields, max_recipients=max_recipients)
    if fields.in_reply_to and fields.in_reply_to != current.fields.in_reply_to:
        _check_reply(conn, inbox_id, fields.in_reply_to, senders)
    updated = conn.execute(
        t.drafts.update()
        .where(_D.id == draft_id, _D.version == current.version)
        .values(version=current.version + 1, updated_at=now, **_values(fields))
    )
    if updated.rowcount != 1:  # an update committed since the read (PostgreSQL)
        raise DraftChanged("the draft was updated at the same time: read it again")
    return get_draft(conn, inbox_id, draft_id)


def delete_draft(
    conn: sa.Connection, inbox_id: str, draft_id: str, *, senders: Senders = None
) -> Draft:
    draft = get_draft(conn, inbox_id, draft_id, senders=senders)
    conn.execute(t.drafts.delete().where(_D.id == draft.id))
    return draft


def take(conn: sa.Connection, inbox_id: str, draft_id: str, *, version: int) -> None:
    """Delete the draft being sent, in the transaction that queues its send: NotFound if it
    is gone (sent or deleted meanwhile), DraftChanged if it was updated since it was read
    (the send, composed from the older version, is then not queued)."""
    deleted = conn.execute(
        t.drafts.delete().where(_D.inbox_id == inbox_id, _D.id == draft_id, _D.version == version)
    )
    if deleted.rowcount == 1:
        return
    if conn.scalar(sa.select(_D.id).where(_D.inbox_id == inbox_id, _D.id == draft_id)):
        raise DraftChanged("the draft was updated while it was being sent: send it again")
    raise NotFound("draft")
