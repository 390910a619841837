"""operator accounts (users, passwords, email verification codes), the private beta (invite
codes, their redemptions, the waitlist) and claims (claim tokens, which operator owns which agent)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "beta_interest_signups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beta_interest_signups")),
        sa.UniqueConstraint("email", name=op.f("uq_beta_interest_signups_email")),
    )
    op.create_table(
        "beta_invite_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=12), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beta_invite_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_beta_invite_codes_code_hash")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_agent_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "beta_invite_code_redemptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["beta_invite_codes.id"],
            name=op.f("fk_beta_invite_code_redemptions_code_id_beta_invite_codes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_beta_invite_code_redemptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beta_invite_code_redemptions")),
    )
    with op.batch_alter_table("beta_invite_code_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_beta_invite_code_redemptions_code_id"), ["code_id"], unique=False
        )

    op.create_table(
        "user_auth",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_auth_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_auth")),
    )
    op.create_table(
        "user_email_verification_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_email_verification_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_email_verification_codes")),
    )
    with op.batch_alter_table("user_email_verification_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_email_verification_codes_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "user_agent_claims",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("wallet_chain", sa.String(length=10), nullable=True),
        sa.Column("wallet_address", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_user_agent_claims_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_agent_claims_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_user_agent_claims_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_agent_claims")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_user_agent_claims_agent_id")),
    )
    with op.batch_alter_table("user_agent_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_agent_claims_user_id"), ["user_id"], unique=False)

    op.create_table(
        "agent_claim_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=36), nullable=False),
        sa.Column("wallet_chain", sa.String(length=10), nullable=True),
        sa.Column("wallet_address", sa.String(length=100), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_key_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_claim_tokens_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_agent_claim_tokens_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_agent_claim_tokens_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_claim_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_claim_tokens_token_hash")),
    )
    with op.batch_alter_table("agent_claim_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_claim_tokens_agent_id"), ["agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_claim_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_claim_tokens_agent_id"))

    op.drop_table("agent_claim_tokens")
    with op.batch_alter_table("user_agent_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_agent_claims_user_id"))

    op.drop_table("user_agent_claims")
    with op.batch_alter_table("user_email_verification_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_email_verification_codes_user_id"))

    op.drop_table("user_email_verification_codes")
    op.drop_table("user_auth")
    with op.batch_alter_table("beta_invite_code_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_beta_invite_code_redemptions_code_id"))

    op.drop_table("beta_invite_code_redemptions")
    op.drop_table("users")
    op.drop_table("beta_invite_codes")
    op.drop_table("beta_interest_signups")
