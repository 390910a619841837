"""x402 quotes: what to pay, to whom, on which chain, and the reference the payment carries.

A quote is a row: its 32-byte random reference is what ties a transaction on chain to one
workspace and one product (EVM: after the `transfer` arguments in the calldata; Solana: a
read-only account of the transfer, as Solana Pay does). Asking again for the same workspace,
product and rail returns the open quote while it has at least half its time left, so the
402s of a retried request do not pile up quotes, and a payer that retries sees one reference.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Literal

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.db import tables as t

Rail = Literal["evm", "solana"]
_COLUMNS = t.billing_quotes.c
OPEN_QUOTES_KEPT = timedelta(days=1)  # how far back `list_open` looks


@attrs.frozen(kw_only=True)
class Quote:
    id: str
    workspace_id: str
    product: str
    rail: str
    network: str
    asset: str
    recipient: str
    amount: int
    reference: str  # 64 hex digits
    payer: str | None
    expires_at: datetime
    paid_tx_hash: str | None
    created_at: datetime

    @property
    def reference_bytes(self) -> bytes:
        return bytes.fromhex(self.reference)


@attrs.frozen(kw_only=True)
class Terms:
    """What a rail asks for a product: where the money goes, in which token, how much."""

    rail: Rail
    network: str
    asset: str
    recipient: str
    amount: int


def issue(
    conn: sa.Connection,
    *,
    workspace_id: str,
    product: str,
    terms: Terms,
    payer: str | None,
    ttl: timedelta,
    now: datetime,
) -> Quote:
    """An open quote on these terms with at least half of `ttl` left, else a new one."""
    # One issue at a time per workspace (PostgreSQL; SQLite has one writer): two 402s at
    # once get the same quote rather than one each.
    conn.execute(
        sa.select(t.workspaces.c.id).where(t.workspaces.c.id == workspace_id).with_for_update()
    )
    reusable = conn.execute(
        sa.select(t.billing_quotes)
        .where(
            _COLUMNS.workspace_id == workspace_id,
            _COLUMNS.product == product,
            _COLUMNS.rail == terms.rail,
            _COLUMNS.network == terms.network,
            _COLUMNS.asset == terms.asset,
            _COLUMNS.recipient == terms.recipient,
            _COLUMNS.amount == terms.amount,
            _COLUMNS.payer.is_(None) if payer is None else _COLUMNS.payer == payer,
            _COLUMNS.paid_tx_hash.is_(None),
            _COLUMNS.expires_at >= now + ttl / 2,
        )
        .order_by(_COLUMNS.expires_at.desc())
        .limit(1)
    ).first()
    if reusable is not None:
        return Quote(**reusable._mapping)
    quote = Quote(
        id=new_id(),
        workspace_id=workspace_id,
        product=product,
        rail=terms.rail,
        network=terms.network,
        asset=terms.asset,
        recipient=terms.recipient,
        amount=terms.amount,
        reference=secrets.token_bytes(32).hex(),
        payer=payer,
        expires_at=now + ttl,
        paid_tx_hash=None,
        created_at=now,
    )
    conn.execute(sa.insert(t.billing_quotes).values(**attrs.asdict(quote)))
    return quote


def get(conn: sa.Connection, workspace_id: str, quote_id: str) -> Quote:
    """The workspace's quote, or `400 quote_invalid` (another workspace's is not told apart)."""
    row = None
    if is_id(quote_id):
        row = conn.execute(
            sa.select(t.billing_quotes).where(
                _COLUMNS.id == quote_id, _COLUMNS.workspace_id == workspace_id
            )
        ).first()
    if row is None:
        raise DomainError(
            "no such quote in this workspace", code=ErrorCode.QUOTE_INVALID, param="quote_id"
        )
    return Quote(**row._mapping)


def list_open(conn: sa.Connection, workspace_id: str, *, now: datetime) -> list[Quote]:
    """The workspace's unpaid quotes of the last day, newest first: what a payer that may
    have paid before a crash looks for on chain before it pays again."""
    rows = conn.execute(
        sa.select(t.billing_quotes)
        .where(
            _COLUMNS.workspace_id == workspace_id,
            _COLUMNS.paid_tx_hash.is_(None),
            _COLUMNS.created_at >= now - OPEN_QUOTES_KEPT,
        )
        .order_by(_COLUMNS.created_at.desc(), _COLUMNS.id)
        .limit(100)
    )
    return [Quote(**row._mapping) for row in rows]


def mark_paid(conn: sa.Connection, quote_id: str, tx_hash: str) -> None:
    conn.execute(
        sa.update(t.billing_quotes)
        .where(_COLUMNS.id == quote_id, _COLUMNS.paid_tx_hash.is_(None))
        .values(paid_tx_hash=tx_hash)
    )
