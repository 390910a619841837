"""Reading stored mail: pages of message summaries, single messages, raw MIME, artifacts,
the OTP; with each message its read state, its trash state and its user labels (which
dispatch_server.domain.labels changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_client.extract.html import html_to_text
from dispatch_server.auth.policy import Senders, sender_clause
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import MissingPermission, NotFound
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.mail import verdicts
from dispatch_server.mail.parse import Attachment

# Where a message went (mail.verdicts decides): quarantine holds mail with a virus; memory
# the inbox's own memory writes (dispatch_server.domain.memory), kept out of the inbox so
# they never answer a wait or give an OTP.
Folder = Literal["inbox", "spam", "quarantine", "memory"]
# A folder filter reads untrashed mail only, but "all" (everything) and "trash" (the trashed
# mail of every folder); the "_but_memory" forms are what a key without `memory` gets.
FolderFilter = Literal[
    "inbox", "spam", "quarantine", "memory", "all", "all_but_memory", "trash", "trash_but_memory"
]
ArtifactKind = Literal["otp", "link"]
# The values each choice takes; the HTTP parameters and the OpenAPI enums come from these.
FOLDER_FILTERS: tuple[FolderFilter, ...] = ("inbox", "spam", "quarantine", "memory", "all")
# A listing's also take the trash (a wait's do not: new mail is never in it).
LISTING_FOLDERS: tuple[FolderFilter, ...] = (*FOLDER_FILTERS, "trash")
ARTIFACT_KINDS: tuple[ArtifactKind, ...] = ("otp", "link")


@attrs.frozen(kw_only=True)
class Message:
    id: str
    inbox_id: str
    from_header: str | None
    from_address: str | None
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    subject: str | None
    text_body: str | None
    html_body: str | None
    message_id_header: str | None
    folder: Folder
    size_bytes: int
    received_at: datetime
    attachments: tuple[Attachment, ...]
    verdicts: verdicts.Verdicts = attrs.field(factory=verdicts.Verdicts)
    folder_reason: str | None = None  # why it is not in the inbox
    thread_id: str | None = None  # see domain.threads
    read_at: datetime | None = None  # null: unread
    trashed_at: datetime | None = None  # null: not in the trash
    labels: tuple[str, ...] = ()  # its user labels, by name

    @classmethod
    def of(cls, row: Any, labels: tuple[str, ...] = ()) -> Message:
        """From a row of MESSAGE_COLUMNS."""
        found, reason = verdicts.read_back(row)
        return cls(
            id=row.id,
            inbox_id=row.inbox_id,
            from_header=row.from_header,
            from_address=row.from_address,
            to_addresses=tuple(row.to_addresses),
            cc_addresses=tuple(row.cc_addresses),
            subject=row.subject,
            text_body=row.text_body,
            html_body=row.html_body,
            message_id_header=row.message_id_header,
            folder=row.folder,
            size_bytes=row.size_bytes,
            received_at=row.received_at,
            attachments=tuple(Attachment(**a) for a in row.attachments),
            verdicts=found,
            folder_reason=reason,
            thread_id=row.thread_id,
            # An ingest's own rows have no such columns: new mail is unread, not trashed.
            read_at=getattr(row, "read_at", None),
            trashed_at=getattr(row, "trashed_at", None),
            labels=labels,
        )


# A summary is small whatever the message: its texts are cut to these many characters (a cut
# text ends with "…"), and it names only the first To addresses.
PREVIEW_CHARS = 200
SUMMARY_HEADER_CHARS = 998  # the longest header line RFC 5322 allows
SUMMARY_ADDRESSES = 10
# How much of a body the database hands over to make a preview from: enough to fill one
# after whitespace is squeezed (and, for HTML, after markup and styles are dropped).
_TEXT_PREVIEW_SOURCE = 2000
_HTML_PREVIEW_SOURCE = 4000


@attrs.frozen(kw_only=True)
class MessageSummary:
    """What a listing shows of a message: never its bodies, so a page stays small."""

    id: str
    inbox_id: str
    from_header: str | None
    from_address: str | None
    to_addresses: tuple[str, ...]
    subject: str | None
    preview: str | None
    folder: Folder
    size_bytes: int
    received_at: datetime
    attachment_count: int
    has_otp: bool
    has_link: bool
    read_at: datetime | None = None  # when it was first marked read (desk, API)
    thread_id: str | None = None
    trashed_at: datetime | None = None
    labels: tuple[str, ...] = ()

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @classmethod
    def of(cls, row: Any, labels: tuple[str, ...] = ()) -> MessageSummary:
        if row.text_start is not None:
            preview = _squeezed(row.text_start)
        elif row.html_start is not None:
            preview = _squeezed(html_to_text(row.html_start))
        else:
            preview = None
        return cls(
            id=row.id,
            inbox_id=row.inbox_id,
            from_header=_cut(row.from_start, SUMMARY_HEADER_CHARS),
            from_address=row.from_address,
            to_addresses=tuple(row.to_addresses[:SUMMARY_ADDRESSES]),
            subject=_cut(row.subject_start, SUMMARY_HEADER_CHARS),
            preview=_cut(preview, PREVIEW_CHARS),
            folder=row.folder,
            size_bytes=row.size_bytes,
            received_at=row.received_at,
            attachment_count=len(row.attachments),
            has_otp=row.has_otp,
            has_link=row.has_link,
            read_at=row.read_at,
            thread_id=row.thread_id,
            trashed_at=row.trashed_at,
            labels=labels,
        )


def _squeezed(text: str) -> str | None:
    return " ".join(text.split()) or None


def _cut(text: str | None, chars: int) -> str | None:
    if text is None or len(text) <= chars:
        return text
    return text[: chars - 1] + "…"


@attrs.frozen(kw_only=True)
class Artifact:
    """A value extracted from a message: an OTP code or a link."""

    id: str
    message_id: str
    kind: ArtifactKind
    value: str
    is_primary: bool
    received_at: datetime
    # A code used once (see domain.waits.claim_otp): null unless a consuming wait took it.
    consumed_at: datetime | None = None
    lease_expires_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Artifact:
        return cls(
            id=row.id,
            message_id=row.message_id,
            kind=row.kind,
            value=row.value,
            is_primary=row.is_primary,
            received_at=row.received_at,
            # An ingest's own rows have no such columns yet: nothing consumed them.
            consumed_at=getattr(row, "consumed_at", None),
            lease_expires_at=getattr(row, "lease_expires_at", None),
        )


@attrs.frozen(kw_only=True)
class MessageWithArtifacts:
    message: Message
    artifacts: tuple[Artifact, ...]
    # The lease of its OTP, in the answer of the consuming wait that took it (and only there).
    lease_id: str | None = None

    @property
    def otp(self) -> Otp | None:
        """The message's primary OTP, with the sender, subject and time of the message."""
        found = next((a for a in self.artifacts if a.kind == "otp" and a.is_primary), None)
        if found is None:
            return None
        message = self.message
        return Otp(
            code=found.value,
            message_id=message.id,
            from_header=message.from_header,
            subject=message.subject,
            received_at=message.received_at,
            id=found.id,
            consumed_at=found.consumed_at,
            lease_expires_at=found.lease_expires_at,
            lease_id=self.lease_id,
        )

    @property
    def link(self) -> Artifact | None:
        """The message's primary link, else its first link."""
        links = [a for a in self.artifacts if a.kind == "link"]
        return next((a for a in links if a.is_primary), links[0] if links else None)


