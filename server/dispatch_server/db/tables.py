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
    # Restrictions of an inbox key (see auth.policy), each null when it has none: when it
    # stops working, the permissions it keeps, and the senders whose mail it may read.
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("permissions", sa.JSON(), nullable=True),
    sa.Column("allowed_senders", sa.JSON(), nullable=True),
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
    # The door it came through (see dispatch_server.ingest.pipeline.DOORS); null before 0004.
    sa.Column("door", sa.String(10), nullable=True),
    # When the console's mail desk first showed it; null: unread (see domain.messages).
    sa.Column("read_at", UtcDateTime(), nullable=True),
    # Its conversation (threads.id, see domain.threads); null: a memory write, or not yet
    # threaded. No foreign key: the retention purge removes threads and mail apart.
    sa.Column("thread_id", sa.String(36), nullable=True),
    # When it was put in the trash; null: not trashed (see domain.labels).
    sa.Column("trashed_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("inbox_id", "provider_message_id"),
    sa.Index("ix_messages_inbox_received", "inbox_id", "received_at", "id"),
    # Last ingest and counts per door (ops status), and the retention purge, door by door.
    sa.Index("ix_messages_door_received", "door", "received_at"),
    sa.Index("ix_messages_thread_received", "thread_id", "received_at"),
)

message_security = sa.Table(
    "message_security",
    metadata,
    _fk("message_id", "messages.id", primary_key=True),
    sa.Column("folder", sa.String(10), nullable=False),  # inbox | spam | memory
    sa.Column("spam_verdict", sa.String(20), nullable=True),
    sa.Column("virus_verdict", sa.String(20), nullable=True),
    sa.Column("spf_verdict", sa.String(20), nullable=True),
    sa.Column("dkim_verdict", sa.String(20), nullable=True),
    sa.Column("dmarc_verdict", sa.String(20), nullable=True),
    sa.Column("details", sa.JSON(), nullable=False),
)

