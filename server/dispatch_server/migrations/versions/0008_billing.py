"""billing: events, entitlements, x402 quotes and verified transactions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=10), nullable=False),
        sa.Column("provider_event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("product", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
        sa.UniqueConstraint(
            "provider",
            "provider_event_id",
            name=op.f("uq_billing_events_provider_provider_event_id"),
        ),
    )
    op.create_table(
        "billing_entitlements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("source_ref", sa.String(length=255), nullable=False),
        sa.Column("payment_ref", sa.String(length=255), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_billing_entitlements_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_entitlements")),
        sa.UniqueConstraint(
            "workspace_id", "product", name=op.f("uq_billing_entitlements_workspace_id_product")
        ),
    )
    with op.batch_alter_table("billing_entitlements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_entitlements_payment_ref"), ["payment_ref"], unique=False
        )

    op.create_table(
        "billing_quotes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("rail", sa.String(length=10), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("payer", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_tx_hash", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_billing_quotes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_quotes")),
        sa.UniqueConstraint("reference", name=op.f("uq_billing_quotes_reference")),
    )
    with op.batch_alter_table("billing_quotes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_quotes_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "billing_transaction_verifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("tx_hash", sa.String(length=128), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("quote_id", sa.String(length=36), nullable=False),
        sa.Column("payer", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["billing_quotes.id"],
            name=op.f("fk_billing_transaction_verifications_quote_id_billing_quotes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_billing_transaction_verifications_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_transaction_verifications")),
        sa.UniqueConstraint(
            "chain", "tx_hash", name=op.f("uq_billing_transaction_verifications_chain_tx_hash")
        ),
    )


def downgrade() -> None:
    op.drop_table("billing_transaction_verifications")
    with op.batch_alter_table("billing_quotes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_quotes_workspace_id"))

    op.drop_table("billing_quotes")
    with op.batch_alter_table("billing_entitlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_entitlements_payment_ref"))

    op.drop_table("billing_entitlements")
    op.drop_table("billing_events")