@attrs.frozen(kw_only=True)
class Otp:
    """An OTP with the sender, subject and time of the message it came in."""

    code: str
    message_id: str
    from_header: str | None
    subject: str | None
    received_at: datetime
    id: str | None = None  # the artifact's
    consumed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    lease_id: str | None = None  # only in the answer of the consuming wait that leased it

    def consumed(self, now: datetime) -> bool:
        """Whether a consuming wait took it and it is not back in the pool (lease lapsed)."""
        if self.consumed_at is None:
            return False
        return self.lease_expires_at is None or self.lease_expires_at > now


MESSAGE_COLUMNS = [c for c in t.messages.c if c.name != "raw_mime"] + [
    c for c in t.message_security.c if c.name != "message_id"
]


def retention_cutoff(retention_days: int) -> datetime:
    return utcnow() - timedelta(days=retention_days)


def visible_folder(folder: FolderFilter, *, memory: bool) -> FolderFilter:
    """The folder a read asks for, as a key may see it: without `memory` (a restricted key
    minted without that permission) the memory folder is refused and "all" is every other."""
    if memory:
        return folder
    if folder == "memory":
        raise MissingPermission("memory")
    if folder == "all":
        return "all_but_memory"
    return "trash_but_memory" if folder == "trash" else folder


def folder_clause(folder: FolderFilter) -> sa.ColumnElement[bool]:
    """The messages a folder filter reads: a folder's untrashed mail, everything ("all"),
    or the trash of every folder."""
    sec, trashed = t.message_security.c.folder, t.messages.c.trashed_at
    if folder == "all":
        return sa.true()
    if folder == "all_but_memory":
        return sec != "memory"
    if folder == "trash":
        return trashed.is_not(None)
    if folder == "trash_but_memory":
        return sa.and_(trashed.is_not(None), sec != "memory")
    return sa.and_(sec == folder, trashed.is_(None))


