"""Tables, in SQLAlchemy Core. Alembic migrations create them; this module describes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

PROVIDER_MESSAGE_ID_LENGTH = 300  # also the longest dedupe key ingest stores

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id(name: str = "id", **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(36), primary_key=True, **kwargs)


def _fk(name: str, target: str, **kwargs: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(36), sa.ForeignKey(target, ondelete="CASCADE"), **kwargs)


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", UtcDateTime(), nullable=False)


workspaces = sa.Table(
    "workspaces",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | suspended
    sa.Column("plan", sa.String(40), nullable=False),  # free | multi_inbox | ...
    sa.Column("policy", sa.JSON(), nullable=False),
    _created_at(),
)

agents = sa.Table(
    "agents",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    _created_at(),
)

inboxes = sa.Table(
    "inboxes",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False, index=True),
    _fk("agent_id", "agents.id", nullable=False),
    sa.Column("address", sa.String(320), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=True),
    _created_at(),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),  # the public half of "<id>.<secret>"
    _fk("workspace_id", "workspaces.id", nullable=False, index=True),
    _fk("agent_id", "agents.id", nullable=False),
    sa.Column("key_kind", sa.String(10), nullable=False),  # account | inbox
    sa.Column("user_id", sa.String(36), nullable=True),  # operator that owns an account key
    _fk("inbox_id", "inboxes.id", nullable=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    _created_at(),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.CheckConstraint(
        "(key_kind = 'account' AND inbox_id IS NULL)"
        " OR (key_kind = 'inbox' AND inbox_id IS NOT NULL)",
        name="kind_scope",
    ),
)

messages = sa.Table(
    "messages",
    metadata,
    _id(),
    _fk("inbox_id", "inboxes.id", nullable=False),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("provider_message_id", sa.String(PROVIDER_MESSAGE_ID_LENGTH), nullable=False),
    sa.Column("message_id_header", sa.String(998), nullable=True),
    sa.Column("mail_from", sa.String(320), nullable=True),  # SMTP envelope sender
    sa.Column("from_header", sa.Text(), nullable=True),
    sa.Column("from_address", sa.String(320), nullable=True),
    sa.Column("to_addresses", sa.JSON(), nullable=False),
    sa.Column("cc_addresses", sa.JSON(), nullable=False),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("text_body", sa.Text(), nullable=True),
    sa.Column("html_body", sa.Text(), nullable=True),
    sa.Column("attachments", sa.JSON(), nullable=False),
    sa.Column("raw_mime", sa.LargeBinary(), nullable=False),
    sa.Column("size_bytes", sa.Integer(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("inbox_id", "provider_message_id"),
    sa.Index("ix_messages_inbox_received", "inbox_id", "received_at", "id"),
)

message_security = sa.Table(
    "message_security",
    metadata,
    _fk("message_id", "messages.id", primary_key=True),
    sa.Column("folder", sa.String(10), nullable=False),  # inbox | spam
    sa.Column("spam_verdict", sa.String(20), nullable=True),
    sa.Column("virus_verdict", sa.String(20), nullable=True),
    sa.Column("spf_verdict", sa.String(20), nullable=True),
    sa.Column("dkim_verdict", sa.String(20), nullable=True),
    sa.Column("dmarc_verdict", sa.String(20), nullable=True),
    sa.Column("details", sa.JSON(), nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    _id(),
    _fk("message_id", "messages.id", nullable=False, index=True),
    _fk("inbox_id", "inboxes.id", nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # otp | link
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("is_primary", sa.Boolean(), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    # Copied from the message so artifact reads need no join to order and filter.
    sa.Column("folder", sa.String(10), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Index("ix_artifacts_inbox_kind_received", "inbox_id", "kind", "received_at"),
)

workspace_quotas = sa.Table(
    "workspace_quotas",
    metadata,
    _fk("workspace_id", "workspaces.id", primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("inbound_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("sent_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("unique_recipient_count", sa.Integer(), nullable=False, server_default="0"),
)

workspace_quota_recipients = sa.Table(
    "workspace_quota_recipients",
    metadata,
    _fk("workspace_id", "workspaces.id", primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("recipient", sa.String(320), primary_key=True),
)

# The first answer to a POST that carried an Idempotency-Key, per API key, for 24 hours (see
# dispatch_server.http.idempotency).
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _fk("api_key_id", "api_keys.id", primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),  # method, path and body
    sa.Column("state", sa.String(10), nullable=False),  # started | done
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("response_body", sa.LargeBinary(), nullable=True),
    _created_at(),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)
