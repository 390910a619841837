"""`dispatch domains ...`: the workspace's custom domains, the DNS records to publish for
them, and their checks."""

from __future__ import annotations

import itertools

import click

from dispatch_client.cli._common import example, output_option, session_of
from dispatch_client.cli._output import Column, column
from dispatch_client.types.domain import Domain

_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("NAME", "unicode_name"),
    column("STATUS", "status"),
    column("SENDING", "sending_ready"),
    column("CHECKED", "checked_at"),
]
_RECORD_COLUMNS: list[Column] = [
    column("PURPOSE", "purpose"),
    column("TYPE", "type"),
    column("NAME", "name"),
    ("VALUE", lambda r: r.value if r.priority is None else f"{r.priority} {r.value}"),
    column("STATUS", "status"),
    column("REASON", "reason"),
]


@click.group()
def domains() -> None:
    """Custom domains (account key): add one, publish the records it shows at your DNS
    host, verify it, then `dispatch inbox create --domain NAME`."""


def _show(ctx: click.Context, domain: Domain) -> None:
    """The domain and a table of its records (one JSON object with --output json)."""
    printer = session_of(ctx).printer
    if printer.json:
        printer.emit_json(domain)
        return
    printer.record(domain, _COLUMNS)
    printer.records(domain.records, _RECORD_COLUMNS, empty="no records")


@domains.command(epilog=example("dispatch domains add mail.example.com"))
@click.argument("name")
@output_option
@click.pass_context
def add(ctx: click.Context, name: str) -> None:
    """Add NAME (a domain you control); shows the DNS records to publish."""
    _show(ctx, session_of(ctx).client().domains.create(name))


@domains.command(name="list", epilog=example("dispatch domains list"))
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
@click.pass_context
def list_domains(ctx: click.Context, limit: int) -> None:
    """The workspace's domains, oldest first."""
    session = session_of(ctx)
    page = session.client().domains.list(limit=min(limit, 100))
    rows = list(itertools.islice(page, limit))
    session.printer.records(rows, _COLUMNS, empty="no domains: `dispatch domains add NAME`")


@domains.command(epilog=example("dispatch domains show dom_123"))
@click.argument("domain_id")
@output_option
@click.pass_context
def show(ctx: click.Context, domain_id: str) -> None:
    """A domain and its records, with their last check."""
    _show(ctx, session_of(ctx).client().domains.get(domain_id))


@domains.command(epilog=example("dispatch domains verify dom_123"))
@click.argument("domain_id")
@output_option
@click.pass_context
def verify(ctx: click.Context, domain_id: str) -> None:
    """Check the domain's records in DNS now (verified once ownership and MX are ok)."""
    _show(ctx, session_of(ctx).client().domains.verify(domain_id))


@domains.command(epilog=example("dispatch domains remove dom_123"))
@click.argument("domain_id")
@output_option
@click.pass_context
def remove(ctx: click.Context, domain_id: str) -> None:
    """Delete a domain (refused while inboxes have addresses at it)."""
    session = session_of(ctx)
    session.printer.record(session.client().domains.delete(domain_id), _COLUMNS)