def in_folder(folder: FolderFilter, actual: str, trashed: bool = False) -> bool:
    """`folder_clause` in memory, for a message whose folder is `actual`."""
    if folder == "all":
        return True
    if folder == "all_but_memory":
        return actual != "memory"
    if folder in ("trash", "trash_but_memory"):
        return trashed and (folder == "trash" or actual != "memory")
    return folder == actual and not trashed


def messages_of(
    inbox_id: str,
    cutoff: datetime,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
    *,
    senders: Senders = None,
) -> sa.Select[Any]:
    """The inbox's messages still within retention, with their folder (`columns` of them:
    the whole message unless given); from `senders` only, for a key restricted to them."""
    return (
        sa.select(*(MESSAGE_COLUMNS if columns is None else columns))
        .join(t.message_security, t.message_security.c.message_id == t.messages.c.id)
        .where(
            t.messages.c.inbox_id == inbox_id,
            t.messages.c.received_at >= cutoff,
            sender_clause(senders, t.messages.c.from_address),
        )
    )


def _start(column: sa.ColumnElement[Any], chars: int) -> sa.ColumnElement[Any]:
    """The first `chars` characters of a text column: a summary never loads a whole body."""
    return sa.func.substr(column, 1, chars)


def _has_artifact(kind: ArtifactKind, *, primary: bool) -> sa.ColumnElement[bool]:
    """Whether the row's message has such an artifact: a look-up by message id, per row of
    the page. Not an EXISTS: PostgreSQL may run an EXISTS in the select list as a hashed
    subplan, which reads every artifact of every inbox to answer for the 21 rows of a page
    (it costs the subplan for all the rows the query could return, not for the LIMIT's)."""
    a = t.artifacts
    found = sa.select(sa.literal(1)).where(a.c.message_id == t.messages.c.id, a.c.kind == kind)
    if primary:
        found = found.where(a.c.is_primary.is_(True))
    return found.limit(1).scalar_subquery().is_not(None)


_m = t.messages
SUMMARY_COLUMNS = [
    _m.c.id,
    _m.c.inbox_id,
    _start(_m.c.from_header, SUMMARY_HEADER_CHARS + 1).label("from_start"),
    _m.c.from_address,
    _m.c.to_addresses,
    _start(_m.c.subject, SUMMARY_HEADER_CHARS + 1).label("subject_start"),
    _start(_m.c.text_body, _TEXT_PREVIEW_SOURCE).label("text_start"),
    sa.case(
        (_m.c.text_body.is_(None), _start(_m.c.html_body, _HTML_PREVIEW_SOURCE)), else_=None
    ).label("html_start"),
    _m.c.attachments,
    _m.c.size_bytes,
    _m.c.received_at,
    t.message_security.c.folder,
    # has_otp says whether the message has the code `GET …/messages/{id}` would give as its
    # OTP; has_link whether it has any link.
    _has_artifact("otp", primary=True).label("has_otp"),
    _has_artifact("link", primary=False).label("has_link"),
    _m.c.read_at,
    _m.c.thread_id,
    _m.c.trashed_at,
]


