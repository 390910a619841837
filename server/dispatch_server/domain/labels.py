"""Labels and state of received mail: read or unread, inbox or spam, in the trash or not,
and user labels; changed for one message or a batch at once (all or nothing), and an
inbox's labels counted.

The rules (docs/labels.md says them to users):

- A user label is trimmed and NFC-normalised, 1 to MAX_LABEL_CHARS characters, without
  control characters; one label per message by its casefolded key (`Urgent` and `urgent`
  are one label, named as first given); the system names (SYSTEM_NAMES) are no user labels.
  A message holds at most MAX_LABELS_PER_MESSAGE.
- `spam`: True moves inbox mail to the spam folder, False moves spam to the inbox (its
  artifacts follow, so its OTP and links leave or rejoin the inbox's). Quarantined mail (a
  virus) and memory writes never move. Mail that arrived as spam has no thread (it was never
  threaded) and keeps none in the inbox; inbox mail moved to spam leaves its thread's view
  and comes back with it.
- `trash`: a state beside the folder, which keeps it: a trashed message leaves its folder's
  listing, searches and its thread's view (and counts), and is listed with `folder=trash`
  (or `all`); untrashed, it is back where it was. It is still read by id, and its OTP and
  links stay where its folder puts them. Deleting mail is not this module's.
- A change reaches the mail the key may read: its inbox's, within retention, from its
  allowed senders, memory writes only with `memory`; any other id is not found, and then
  nothing of the batch changes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.auth.policy import Senders
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.db import tables as t
from dispatch_server.domain.messages import (
    SUMMARY_COLUMNS,
    MessageSummary,
    messages_of,
    summaries,
)

MAX_LABEL_CHARS: Final = 64
MAX_LABELS_PER_MESSAGE: Final = 20
MAX_LABEL_CHANGES: Final = 20  # labels named in `add`, and in `remove`, per change
MAX_BATCH: Final = 100
MAX_LISTED_LABELS: Final = 1000
# Names of folders and states, which listings filter on by their own parameters.
SYSTEM_NAMES: Final = ("inbox", "spam", "trash", "unread", "read", "quarantine", "memory", "all")

LabelKind = Literal["system", "user"]
_m, _sec, _ml = t.messages, t.message_security, t.message_labels


def label_name(raw: str, param: str) -> str:
    """A user label as stored: InvalidInput naming `param` if it breaks a rule."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise InvalidInput(f"{param} must not be blank", param=param)
    if len(name) > MAX_LABEL_CHARS:
        raise InvalidInput(f"{param} must be at most {MAX_LABEL_CHARS} characters", param=param)
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise InvalidInput(f"{param} must not hold control characters", param=param)
    if label_key(name) in SYSTEM_NAMES:
        raise InvalidInput(
            f"{param}: {name!r} is a system name ({', '.join(SYSTEM_NAMES)}), not a user label",
            param=param,
        )
    return name


def label_key(name: str) -> str:
    """What makes two labels one: the casefolded name."""
    return name.casefold()


@attrs.frozen(kw_only=True)
class Change:
    """What to change; None and empty: keep. `add` and `remove` hold checked names."""

    read: bool | None = None
    spam: bool | None = None
    trash: bool | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


