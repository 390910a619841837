"""The console's one-time form nonces: a form that must not act twice (the mail desk's
reply) carries a random nonce, which is used up before the form acts. The table's key
refuses a second use, whichever process serves it; a form whose action failed gives its
nonce back, so the operator can send it again."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa

from dispatch_server.db import dialect
from dispatch_server.db import tables as t

NONCE_CHARS = 43  # secrets.token_urlsafe(32)

_INSERT = dialect.per_dialect(
    lambda insert: insert(t.console_form_submissions).on_conflict_do_nothing(
        index_elements=[t.console_form_submissions.c.nonce]
    )
)


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def is_nonce(value: str) -> bool:
    return len(value) == NONCE_CHARS and all(c.isalnum() or c in "-_" for c in value)


def use(conn: sa.Connection, nonce: str, operator_id: str, *, now: datetime) -> bool:
    """Use the nonce up: True the first time, False when it was used already."""
    result = conn.execute(
        _INSERT[dialect.name(conn)].values(nonce=nonce, operator_id=operator_id, created_at=now)
    )
    return result.rowcount == 1


def give_back(conn: sa.Connection, nonce: str, operator_id: str) -> None:
    """The form did not act after all: its nonce may be used again."""
    c = t.console_form_submissions.c
    conn.execute(
        t.console_form_submissions.delete().where(c.nonce == nonce, c.operator_id == operator_id)
    )
