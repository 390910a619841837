"""raw_mime stored uncompressed on PostgreSQL (STORAGE EXTERNAL)

An attachment is downloaded as byte ranges of the stored message (substr, 256 KiB each): of a
compressed TOAST value PostgreSQL decompresses from the start for each range, so a large
message's download took time quadratic in its size (a 38 MB message: 2.5 ms a range at its
start, 78 ms at its end); stored uncompressed, a range reads only its own chunks (0.7 ms
anywhere). Rows written from now on are stored so; existing rows keep their compression
until rewritten. SQLite: nothing (it never compresses).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0019"
# Written beside 0017 and 0018: at the merge this points at the newest of them.
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages ALTER COLUMN raw_mime SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages ALTER COLUMN raw_mime SET STORAGE EXTENDED")