# A received message's user labels (see domain.labels): `name` as first given, `key` its
# casefolded form, unique per message; `inbox_id` copied for the inbox's label counts.
message_labels = sa.Table(
    "message_labels",
    metadata,
    _fk("message_id", "messages.id", primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("inbox_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    _created_at(),
    sa.Index("ix_message_labels_inbox_key", "inbox_id", "key"),
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
    # A code used once (domain.waits.claim_otp): when a consuming wait took it, and, while
    # leased, until when (null: for good); the lease's id and the key that took it.
    sa.Column("consumed_at", UtcDateTime(), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
    sa.Column("lease_id", sa.String(36), nullable=True),
    sa.Column("consumed_by", sa.String(36), nullable=True),
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

# Mail sent from an inbox, with its latest delivery state (see dispatch_server.domain.sends).
# The row is committed, with the composed message, before any provider is called.
outbound_messages = sa.Table(
    "outbound_messages",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("inbox_id", "inboxes.id", nullable=False),
    sa.Column("from_address", sa.String(320), nullable=False),
    sa.Column("to_addresses", sa.JSON(), nullable=False),
    sa.Column("cc_addresses", sa.JSON(), nullable=False),
    sa.Column("bcc_addresses", sa.JSON(), nullable=False),
    sa.Column("reply_to", sa.JSON(), nullable=False),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("text_body", sa.Text(), nullable=True),
    sa.Column("html_body", sa.Text(), nullable=True),
    sa.Column("headers", sa.JSON(), nullable=False),  # the caller's extra headers
    sa.Column("attachments", sa.JSON(), nullable=False),  # filename, content type, size
    sa.Column("raw_mime", sa.LargeBinary(), nullable=False),  # as the provider gets it
    sa.Column("message_id_header", sa.String(998), nullable=False),
    sa.Column("in_reply_to", sa.String(36), nullable=True),  # a received message's id
    # The subject, for a message the inbox sent only to itself: a memory (memory reads).
    sa.Column("memory_key", sa.String(255), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("provider", sa.String(10), nullable=False),
    sa.Column("provider_message_id", sa.String(PROVIDER_MESSAGE_ID_LENGTH), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),  # while queued
    sa.Column("lease_until", UtcDateTime(), nullable=True),  # a provider call under way
    sa.Column("last_error", sa.Text(), nullable=True),
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("thread_id", sa.String(36), nullable=True),  # as messages.thread_id
    sa.Index("ix_outbound_messages_inbox_created", "inbox_id", "created_at", "id"),
    sa.Index("ix_outbound_messages_status_next", "status", "next_attempt_at"),
    sa.Index("ix_outbound_messages_provider_id", "provider_message_id"),
    sa.Index("ix_outbound_messages_memory", "inbox_id", "memory_key", "created_at"),
    sa.Index("ix_outbound_messages_created_at", "created_at"),  # the retention purge
    sa.Index("ix_outbound_messages_thread_created", "thread_id", "created_at"),
)

# What happened to sent mail: the server's own steps (queued, sent, failed...) and provider
# feedback (SES events through SNS). Feedback for a message this server does not know is kept
# too, with no outbound_message_id, for audit.
outbound_events = sa.Table(
    "outbound_events",
    metadata,
    _id(),
    _fk("outbound_message_id", "outbound_messages.id", nullable=True),
    sa.Column("workspace_id", sa.String(36), nullable=True),
    sa.Column("source", sa.String(10), nullable=False),  # dispatch | ses
    sa.Column("event_type", sa.String(30), nullable=False),
    sa.Column("recipients", sa.JSON(), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("provider_message_id", sa.String(PROVIDER_MESSAGE_ID_LENGTH), nullable=True),
    # The SNS MessageId of feedback, so a redelivered notification is stored once.
    sa.Column("feedback_id", sa.String(PROVIDER_MESSAGE_ID_LENGTH), nullable=True, unique=True),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    _created_at(),
    sa.Index("ix_outbound_events_message", "outbound_message_id", "occurred_at"),
)

# Recipients a workspace may no longer send to: after a permanent bounce or a complaint.
recipient_suppressions = sa.Table(
    "recipient_suppressions",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("address", sa.String(320), nullable=False),  # lower case
    sa.Column("reason", sa.String(20), nullable=False),  # bounce | complaint
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("outbound_message_id", sa.String(36), nullable=True),
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "address"),
)

# Allow and block lists (dispatch_server.domain.lists): one entry per pattern, for the whole
# workspace (inbox_id null, scope "workspace") or one inbox (scope: its id), for mail
# received or sent. `scope` exists so the unique constraint holds for workspace entries too
# (a null inbox_id would never collide).
address_lists = sa.Table(
    "address_lists",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("inbox_id", "inboxes.id", nullable=True),
    sa.Column("scope", sa.String(36), nullable=False),
    sa.Column("direction", sa.String(10), nullable=False),  # receive | send
    sa.Column("action", sa.String(10), nullable=False),  # allow | block
    sa.Column("pattern", sa.String(320), nullable=False),  # lower case, punycode domains
    _created_at(),
    sa.UniqueConstraint("workspace_id", "scope", "direction", "pattern"),
    sa.Index("ix_address_lists_workspace_created", "workspace_id", "created_at", "id"),
)

# Conversations of one inbox, received and sent mail together (see domain.threads).
threads = sa.Table(
    "threads",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("inbox_id", "inboxes.id", nullable=False),
    # The normalised subject (no Re:/Fwd: prefixes, casefolded), for mail without threading
    # headers; null when it has none, or for threads made before 0015.
    sa.Column("subject_key", sa.String(255), nullable=True),
    _created_at(),
    sa.Column("last_activity_at", UtcDateTime(), nullable=False),
    sa.Index("ix_threads_inbox_activity", "inbox_id", "last_activity_at", "id"),
    sa.Index("ix_threads_inbox_subject", "inbox_id", "subject_key", "last_activity_at"),
    sa.Index("ix_threads_activity", "last_activity_at"),  # the retention purge
)

# Every Message-ID an inbox's mail carries or refers to (In-Reply-To, References), and the
# thread it belongs to: a reply that arrives before its parent names the parent here, so
# the parent joins its thread on arrival.
thread_refs = sa.Table(
    "thread_refs",
    metadata,
    _fk("inbox_id", "inboxes.id", primary_key=True),
    sa.Column("message_id_header", sa.String(998), primary_key=True),
    _fk("thread_id", "threads.id", nullable=False, index=True),
)

# Messages an inbox is writing (dispatch_server.domain.drafts): a send's fields, any of them
# still missing, until the draft is sent (deleted as its send is queued) or deleted.
drafts = sa.Table(
    "drafts",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("inbox_id", "inboxes.id", nullable=False),
    sa.Column("to_addresses", sa.JSON(), nullable=False),
    sa.Column("cc_addresses", sa.JSON(), nullable=False),
    sa.Column("bcc_addresses", sa.JSON(), nullable=False),
    sa.Column("reply_to", sa.JSON(), nullable=False),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("text_body", sa.Text(), nullable=True),
    sa.Column("html_body", sa.Text(), nullable=True),
    sa.Column("headers", sa.JSON(), nullable=False),
    sa.Column("in_reply_to", sa.String(36), nullable=True),  # a received message's id
    sa.Column("version", sa.Integer(), nullable=False),  # 1, and one more at each update
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_drafts_inbox_updated", "inbox_id", "updated_at", "id"),
)

# Custom domains (dispatch_server.domain.domains): a name a workspace adds, the DNS records
# it is to publish, and their last check. `claimed_name` is the name once verified, null
# before: unique, so one name is verified by one workspace at most, while any number may hold
# it pending (a null never collides).
domains = sa.Table(
    "domains",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("name", sa.String(253), nullable=False),  # lower case, punycode
    sa.Column("claimed_name", sa.String(253), nullable=True, unique=True),
    sa.Column("status", sa.String(10), nullable=False),  # pending | verified
    sa.Column("token", sa.String(64), nullable=False),  # the ownership TXT's
    _created_at(),
    sa.Column("checked_at", UtcDateTime(), nullable=True),
    sa.Column("verified_at", UtcDateTime(), nullable=True),
    # Dispatch made the name's SES identity (Easy DKIM), so deletes it with the last holder.
    sa.Column("ses_identity_created", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("workspace_id", "name"),
    sa.Index("ix_domains_workspace_created", "workspace_id", "created_at", "id"),
)

domain_records = sa.Table(
    "domain_records",
    metadata,
    _id(),
    _fk("domain_id", "domains.id", nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("purpose", sa.String(10), nullable=False),  # ownership | receiving | sending
    sa.Column("type", sa.String(10), nullable=False),  # TXT | MX | CNAME
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("value", sa.String(500), nullable=False),
    sa.Column("priority", sa.Integer, nullable=True),  # MX only
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("checked_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("domain_id", "position"),
)

# One row per `dispatch-server worker` process: its liveness, for GET /v1/ops/status.
worker_heartbeats = sa.Table(
    "dispatch_worker_heartbeats",
    metadata,
    sa.Column("worker_id", sa.String(36), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("last_beat_at", UtcDateTime(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=True),  # a graceful stop
    sa.Column("processed", sa.BigInteger(), nullable=False),  # SQS messages handled, deleted
    sa.Column("failed", sa.BigInteger(), nullable=False),  # handlings left for a retry
    # The age of the last SQS message it received, at its receive (SentTimestamp to now).
    sa.Column("queue_lag_seconds", sa.Float(), nullable=True),
)

# Mail that arrived through a door that cannot refuse it to the sender (the SES worker, SES
# through SNS) and was dropped: no inbox, over quota, too large, unreadable, wrong bucket.
inbound_rejections = sa.Table(
    "inbound_rejections",
    metadata,
    _id(),
    sa.Column("door", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),  # an error code, or bucket_mismatch
    sa.Column("provider_message_id", sa.String(PROVIDER_MESSAGE_ID_LENGTH), nullable=True),
    sa.Column("location", sa.Text(), nullable=True),  # s3://bucket/key
    sa.Column("recipients", sa.JSON(), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    _created_at(),
    sa.Index("ix_inbound_rejections_created_at", "created_at"),
    sa.Index("ix_inbound_rejections_provider", "provider_message_id", "door"),
)

# What the retention purge deleted, by kind (messages, otps): public counters add it back.
purged_counts = sa.Table(
    "purged_counts",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
)

# --- operators (dispatch_server.auth.operators, dispatch_server.domain.operators) ----------

# Operator accounts: the humans who own agents. The email is stored lower-case.
users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("email_verified_at", UtcDateTime(), nullable=True),
    # The claimed agent the operator acts for now (POST /v1/operator/active-agent).
    sa.Column("active_agent_id", sa.String(36), nullable=True),
    _created_at(),
)

# An operator's password, as an Argon2id hash string (its parameters are in the string).
user_auth = sa.Table(
    "user_auth",
    metadata,
    sa.Column(
        "user_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Email verification codes: a hash of the code, short-lived, a few attempts, used once.
user_email_verification_codes = sa.Table(
    "user_email_verification_codes",
    metadata,
    _id(),
    _fk("user_id", "users.id", nullable=False, index=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("consumed_at", UtcDateTime(), nullable=True),
    _created_at(),
)

# Managed invite codes of the private beta: a hash of the code and its first characters.
beta_invite_codes = sa.Table(
    "beta_invite_codes",
    metadata,
    _id(),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(12), nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("max_redemptions", sa.Integer(), nullable=False),
    sa.Column("redemptions", sa.Integer(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("created_by", sa.String(36), nullable=True),  # the admin operator
    _created_at(),
)

beta_invite_code_redemptions = sa.Table(
    "beta_invite_code_redemptions",
    metadata,
    _id(),
    _fk("code_id", "beta_invite_codes.id", nullable=False, index=True),
    _fk("user_id", "users.id", nullable=True),  # null: an agent signup redeemed it
    sa.Column("redeemed_at", UtcDateTime(), nullable=False),
)

# The waitlist: who asked to join the beta.
beta_interest_signups = sa.Table(
    "beta_interest_signups",
    metadata,
    _id(),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("note", sa.Text(), nullable=True),
    _created_at(),
)

# --- claims (dispatch_server.domain.claims) -------------------------------------------------

# Claim tokens an agent's key minted: a hash of the token, bound to the agent and an inbox,
# short-lived and used once; optionally bound to a wallet whose signature the claim needs.
agent_claim_tokens = sa.Table(
    "agent_claim_tokens",
    metadata,
    _id(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("agent_id", "agents.id", nullable=False, index=True),
    _fk("inbox_id", "inboxes.id", nullable=False),
    sa.Column("wallet_chain", sa.String(10), nullable=True),  # evm | solana
    sa.Column("wallet_address", sa.String(100), nullable=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("consumed_at", UtcDateTime(), nullable=True),
    sa.Column("created_by_key_id", sa.String(36), nullable=False),
    _created_at(),
)

# Which operator owns which agent: an agent is claimed once.
user_agent_claims = sa.Table(
    "user_agent_claims",
    metadata,
    _id(),
    _fk("user_id", "users.id", nullable=False, index=True),
    _fk("agent_id", "agents.id", nullable=False, unique=True),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("method", sa.String(10), nullable=False),  # token | api_key | wallet
    sa.Column("wallet_chain", sa.String(10), nullable=True),
    sa.Column("wallet_address", sa.String(100), nullable=True),
    sa.Column("claimed_at", UtcDateTime(), nullable=False),
)

# --- legacy: users, devices, files (dispatch_server.domain.profiles, .devices, .files) ------

# Files operators uploaded (profile pictures). The bytes are on disk under `storage_name`,
# which the server made (dispatch_server.assets.store); nothing of the upload names them.
files = sa.Table(
    "files",
    metadata,
    _id(),
    _fk("owner_id", "users.id", nullable=False, index=True),
    sa.Column("purpose", sa.String(20), nullable=False),  # profile_picture
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_name", sa.String(32), nullable=False, unique=True),
    _created_at(),
)

# An operator's profile: what the account itself does not hold.
user_profiles = sa.Table(
    "user_profiles",
    metadata,
    sa.Column(
        "user_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("display_name", sa.String(100), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),  # an IANA name: Europe/Paris
    sa.Column(
        "picture_file_id",
        sa.String(36),
        sa.ForeignKey("files.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# An operator's devices, for push notifications.
devices = sa.Table(
    "devices",
    metadata,
    _id(),
    _fk("owner_id", "users.id", nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),  # ios | android | web | ...
    sa.Column("push_token", sa.String(512), nullable=True),
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# --- billing (dispatch_server.billing) -------------------------------------------------------

# Every payment notice received, once per (provider, event id): Stripe retries for days and
# reorders, and a retried event must not grant twice. `outcome` says what it did.
billing_events = sa.Table(
    "billing_events",
    metadata,
    _id(),
    sa.Column("provider", sa.String(10), nullable=False),  # stripe | x402
    sa.Column("provider_event_id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("workspace_id", sa.String(36), nullable=True),  # as the event names it
    sa.Column("product", sa.String(40), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),  # granted | ignored | refused
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("payload", sa.JSON(), nullable=False),
    _created_at(),
    sa.UniqueConstraint("provider", "provider_event_id"),
)

# The canonical grant of a product to a workspace: one row per (workspace, product). An
# active `multi_inbox` row is what the multi-inbox gate asks for, and sets the workspace plan.
billing_entitlements = sa.Table(
    "billing_entitlements",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("product", sa.String(40), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # active | revoked
    sa.Column("source", sa.String(10), nullable=False),  # stripe | x402
    sa.Column("source_ref", sa.String(255), nullable=False),  # checkout session / tx hash
    # Stripe: the session's PaymentIntent, which a refund or a dispute names.
    sa.Column("payment_ref", sa.String(255), nullable=True, index=True),
    sa.Column("granted_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "product"),
)

# x402 quotes: what to pay, to whom, and the 32-byte reference the payment must carry.
billing_quotes = sa.Table(
    "billing_quotes",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False, index=True),
    sa.Column("product", sa.String(40), nullable=False),
    sa.Column("rail", sa.String(10), nullable=False),  # evm | solana
    sa.Column("network", sa.String(40), nullable=False),
    sa.Column("asset", sa.String(64), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),  # token base units
    sa.Column("reference", sa.String(64), nullable=False, unique=True),  # hex
    sa.Column("payer", sa.String(64), nullable=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("paid_tx_hash", sa.String(128), nullable=True),
    _created_at(),
)

# The ledger of verified on-chain payments: a transaction pays once, whoever presents it.
billing_transaction_verifications = sa.Table(
    "billing_transaction_verifications",
    metadata,
    _id(),
    sa.Column("chain", sa.String(40), nullable=False),  # the quote's network
    sa.Column("tx_hash", sa.String(128), nullable=False),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("quote_id", "billing_quotes.id", nullable=False),
    sa.Column("payer", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("block_time", UtcDateTime(), nullable=True),
    sa.Column("verified_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("chain", "tx_hash"),
)

# --- the event log (dispatch_server.events.log) -------------------------------------------

# What happened in a workspace, in the order it committed: `seq` is the event's id, per
# workspace, from `workspace_event_counters` (taking the next one locks the counter row until
# commit, so a workspace's events commit in `seq` order and a reader that has seen N never
# misses an event below N). Kept `DISPATCH_EVENT_RETENTION_DAYS`.
events = sa.Table(
    "events",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("inbox_id", sa.String(36), nullable=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    _created_at(),
    sa.UniqueConstraint("workspace_id", "seq"),
    sa.Index("ix_events_workspace_id_inbox_id_seq", "workspace_id", "inbox_id", "seq"),
    sa.Index("ix_events_created_at", "created_at"),
)

# Per workspace: the last event id given, and the last one purged (a resume point below it
# cannot be served whole).
workspace_event_counters = sa.Table(
    "workspace_event_counters",
    metadata,
    sa.Column(
        "workspace_id",
        sa.String(36),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("last_seq", sa.BigInteger(), nullable=False),
    sa.Column("purged_through", sa.BigInteger(), nullable=False),
)

# --- webhooks (dispatch_server.domain.webhooks) ---------------------------------------------

# Where a workspace's events are POSTed, signed with the endpoint's secret (Standard Webhooks).
# After a rotation the previous secret signs too, until `previous_secret_expires_at`.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("event_types", sa.JSON(), nullable=True),  # None: every type, later ones too
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("previous_secret", sa.String(100), nullable=True),
    sa.Column("previous_secret_expires_at", UtcDateTime(), nullable=True),
    # Deliveries failed for good in a row (reset by a success); at DISPATCH_WEBHOOK_DISABLE_
    # AFTER the endpoint is disabled, saying why.
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_webhook_endpoints_workspace_created", "workspace_id", "created_at", "id"),
)

# One event to one endpoint: its body (as first composed, so every retry is the same bytes),
# its state (`pending` until `succeeded` or `failed`), and a lease while an attempt is under way.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _fk("workspace_id", "workspaces.id", nullable=False),
    _fk("endpoint_id", "webhook_endpoints.id", nullable=False),
    sa.Column("event_seq", sa.BigInteger(), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),  # while pending
    sa.Column("lease_until", UtcDateTime(), nullable=True),  # an attempt under way
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    _created_at(),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("completed_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("endpoint_id", "event_seq"),
    sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
    sa.Index("ix_webhook_deliveries_created_at", "created_at"),  # the retention purge
)

# The console's forms that must not act twice (a reply): each rendered form carries a random
# nonce, inserted here before it acts; a second insert of the same nonce is refused by the
# key, whichever process serves it (dispatch_server.domain.form_nonces).
console_form_submissions = sa.Table(
    "console_form_submissions",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    _fk("operator_id", "users.id", nullable=False),
    _created_at(),
    sa.Index("ix_console_form_submissions_created_at", "created_at"),
)
