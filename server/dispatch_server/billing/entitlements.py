"""Entitlements: the canonical grant of a product to a workspace, and the multi-inbox gate.

One row per (workspace, product). Granting it again (a second purchase, a webhook retried
after all) refreshes the row; granting `multi_inbox` also sets the workspace's plan, which
is what the workspace reports. The gate asks for an active row, or a plan set otherwise
(an operator's manual upgrade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.billing.products import MULTI_INBOX
from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.events import log as event_log

Source = Literal["stripe", "x402"]
_COLUMNS = t.billing_entitlements.c


@attrs.frozen(kw_only=True)
class Entitlement:
    id: str
    workspace_id: str
    product: str
    status: str  # active | revoked
    source: str  # stripe | x402
    source_ref: str  # the Checkout Session id, or the transaction hash
    payment_ref: str | None  # Stripe: the PaymentIntent a refund or dispute names
    granted_at: datetime
    updated_at: datetime


def _upsert_statement(insert: Any) -> Any:
    statement = insert(t.billing_entitlements)
    return statement.on_conflict_do_update(
        index_elements=[_COLUMNS.workspace_id, _COLUMNS.product],
        set_={
            "status": "active",
            "source": statement.excluded.source,
            "source_ref": statement.excluded.source_ref,
            "payment_ref": statement.excluded.payment_ref,
            "updated_at": statement.excluded.updated_at,
        },
    )


_UPSERT = dialect.per_dialect(_upsert_statement)


def grant(
    conn: sa.Connection,
    *,
    workspace_id: str,
    product: str,
    source: Source,
    source_ref: str,
    now: datetime,
    payment_ref: str | None = None,
) -> Entitlement:
    """Make the product active for the workspace (idempotent), and set the plan it brings."""
    conn.execute(
        _UPSERT[dialect.name(conn)],
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "product": product,
            "status": "active",
            "source": source,
            "source_ref": source_ref,
            "payment_ref": payment_ref,
            "granted_at": now,
            "updated_at": now,
        },
    )
    if product == MULTI_INBOX:
        conn.execute(
            sa.update(t.workspaces)
            .where(t.workspaces.c.id == workspace_id, t.workspaces.c.plan == "free")
            .values(plan=MULTI_INBOX)
        )
    row = conn.execute(
        sa.select(t.billing_entitlements).where(
            _COLUMNS.workspace_id == workspace_id, _COLUMNS.product == product
        )
    ).one()
    event_log.append(
        conn,
        workspace_id=workspace_id,
        inbox_id=None,
        type="entitlement.granted",
        payload={"product": product, "source": source, "source_ref": source_ref},
        now=now,
    )
    return Entitlement(**row._mapping)


def revoke_payment(
    conn: sa.Connection, *, payment_ref: str, reason: str, now: datetime
) -> Entitlement | None:
    """Revoke what the payment granted (a refunded or disputed card payment): the plan falls
    back to free, so the gate refuses new inboxes; the inboxes made stay. None when the
    payment granted nothing here."""
    row = conn.execute(
        sa.select(t.billing_entitlements).where(
            _COLUMNS.payment_ref == payment_ref, _COLUMNS.status == "active"
        )
    ).first()
    if row is None:
        return None
    conn.execute(
        sa.update(t.billing_entitlements)
        .where(_COLUMNS.id == row.id)
        .values(status="revoked", updated_at=now)
    )
    if row.product == MULTI_INBOX:
        conn.execute(
            sa.update(t.workspaces)
            .where(t.workspaces.c.id == row.workspace_id, t.workspaces.c.plan == MULTI_INBOX)
            .values(plan="free")
        )
    event_log.append(
        conn,
        workspace_id=row.workspace_id,
        inbox_id=None,
        type="entitlement.revoked",
        payload={"product": row.product, "source": row.source, "reason": reason},
        now=now,
    )
    return Entitlement(**{**row._mapping, "status": "revoked", "updated_at": now})


def list_entitlements(conn: sa.Connection, workspace_id: str) -> list[Entitlement]:
    rows = conn.execute(
        sa.select(t.billing_entitlements)
        .where(_COLUMNS.workspace_id == workspace_id)
        .order_by(_COLUMNS.granted_at, _COLUMNS.id)
    )
    return [Entitlement(**row._mapping) for row in rows]


def plan_of(conn: sa.Connection, workspace_id: str) -> str:
    plan = conn.scalar(sa.select(t.workspaces.c.plan).where(t.workspaces.c.id == workspace_id))
    return str(plan)


def may_have_many_inboxes(conn: sa.Connection, workspace_id: str) -> bool:
    """The gate's one rule: an active `multi_inbox` entitlement, or a plan above free."""
    plan = conn.scalar(sa.select(t.workspaces.c.plan).where(t.workspaces.c.id == workspace_id))
    if plan is not None and plan != "free":
        return True
    active = conn.scalar(
        sa.select(_COLUMNS.id).where(
            _COLUMNS.workspace_id == workspace_id,
            _COLUMNS.product == MULTI_INBOX,
            _COLUMNS.status == "active",
        )
    )
    return active is not None