def change(
    *,
    read: bool | None = None,
    spam: bool | None = None,
    trash: bool | None = None,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> Change:
    """A checked change: at least one thing changed, label names by the rules (`param`
    `labels.add[2]`), at most MAX_LABEL_CHANGES each, no label both added and removed."""
    checked: dict[str, tuple[str, ...]] = {}
    for side, names in (("add", add), ("remove", remove)):
        if len(names) > MAX_LABEL_CHANGES:
            raise InvalidInput(
                f"labels.{side} takes at most {MAX_LABEL_CHANGES} labels", param=f"labels.{side}"
            )
        by_key: dict[str, str] = {}
        for i, raw in enumerate(names):
            name = label_name(raw, f"labels.{side}[{i}]")
            by_key.setdefault(label_key(name), name)
        checked[side] = tuple(by_key.values())
    removed = {label_key(name) for name in checked["remove"]}
    for i, name in enumerate(checked["add"]):
        if label_key(name) in removed:
            raise InvalidInput(
                f"label {name!r} is both added and removed", param=f"labels.add[{i}]"
            )
    if read is None and spam is None and trash is None and not add and not remove:
        raise InvalidInput("nothing to change: give read, spam, trash or labels", param="labels")
    return Change(read=read, spam=spam, trash=trash, add=checked["add"], remove=checked["remove"])


def apply(
    conn: sa.Connection,
    inbox_id: str,
    message_ids: Sequence[str],
    change: Change,
    *,
    now: datetime,
    cutoff: datetime,
    senders: Senders,
    memory: bool,
    ids_param: str | None = "ids",
) -> list[MessageSummary]:
    """Make the change to each message, all or nothing, and return their summaries in the
    order asked. An id the key cannot read is not found (`param` `ids[3]`; with `ids_param`
    None, one message's route: a plain 404); an id named twice is refused."""
    if ids_param is not None:
        if not message_ids:
            raise InvalidInput(f"{ids_param} must name at least 1 message", param=ids_param)
        if len(message_ids) > MAX_BATCH:
            raise InvalidInput(f"{ids_param} takes at most {MAX_BATCH} messages", param=ids_param)
    seen: set[str] = set()
    for i, message_id in enumerate(message_ids):
        if message_id in seen:
            raise InvalidInput(
                f"message {message_id[:40]!r} is named twice", param=f"{ids_param}[{i}]"
            )
        seen.add(message_id)
    ids = list(message_ids)
    folders = _folders(conn, inbox_id, ids, cutoff=cutoff, senders=senders, memory=memory)
    for i, message_id in enumerate(ids):
        if message_id not in folders:
            if ids_param is None:
                raise NotFound("message")
            raise DomainError(
                f"message {message_id[:40]!r} not found: nothing was changed",
                code=ErrorCode.NOT_FOUND,
                param=f"{ids_param}[{i}]",
            )
    chosen = _m.c.id.in_(sa.bindparam("chosen", ids, expanding=True))
    if change.read is not None:
        _set_time(conn, _m.c.read_at, chosen, now if change.read else None)
    if change.trash is not None:
        _set_time(conn, _m.c.trashed_at, chosen, now if change.trash else None)
    if change.spam is not None:
        _move(conn, ids, folders, to_spam=change.spam)
    if change.add or change.remove:
        _relabel(conn, inbox_id, ids, change, now=now)
    rows = conn.execute(
        messages_of(inbox_id, cutoff, SUMMARY_COLUMNS, senders=senders).where(chosen)
    )
    by_id = {summary.id: summary for summary in summaries(conn, list(rows))}
    return [by_id[message_id] for message_id in ids]


def _folders(
    conn: sa.Connection,
    inbox_id: str,
    ids: list[str],
    *,
    cutoff: datetime,
    senders: Senders,
    memory: bool,
) -> dict[str, str]:
    """The folder of each message the key may change, locked for the change."""
    query = messages_of(inbox_id, cutoff, [_m.c.id, _sec.c.folder], senders=senders).where(
        _m.c.id.in_(sa.bindparam("wanted", ids, expanding=True))
    )
    if not memory:
        query = query.where(_sec.c.folder != "memory")
    return {row.id: row.folder for row in conn.execute(query.with_for_update(of=_m))}


def _set_time(
    conn: sa.Connection,
    column: sa.Column[datetime | None],
    chosen: sa.ColumnElement[bool],
    value: datetime | None,
) -> None:
    """Set a state's time: a set one keeps its first time; None clears it."""
    keep = column.is_(None) if value is not None else column.is_not(None)
    conn.execute(_m.update().where(chosen, keep).values({column.name: value}))


def _move(conn: sa.Connection, ids: list[str], folders: dict[str, str], *, to_spam: bool) -> None:
    for message_id in ids:
        if folders[message_id] not in ("inbox", "spam"):
            raise InvalidInput(
                f"message {message_id} is in {folders[message_id]}: only inbox and spam mail moves",
                param="spam",
            )
    source, target = ("inbox", "spam") if to_spam else ("spam", "inbox")
    moving = [message_id for message_id in ids if folders[message_id] == source]
    if not moving:
        return
    wanted: sa.BindParameter[list[str]] = sa.bindparam("moving", moving, expanding=True)
    conn.execute(_sec.update().where(_sec.c.message_id.in_(wanted)).values(folder=target))
    conn.execute(
        t.artifacts.update().where(t.artifacts.c.message_id.in_(wanted)).values(folder=target)
    )


def _relabel(
    conn: sa.Connection, inbox_id: str, ids: list[str], change: Change, *, now: datetime
) -> None:
    chosen = _ml.c.message_id.in_(sa.bindparam("labelled", ids, expanding=True))
    if change.remove:
        keys = [label_key(name) for name in change.remove]
        conn.execute(
            _ml.delete().where(chosen, _ml.c.key.in_(sa.bindparam("keys", keys, expanding=True)))
        )
    if not change.add:
        return
    held: dict[str, set[str]] = {message_id: set() for message_id in ids}
    for row in conn.execute(sa.select(_ml.c.message_id, _ml.c.key).where(chosen)):
        held[row.message_id].add(row.key)
    rows = []
    for message_id in ids:
        new = [name for name in change.add if label_key(name) not in held[message_id]]
        if len(held[message_id]) + len(new) > MAX_LABELS_PER_MESSAGE:
            raise InvalidInput(
                f"message {message_id} would hold more than {MAX_LABELS_PER_MESSAGE} labels",
                param="labels.add",
            )
        rows += [
            {
                "message_id": message_id,
                "key": label_key(name),
                "inbox_id": inbox_id,
                "name": name,
                "created_at": now,
            }
            for name in new
        ]
    if rows:
        conn.execute(_ml.insert(), rows)


@attrs.frozen(kw_only=True)
class LabelCount:
    """A label and how many of the messages the key may read hold it (`unread_count`: of
    them unread). System labels: `inbox` and `spam` count their folder's untrashed mail,
    `trash` the trashed mail; user labels count untrashed mail."""

    name: str
    kind: LabelKind
    message_count: int
    unread_count: int


def list_labels(
    conn: sa.Connection, inbox_id: str, *, cutoff: datetime, senders: Senders, memory: bool
) -> list[LabelCount]:
    """The system labels, then the inbox's user labels by key (the first MAX_LISTED_LABELS)."""
    unread = sa.func.sum(sa.case((_m.c.read_at.is_(None), 1), else_=0))
    visible = messages_of(inbox_id, cutoff, [_m.c.id], senders=senders)
    if not memory:
        visible = visible.where(_sec.c.folder != "memory")
    trashed = _m.c.trashed_at.is_not(None)
    system = sa.case(
        (trashed, "trash"), (_sec.c.folder.in_(("inbox", "spam")), _sec.c.folder), else_=None
    ).label("system")
    counts: dict[str, tuple[int, int]] = {
        row.system: (int(row.total), int(row.unread or 0))
        for row in conn.execute(
            visible.with_only_columns(
                system, sa.func.count().label("total"), unread.label("unread")
            ).group_by(system)
        )
        if row.system is not None
    }
    found = [
        LabelCount(name=name, kind="system", message_count=total, unread_count=unread_count)
        for name in ("inbox", "spam", "trash")
        for total, unread_count in [counts.get(name, (0, 0))]
    ]
    user = (
        visible.join(_ml, _ml.c.message_id == _m.c.id)
        .with_only_columns(
            _ml.c.key,
            sa.func.min(_ml.c.name).label("name"),
            sa.func.count().label("total"),
            unread.label("unread"),
        )
        .where(_ml.c.inbox_id == inbox_id, _m.c.trashed_at.is_(None))
        .group_by(_ml.c.key)
        .order_by(_ml.c.key)
        .limit(MAX_LISTED_LABELS)
    )
    found += [
        LabelCount(
            name=row.name,
            kind="user",
            message_count=int(row.total),
            unread_count=int(row.unread or 0),
        )
        for row in conn.execute(user)
    ]
    return found