def labels_of(conn: sa.Connection, message_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The user labels of these messages, each message's by name (casefolded order)."""
    if not message_ids:
        return {}
    ml = t.message_labels
    rows = conn.execute(
        sa.select(ml.c.message_id, ml.c.name)
        .where(ml.c.message_id.in_(sa.bindparam("ids", list(message_ids), expanding=True)))
        .order_by(ml.c.message_id, ml.c.key)
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.message_id, []).append(row.name)
    return {message_id: tuple(names) for message_id, names in found.items()}


def labelled(key: str) -> sa.ColumnElement[bool]:
    """The message has the user label of this (casefolded) key."""
    ml = t.message_labels
    return sa.exists().where(ml.c.message_id == _m.c.id, ml.c.key == key)


def summaries(conn: sa.Connection, rows: Sequence[Any]) -> list[MessageSummary]:
    """Summaries of SUMMARY_COLUMNS rows, with their labels."""
    found = labels_of(conn, [row.id for row in rows])
    return [MessageSummary.of(row, found.get(row.id, ())) for row in rows]


def list_messages(
    conn: sa.Connection,
    inbox_id: str,
    *,
    folder: FolderFilter,
    limit: int,
    cursor: Cursor | None,
    cutoff: datetime,
    senders: Senders = None,
    label_key: str | None = None,
    unread: bool | None = None,
) -> Page[MessageSummary]:
    """Summaries of the inbox's messages, newest first; with `label_key` only those with
    that user label (see labels.label_key), with `unread` only unread (True) or read
    (False) ones."""
    query = messages_of(inbox_id, cutoff, SUMMARY_COLUMNS, senders=senders)
    query = query.where(folder_clause(folder))
    if label_key is not None:
        query = query.where(labelled(label_key))
    if unread is not None:
        query = query.where(_m.c.read_at.is_(None) if unread else _m.c.read_at.is_not(None))
    rows, next_cursor = page(conn, query, _m, "message", limit=limit, cursor=cursor)
    return Page(summaries(conn, list(rows)), next_cursor)


# A search is a substring match: its text is cut to this many characters.
MAX_QUERY_CHARS = 200
_LIKE_ESCAPE = "\\"
_SEARCHED = (_m.c.subject, _m.c.from_header, _m.c.from_address, _m.c.text_body)


def search_text(query: str) -> str:
    """What a search looks for: the query without NUL bytes and lone surrogates (which no
    stored text holds, and PostgreSQL refuses), stripped, at most MAX_QUERY_CHARS."""
    kept = "".join(c for c in query if c != "\x00" and not "\ud800" <= c <= "\udfff")
    return kept.strip()[:MAX_QUERY_CHARS]


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its wildcards and escape taken literally."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return f"%{text}%"


def search(
    conn: sa.Connection,
    inbox_id: str,
    query: str,
    *,
    limit: int,
    cutoff: datetime,
    folder: FolderFilter = "inbox",
) -> list[MessageSummary]:
    """Summaries of the messages whose subject, From, sender address or text contain the
    query, case-insensitively (ASCII letters on SQLite, all on PostgreSQL), newest first.
    An empty query finds the newest messages. No ranking: a substring match."""
    text = search_text(query)
    select = messages_of(inbox_id, cutoff, SUMMARY_COLUMNS).where(folder_clause(folder))
    if text:
        pattern: sa.BindParameter[str] = sa.bindparam("pattern", like_pattern(text.lower()))
        select = select.where(
            sa.or_(*(sa.func.lower(c).like(pattern, escape=_LIKE_ESCAPE) for c in _SEARCHED))
        )
    select = select.order_by(_m.c.received_at.desc(), _m.c.id.desc()).limit(limit)
    return summaries(conn, list(conn.execute(select)))


def mark_read(conn: sa.Connection, inbox_id: str, message_id: str, now: datetime) -> bool:
    """Mark the message read (it keeps the first time); True when it was unread."""
    result = conn.execute(
        _m.update()
        .where(_m.c.inbox_id == inbox_id, _m.c.id == message_id, _m.c.read_at.is_(None))
        .values(read_at=now)
    )
    return result.rowcount == 1


def mark_unread(conn: sa.Connection, inbox_id: str, message_id: str) -> None:
    result = conn.execute(
        _m.update().where(_m.c.inbox_id == inbox_id, _m.c.id == message_id).values(read_at=None)
    )
    if result.rowcount != 1:
        raise NotFound("message")


def get_message(
    conn: sa.Connection,
    inbox_id: str,
    message_id: str,
    *,
    cutoff: datetime,
    senders: Senders = None,
) -> MessageWithArtifacts:
    query = messages_of(inbox_id, cutoff, senders=senders).where(t.messages.c.id == message_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("message")
    labels = labels_of(conn, [message_id]).get(message_id, ())
    return with_artifacts(conn, Message.of(row, labels))


def with_artifacts(conn: sa.Connection, message: Message) -> MessageWithArtifacts:
    rows = conn.execute(
        sa.select(t.artifacts)
        .where(t.artifacts.c.message_id == message.id)
        .order_by(t.artifacts.c.kind.desc(), t.artifacts.c.position)
    )
    return MessageWithArtifacts(message=message, artifacts=tuple(Artifact.of(r) for r in rows))


def stored_message(
    row: Mapping[str, Any],
    security: Mapping[str, Any],
    artifact_rows: Sequence[Mapping[str, Any]],
) -> MessageWithArtifacts:
    """A message as reading it back would give it, from the rows an ingest just wrote (its
    message_security row without message_id, and its artifacts in `with_artifacts`' order:
    OTPs, then links, each by position)."""
    artifacts = sorted(artifact_rows, key=lambda a: (a["kind"] != "otp", a["position"]))
    return MessageWithArtifacts(
        message=Message.of(SimpleNamespace(**row, **security)),
        artifacts=tuple(Artifact.of(SimpleNamespace(**a)) for a in artifacts),
    )


def get_raw(
    conn: sa.Connection,
    inbox_id: str,
    message_id: str,
    *,
    cutoff: datetime,
    senders: Senders = None,
) -> bytes:
    raw = conn.scalar(
        sa.select(t.messages.c.raw_mime).where(
            t.messages.c.inbox_id == inbox_id,
            t.messages.c.id == message_id,
            t.messages.c.received_at >= cutoff,
            sender_clause(senders, t.messages.c.from_address),
        )
    )
    if raw is None:
        raise NotFound("message")
    return bytes(raw)


def list_artifacts(
    conn: sa.Connection,
    inbox_id: str,
    *,
    kind: ArtifactKind | None,
    limit: int,
    cursor: Cursor | None,
    cutoff: datetime,
    senders: Senders = None,
) -> Page[Artifact]:
    """Artifacts of the inbox folder's messages, newest first."""
    a = t.artifacts
    query = sa.select(a).where(
        a.c.inbox_id == inbox_id, a.c.folder == "inbox", a.c.received_at >= cutoff
    )
    if senders is not None:
        query = query.where(_from_senders(senders))
    if kind is not None:
        query = query.where(a.c.kind == kind)
    rows, next_cursor = page(conn, query, a, "artifact", limit=limit, cursor=cursor)
    return Page([Artifact.of(row) for row in rows], next_cursor)


def _from_senders(senders: Senders) -> sa.ColumnElement[bool]:
    """An artifact of a message from `senders`."""
    return sa.exists().where(
        t.messages.c.id == t.artifacts.c.message_id,
        sender_clause(senders, t.messages.c.from_address),
    )


def latest_otp(
    conn: sa.Connection, inbox_id: str, *, cutoff: datetime, senders: Senders = None
) -> Otp | None:
    """The newest primary OTP of the inbox folder, or None."""
    a, m = t.artifacts, t.messages
    row = conn.execute(
        sa.select(
            a.c.id,
            a.c.value,
            a.c.message_id,
            a.c.received_at,
            a.c.consumed_at,
            a.c.lease_expires_at,
            m.c.from_header,
            m.c.subject,
        )
        .join(m, m.c.id == a.c.message_id)
        .where(
            a.c.inbox_id == inbox_id,
            a.c.kind == "otp",
            a.c.is_primary.is_(True),
            a.c.folder == "inbox",
            a.c.received_at >= cutoff,
            sender_clause(senders, m.c.from_address),
        )
        .order_by(a.c.received_at.desc(), a.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Otp(
        code=row.value,
        message_id=row.message_id,
        from_header=row.from_header,
        subject=row.subject,
        received_at=row.received_at,
        id=row.id,
        consumed_at=row.consumed_at,
        lease_expires_at=row.lease_expires_at,
    )
