"""`dispatch billing ...`: the workspace's plan, a card checkout, and on-chain payments."""

from __future__ import annotations

import click

from dispatch_client.cli._common import example, output_option, session_of
from dispatch_client.cli._output import Column, column


@click.group()
def billing() -> None:
    """The plan and its entitlements; pay by card (Stripe) or on chain (x402)."""


@billing.command(epilog=example("dispatch billing entitlements"))
@output_option
@click.pass_context
def entitlements(ctx: click.Context) -> None:
    """The workspace's plan and the products it was granted."""
    session = session_of(ctx)
    found = session.client().billing.entitlements()
    if session.printer.json:
        session.printer.emit_json(found)
        return
    session.printer.note(f"plan: {found.plan}")
    columns: list[Column] = [
        column("PRODUCT", "product"),
        column("STATUS", "status"),
        column("SOURCE", "source"),
        column("REFERENCE", "source_ref"),
        column("GRANTED", "granted_at"),
    ]
    session.printer.records(list(found.data), columns, empty="no entitlements (free plan)")


@billing.command(
    epilog=example(
        'dispatch billing checkout\nopen "$(dispatch billing checkout -o json | jq -r .url)"'
    )
)
@click.option("--product", default="multi_inbox", show_default=True)
@output_option
@click.pass_context
def checkout(ctx: click.Context, product: str) -> None:
    """A Stripe Checkout page to pay by card: open its URL in a browser."""
    session = session_of(ctx)
    created = session.client().billing.checkout_session(product=product)
    session.printer.record(created)


@billing.command(epilog=example("dispatch billing quote --chain evm"))
@click.option("--chain", type=click.Choice(["evm", "solana"]), default="evm", show_default=True)
@click.option("--product", default="multi_inbox", show_default=True)
@click.option("--payer", help="The wallet that will pay (binds the quote to it).")
@output_option
@click.pass_context
def quote(ctx: click.Context, chain: str, product: str, payer: str | None) -> None:
    """An x402 quote: what to pay on chain, to whom, with which reference."""
    session = session_of(ctx)
    session.printer.record(
        session.client().billing.quote(chain=chain, product=product, payer=payer)
    )


@billing.command(epilog=example("dispatch billing confirm quo_123 0xabc..."))
@click.argument("quote_id")
@click.argument("tx_hash")
@click.option("--payer", help="The wallet that paid (Solana: when the quote names none).")
@output_option
@click.pass_context
def confirm(ctx: click.Context, quote_id: str, tx_hash: str, payer: str | None) -> None:
    """Confirm an on-chain payment made for a quote; the entitlement is granted once it
    is verified (confirming the same payment again changes nothing)."""
    session = session_of(ctx)
    session.printer.record(session.client().billing.confirm(quote_id, tx_hash, payer=payer))
