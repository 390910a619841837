"""`dispatch mail threads` and `dispatch mail thread ID`: the selected inbox's conversations,
received and sent mail together."""

from __future__ import annotations

import click

from dispatch_client.cli._common import example, inbox_option, output_option, session_of
from dispatch_client.cli._output import Column, column

THREAD_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("ACTIVITY", "last_activity_at"),
    column("SUBJECT", "subject"),
    column("MESSAGES", "message_count"),
    column("UNREAD", "unread_count"),
    ("WITH", lambda t: ", ".join(t.participants[:3])),
]
MESSAGE_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("AT", "at"),
    column("DIRECTION", "direction"),
    column("FROM", "from_"),
    column("SUBJECT", "subject"),
    ("UNREAD", lambda m: m.unread),
]


@click.command(epilog=example("dispatch mail threads --limit 5\ndispatch mail threads -o json"))
@inbox_option
@click.option("--limit", default=20, show_default=True, help="At most this many.")
@output_option
@click.pass_context
def threads(ctx: click.Context, inbox: str | None, limit: int) -> None:
    """The inbox's threads, latest activity first, with their counts."""
    session = session_of(ctx)
    page = session.client().threads.list(session.inbox_id(inbox), limit=limit)
    session.printer.records(list(page.data), THREAD_COLUMNS, empty="no threads")


@click.command(epilog=example("dispatch mail thread THREAD_ID"))
@click.argument("thread_id")
@inbox_option
@output_option
@click.pass_context
def thread(ctx: click.Context, thread_id: str, inbox: str | None) -> None:
    """One thread: its messages, received and sent, oldest first (`mail show ID` or
    `dispatch mail sent` has each whole)."""
    session = session_of(ctx)
    found = session.client().threads.get(session.inbox_id(inbox), thread_id)
    printer = session.printer
    if printer.json:
        printer.emit_json(found)
        return
    printer.text(f"{found.subject or '(no subject)'}: {found.message_count} message(s)")
    printer.records(list(found.messages), MESSAGE_COLUMNS, empty="no messages")
