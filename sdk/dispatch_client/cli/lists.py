"""`dispatch lists ...`: the workspace's allow and block lists, for mail received and sent."""

from __future__ import annotations

import itertools

import click

from dispatch_client.cli._common import example, output_option, session_of
from dispatch_client.cli._output import Column, column

_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("INBOX", "inbox_id"),
    column("DIRECTION", "direction"),
    column("ACTION", "action"),
    column("PATTERN", "pattern"),
    column("CREATED", "created_at"),
]
_DIRECTION = click.Choice(["receive", "send"])


@click.group()
def lists() -> None:
    """Allow and block lists: a block entry wins; once an allow entry applies to an inbox and
    direction, everything it does not match is refused. Adding and deleting need an account
    key; an inbox key lists the entries that apply to its inbox."""


def _add(ctx: click.Context, action: str, pattern: str, direction: str, inbox: str | None) -> None:
    session = session_of(ctx)
    entry = session.client().lists.create(
        pattern,
        direction="send" if direction == "send" else "receive",
        action="allow" if action == "allow" else "block",
        inbox_id=inbox,
    )
    session.printer.record(entry)


@lists.command(
    epilog=example(
        "dispatch lists block spam.example\ndispatch lists block a@x.com --direction send"
    )
)
@click.argument("pattern")
@click.option("--direction", type=_DIRECTION, default="receive", show_default=True)
@click.option("--inbox", help="Only for this inbox id (default: every inbox of the workspace).")
@output_option
@click.pass_context
def block(ctx: click.Context, pattern: str, direction: str, inbox: str | None) -> None:
    """Block a sender (receive) or a recipient (send). PATTERN is an address (a@x.com), a
    domain (x.com, not its subdomains) or *.x.com (its subdomains)."""
    _add(ctx, "block", pattern, direction, inbox)


@lists.command(epilog=example("dispatch lists allow '*.partner.example' --inbox inb_123"))
@click.argument("pattern")
@click.option("--direction", type=_DIRECTION, default="receive", show_default=True)
@click.option("--inbox", help="Only for this inbox id (default: every inbox of the workspace).")
@output_option
@click.pass_context
def allow(ctx: click.Context, pattern: str, direction: str, inbox: str | None) -> None:
    """Allow a sender (receive) or a recipient (send); with any allow entry, everything else
    is refused. PATTERN is an address (a@x.com), a domain (x.com, not its subdomains) or
    *.x.com (its subdomains)."""
    _add(ctx, "allow", pattern, direction, inbox)


@lists.command(name="list", epilog=example("dispatch lists list --direction send"))
@click.option("--direction", type=_DIRECTION, help="Only the entries for this direction.")
@click.option("--inbox", help="Only this inbox's own entries.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
@click.pass_context
def list_entries(ctx: click.Context, direction: str | None, inbox: str | None, limit: int) -> None:
    """The workspace's entries, newest first (with an inbox key: the workspace's and its
    inbox's own)."""
    session = session_of(ctx)
    page = session.client().lists.list(
        inbox_id=inbox,
        direction=None if direction is None else "send" if direction == "send" else "receive",
        limit=min(limit, 100),
    )
    rows = list(itertools.islice(page, limit))
    session.printer.records(rows, _COLUMNS, empty="no list entries")


@lists.command(epilog=example("dispatch lists delete lst_123"))
@click.argument("entry_id")
@output_option
@click.pass_context
def delete(ctx: click.Context, entry_id: str) -> None:
    """Delete an entry."""
    session = session_of(ctx)
    session.printer.record(session.client().lists.delete(entry_id))
