"""Threads: an inbox's received and sent mail grouped into conversations, assigned once (at
ingest, at send) and read back as pages of thread summaries and single threads.

How a message finds its thread (`plan`):

1. by its headers: the Message-IDs it refers to, In-Reply-To first, then References from
   the newest, then its own Message-ID, looked up among the ids the inbox's threads hold
   (`thread_refs`: every Message-ID their mail carries *or refers to*). A reply that arrives
   before its parent registers the parent's id, so the parent, arriving later, finds the
   reply's thread by its own Message-ID: out-of-order mail ends in one thread, and no
   message ever moves from one thread to another (threads are never merged);
2. only when it has neither In-Reply-To nor References: by its subject, normalised (Re:,
   Fwd:, AW:, SV:, 回复: ... prefixes dropped, whitespace squeezed, casefolded), among the
   inbox's threads active in the last SUBJECT_WINDOW; a send is never threaded by subject
   (a new send is a new conversation; a reply goes to the thread of what it answers);
3. else it starts a thread.

Threaded are the received mail of the inbox folder and the inbox's sends, but memory
writes; spam and quarantined mail have no thread. Trashed mail (domain.labels) and inbox
mail moved to spam keep theirs, but are left out of its view and counts while there. On
PostgreSQL an ingest holds its inbox's row lock while it plans and records, so two
messages of one inbox are threaded one after the other; SQLite has one writer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs
import sqlalchemy as sa

from dispatch_client.extract.html import html_to_text
from dispatch_server.auth.policy import Senders, sender_allowed, sender_clause
from dispatch_server.core.errors import NotFound
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain.messages import PREVIEW_CHARS, SUMMARY_HEADER_CHARS
from dispatch_server.mail.addresses import UnreadableAddresses, parse_addresses
from dispatch_server.mail.compose import MSG_ID

Direction = Literal["received", "sent"]
SUBJECT_WINDOW: Final = timedelta(days=30)
SUBJECT_KEY_CHARS: Final = 255
MAX_THREAD_MESSAGES: Final = 200  # the newest ones a thread shows
PARTICIPANTS: Final = 10  # at most, from its newest SHOWN_FOR_PARTICIPANTS messages
SHOWN_FOR_PARTICIPANTS: Final = 10

# Reply and forward prefixes, as mail clients write them in many languages: Re, Fwd, Fw,
# AW/WG (German), SV/VS (Nordic), Antw/Doorst (Dutch), RIF/I (Italian), TR (French),
# Odp/PD (Polish), RES/ENC (Portuguese), RV (Spanish), YNT/İLT (Turkish), Vá/Továbbítás
# (Hungarian), Ответ/Пересл (Russian), 回复/答复/转发/回覆/轉寄 (Chinese), 返信/転送
# (Japanese), 답장/전달 (Korean), each maybe numbered (Re[2]:, Re(3):).
# Matched at a position (no `^`); no two `\s*` meet, so a run of spaces without the colon
# is given up in linear time (`\s*(?:...)?\s*` backtracked quadratically).
_PREFIX = re.compile(
    r"\s*(?:re|fwd?|aw|wg|sv|vs|antw|doorst|rif|i|tr|odp|pd|res|enc|rv|ynt|i̇lt|ilt|vá|"
    r"továbbítás|ответ|отв|пересл|回复|答复|转发|回覆|轉寄|返信|転送|답장|전달)"
    r"\s*(?:(?:\[\d+\]|\(\d+\))\s*)?[:：]",
    re.IGNORECASE,
)


def subject_key(subject: str | None) -> str | None:
    """The subject as threads compare it: reply and forward prefixes dropped (all of them,
    `Re: Fwd: RE:`), whitespace squeezed, casefolded, at most SUBJECT_KEY_CHARS; None when
    nothing is left."""
    text = subject or ""
    at = 0
    while (match := _PREFIX.match(text, at)) is not None:
        at = match.end()  # no copy of the rest for each prefix
    key = " ".join(text[at:].split()).casefold()[:SUBJECT_KEY_CHARS]
    return key or None


def message_id_of(header: str | None) -> str | None:
    """The msg-id of a Message-ID header (`<...>`, printable ASCII), or None."""
    found = MSG_ID.search(header or "")
    return found.group() if found else None


@attrs.frozen(kw_only=True)
class Headers:
    """What threading reads of a message."""

    message_id: str | None  # its own msg-id
    in_reply_to: str | None
    references: tuple[str, ...] = ()  # oldest first
    subject: str | None = None

    @property
    def wanted(self) -> list[str]:
        """The ids to look up, in order of preference, each once; only well-formed msg-ids
        (stored mail may hold anything)."""
        ids = [self.in_reply_to, *reversed(self.references), self.message_id]
        return list(dict.fromkeys(i for i in ids if i and MSG_ID.fullmatch(i)))


@attrs.frozen(kw_only=True)
class Plan:
    """Where a message goes, read before it is stored (`record` writes it)."""

    thread_id: str
    new: bool
    subject_key: str | None
    unknown_ids: tuple[str, ...]  # ids to register for the thread


_R, _T = t.thread_refs, t.threads
# Built once: statements on the ingest path are executed with parameters only.
_REF = sa.select(_R.c.message_id_header, _R.c.thread_id).where(
    _R.c.inbox_id == sa.bindparam("inbox_id"),
    _R.c.message_id_header == sa.bindparam("message_id"),
)
_REFS = sa.select(_R.c.message_id_header, _R.c.thread_id).where(
    _R.c.inbox_id == sa.bindparam("inbox_id"),
    _R.c.message_id_header.in_(sa.bindparam("ids", expanding=True)),
)
_BY_SUBJECT = (
    sa.select(_T.c.id)
    .where(
        _T.c.inbox_id == sa.bindparam("inbox_id"),
        _T.c.subject_key == sa.bindparam("key"),
        _T.c.last_activity_at >= sa.bindparam("since"),
    )
    .order_by(_T.c.last_activity_at.desc())
    .limit(1)
)
_SUBJECT_MATCH = _BY_SUBJECT.subquery("by_subject")
_REF_OR_SUBJECT = sa.union_all(
    sa.select(sa.false().label("by_subject"), _R.c.message_id_header, _R.c.thread_id).where(
        _R.c.inbox_id == sa.bindparam("inbox_id"),
        _R.c.message_id_header == sa.bindparam("message_id"),
    ),
    sa.select(sa.true(), sa.null(), _SUBJECT_MATCH.c.id),
)
_INSERT_THREAD = _T.insert()


def _touch(insert: Any) -> Any:
    """The thread's last activity moved to now; the thread made again (with the id the
    stored mail already holds) if the retention purge deleted it since `plan` read it. On
    PostgreSQL the insert waits for a purge deleting it meanwhile, then makes it again."""
    statement = insert(_T)
    return statement.on_conflict_do_update(
        index_elements=[_T.c.id],
        set_={"last_activity_at": statement.excluded.last_activity_at},
        where=_T.c.last_activity_at < statement.excluded.last_activity_at,
    )


_TOUCH = dialect.per_dialect(_touch)
_INSERT_REFS = dialect.per_dialect(
    lambda insert: insert(_R).on_conflict_do_nothing(
        index_elements=[_R.c.inbox_id, _R.c.message_id_header]
    )
)


def plan(
    conn: sa.Connection,
    inbox_id: str,
    headers: Headers,
    now: datetime,
    *,
    by_subject: bool = True,
    prefer: str | None = None,
) -> Plan:
    """The thread of a message about to be stored (see the module); reads only. `prefer`:
    the thread to take whatever the headers say (a reply sent through the API, whose
    parent may have had no Message-ID); `by_subject`: whether a message without threading
    headers may join a thread by its subject."""
    wanted = headers.wanted
    key = subject_key(headers.subject)
    subject_match = None
    if by_subject and key and not (headers.in_reply_to or headers.references):
        # Its own Message-ID at most: both look-ups in one statement (the usual mail of an
        # agent's inbox, notifications, has no threading headers).
        params = {
            "inbox_id": inbox_id,
            "message_id": wanted[0] if wanted else "",
            "key": key,
            "since": now - SUBJECT_WINDOW,
        }
        rows = conn.execute(_REF_OR_SUBJECT, params).all()
        subject_match = next((row.thread_id for row in rows if row.by_subject), None)
        rows = [row for row in rows if not row.by_subject]
    elif len(wanted) == 1:
        rows = conn.execute(_REF, {"inbox_id": inbox_id, "message_id": wanted[0]}).all()
    elif wanted:
        rows = conn.execute(_REFS, {"inbox_id": inbox_id, "ids": wanted}).all()
    else:
        rows = []
    known = {row.message_id_header: row.thread_id for row in rows}
    unknown = tuple(i for i in wanted if i not in known)
    found = prefer or next((known[i] for i in wanted if i in known), None) or subject_match
    if found is None:
        return Plan(thread_id=new_id(), new=True, subject_key=key, unknown_ids=unknown)
    return Plan(thread_id=found, new=False, subject_key=key, unknown_ids=unknown)


def record(
    conn: sa.Connection, plan: Plan, *, workspace_id: str, inbox_id: str, now: datetime
) -> None:
    """Write what `plan` decided, once the message is stored: the thread (new, or its last
    activity moved to `now`, made again if purged since `plan`) and the ids it now holds."""
    thread = {
        "id": plan.thread_id,
        "workspace_id": workspace_id,
        "inbox_id": inbox_id,
        "subject_key": plan.subject_key,
        "created_at": now,
        "last_activity_at": now,
    }
    conn.execute(_INSERT_THREAD if plan.new else _TOUCH[dialect.name(conn)], thread)
    if plan.unknown_ids:
        conn.execute(
            _INSERT_REFS[dialect.name(conn)],
            [
                {"inbox_id": inbox_id, "message_id_header": i, "thread_id": plan.thread_id}
                for i in plan.unknown_ids
            ],
        )


def thread_of_message(conn: sa.Connection, inbox_id: str, message_id: str) -> str | None:
    """The thread of a received message of the inbox (what a reply to it joins)."""
    return conn.scalar(
        sa.select(t.messages.c.thread_id).where(
            t.messages.c.inbox_id == inbox_id, t.messages.c.id == message_id
        )
    )


# --- reading -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ThreadMessage:
    """One message of a thread as a thread shows it (the message itself has its bodies)."""

    id: str
    direction: Direction
    from_header: str | None
    from_address: str | None
    to_addresses: tuple[str, ...]
    subject: str | None
    preview: str | None
    at: datetime  # received_at, or a send's created_at
    unread: bool  # received mail not read yet; a send never is
    status: str | None  # a send's


@attrs.frozen(kw_only=True)
class ThreadSummary:
    id: str
    inbox_id: str
    subject: str | None  # its first message's
    participants: tuple[str, ...]
    message_count: int
    unread_count: int
    last_activity_at: datetime
    preview: str | None  # of its newest message
    latest: ThreadMessage


@attrs.frozen(kw_only=True)
class Thread:
    summary: ThreadSummary
    messages: tuple[ThreadMessage, ...]  # oldest first, the newest MAX_THREAD_MESSAGES


@attrs.frozen(kw_only=True)
class _Reader:
    """Whose mail the key may see: the inbox's, within retention, from `senders` only (a
    restricted key), sends only when their From (the inbox's address) is among them."""

    inbox_id: str
    address: str
    cutoff: datetime
    senders: Senders
    sends: bool

    def received(self, *columns: Any) -> sa.Select[Any]:
        m = t.messages
        return (
            sa.select(*columns)
            .join(t.message_security, t.message_security.c.message_id == m.c.id)
            .where(
                m.c.inbox_id == self.inbox_id,
                m.c.thread_id.is_not(None),
                t.message_security.c.folder == "inbox",
                m.c.trashed_at.is_(None),
                m.c.received_at >= self.cutoff,
                sender_clause(self.senders, m.c.from_address),
            )
        )

    def sent(self, *columns: Any) -> sa.Select[Any]:
        o = t.outbound_messages
        return sa.select(*columns).where(
            o.c.inbox_id == self.inbox_id,
            o.c.thread_id.is_not(None),
            o.c.memory_key.is_(None),
            sa.true() if self.sends else sa.false(),
        )


def _reader(conn: sa.Connection, inbox_id: str, *, cutoff: datetime, senders: Senders) -> _Reader:
    address = conn.scalar(sa.select(t.inboxes.c.address).where(t.inboxes.c.id == inbox_id))
    if address is None:
        raise NotFound("inbox")
    return _Reader(
        inbox_id=inbox_id,
        address=address,
        cutoff=cutoff,
        senders=senders,
        sends=sender_allowed(senders, address),
    )


def _start(column: Any, chars: int) -> Any:
    return sa.func.substr(column, 1, chars)


def _ids(ids: Sequence[str]) -> sa.BindParameter[Any]:
    return sa.bindparam("ids", list(ids), expanding=True)


def _rows(reader: _Reader, thread_ids: sa.BindParameter[Any] | None = None) -> sa.Subquery:
    """The visible messages of the inbox's threads (of those `thread_ids` selects), as
    ThreadMessage columns, received and sent in one."""
    m, o = t.messages, t.outbound_messages
    received = reader.received(
        m.c.thread_id,
        m.c.id,
        sa.literal("received").label("direction"),
        _start(m.c.from_header, SUMMARY_HEADER_CHARS + 1).label("from_header"),
        m.c.from_address,
        m.c.to_addresses,
        m.c.cc_addresses,
        _start(m.c.subject, SUMMARY_HEADER_CHARS + 1).label("subject"),
        _start(m.c.text_body, 2000).label("text_start"),
        _start(m.c.html_body, 4000).label("html_start"),
        m.c.received_at.label("at"),
        m.c.read_at.is_(None).label("unread"),
        sa.null().label("status"),
    )
    sent = reader.sent(
        o.c.thread_id,
        o.c.id,
        sa.literal("sent").label("direction"),
        o.c.from_address.label("from_header"),
        o.c.from_address,
        o.c.to_addresses,
        o.c.cc_addresses,
        _start(o.c.subject, SUMMARY_HEADER_CHARS + 1).label("subject"),
        _start(o.c.text_body, 2000).label("text_start"),
        _start(o.c.html_body, 4000).label("html_start"),
        o.c.created_at.label("at"),
        sa.false().label("unread"),
        o.c.status,
    )
    if thread_ids is not None:
        received = received.where(m.c.thread_id.in_(thread_ids))
        sent = sent.where(o.c.thread_id.in_(thread_ids))
    return sa.union_all(received, sent).subquery("thread_messages")


def _message(row: Any) -> ThreadMessage:
    if row.text_start is not None:
        preview = " ".join(row.text_start.split()) or None
    elif row.html_start is not None:
        preview = " ".join(html_to_text(row.html_start).split()) or None
    else:
        preview = None
    to = tuple(_addresses(row.to_addresses))
    return ThreadMessage(
        id=row.id,
        direction=row.direction,
        from_header=_cut(row.from_header, SUMMARY_HEADER_CHARS),
        from_address=row.from_address,
        to_addresses=to[:PARTICIPANTS],
        subject=_cut(row.subject, SUMMARY_HEADER_CHARS),
        preview=_cut(preview, PREVIEW_CHARS),
        at=row.at,
        unread=bool(row.unread),
        status=row.status,
    )


def _addresses(values: Sequence[str]) -> list[str]:
    """Lowercased addresses of stored To/Cc values (a send stores `Name <address>`)."""
    found: list[str] = []
    for value in values:
        try:
            found += [address.lower() for _, address in parse_addresses([value], header="To")]
        except UnreadableAddresses:
            continue
    return found


def _cut(text: str | None, chars: int) -> str | None:
    if text is None or len(text) <= chars:
        return text
    return text[: chars - 1] + "…"


def _summaries(
    conn: sa.Connection, reader: _Reader, ids: Sequence[str]
) -> dict[str, ThreadSummary]:
    """The summaries of these threads, from what the key sees of them, in one windowed
    query: their counts, first and newest messages (one statement, so at read committed mail
    arriving meanwhile is in all of them or in none)."""
    if not ids:
        return {}
    rows = _rows(reader, _ids(ids))
    by = rows.c.thread_id
    newest = sa.func.row_number().over(
        partition_by=by, order_by=(rows.c.at.desc(), rows.c.id.desc())
    )
    oldest = sa.func.row_number().over(partition_by=by, order_by=(rows.c.at, rows.c.id))
    messages = sa.func.count().over(partition_by=by)
    unread = sa.func.sum(sa.case((rows.c.unread, 1), else_=0)).over(partition_by=by)
    ranked = sa.select(
        rows,
        newest.label("newest"),
        oldest.label("oldest"),
        messages.label("messages"),
        unread.label("unread_count"),
    ).subquery("ranked")
    shown = conn.execute(
        sa.select(ranked)
        .where(sa.or_(ranked.c.newest <= SHOWN_FOR_PARTICIPANTS, ranked.c.oldest == 1))
        .order_by(ranked.c.thread_id, ranked.c.newest)
    ).all()
    by_thread: dict[str, list[Any]] = {}
    for row in shown:
        by_thread.setdefault(row.thread_id, []).append(row)
    found: dict[str, ThreadSummary] = {}
    for thread_id, group in by_thread.items():
        latest = _message(group[0])
        first = next(row for row in group if row.oldest == 1)
        participants: dict[str, None] = {}
        for row in group:
            if row.newest > SHOWN_FOR_PARTICIPANTS:
                continue
            for address in (row.from_address, *_addresses([*row.to_addresses, *row.cc_addresses])):
                if address and address.lower() != reader.address:
                    participants[address.lower()] = None
        found[thread_id] = ThreadSummary(
            id=thread_id,
            inbox_id=reader.inbox_id,
            subject=_cut(first.subject, SUMMARY_HEADER_CHARS),
            participants=tuple(participants)[:PARTICIPANTS],
            message_count=int(group[0].messages),
            unread_count=int(group[0].unread_count or 0),
            last_activity_at=latest.at,
            preview=latest.preview,
            latest=latest,
        )
    return found


def list_threads(
    conn: sa.Connection,
    inbox_id: str,
    *,
    limit: int,
    cursor: Cursor | None,
    cutoff: datetime,
    senders: Senders = None,
) -> Page[ThreadSummary]:
    """The inbox's threads, latest activity first. A key restricted to some senders sees
    the threads holding mail it may read, and only that mail in their counts, participants
    and previews; they keep the order of the threads' activity."""
    reader = _reader(conn, inbox_id, cutoff=cutoff, senders=senders)
    query = sa.select(_T.c.id, _T.c.last_activity_at).where(
        _T.c.inbox_id == inbox_id, _T.c.last_activity_at >= cutoff
    )
    if senders is not None:
        m, o = t.messages, t.outbound_messages
        visible = [sa.exists(reader.received(m.c.id).where(m.c.thread_id == _T.c.id))]
        if reader.sends:
            visible.append(sa.exists(reader.sent(o.c.id).where(o.c.thread_id == _T.c.id)))
        query = query.where(sa.or_(*visible))
    rows, next_cursor = page(
        conn,
        query,
        _T,
        "thread",
        limit=limit,
        cursor=cursor,
        time_column="last_activity_at",
    )
    found = _summaries(conn, reader, [row.id for row in rows])
    return Page([found[row.id] for row in rows if row.id in found], next_cursor)


def get_thread(
    conn: sa.Connection,
    inbox_id: str,
    thread_id: str,
    *,
    cutoff: datetime,
    senders: Senders = None,
) -> Thread:
    """A thread of the inbox with what the key sees of its messages, oldest first (the
    newest MAX_THREAD_MESSAGES); 404 when it has none the key may see."""
    if not is_id(thread_id):
        raise NotFound("thread")
    reader = _reader(conn, inbox_id, cutoff=cutoff, senders=senders)
    summary = _summaries(conn, reader, [thread_id]).get(thread_id)
    if summary is None:
        raise NotFound("thread")
    return Thread(summary=summary, messages=_messages_of(conn, reader, thread_id))


def _messages_of(conn: sa.Connection, reader: _Reader, thread_id: str) -> tuple[ThreadMessage, ...]:
    rows = _rows(reader, _ids([thread_id]))
    newest = conn.execute(
        sa.select(rows).order_by(rows.c.at.desc(), rows.c.id.desc()).limit(MAX_THREAD_MESSAGES)
    ).all()
    return tuple(_message(row) for row in reversed(newest))
