"""`dispatch memory ...`: the inbox's small key/value notes (kept as mail it sends itself)."""

from __future__ import annotations

import click

from dispatch_client.cli._common import (
    example,
    inbox_option,
    output_option,
    read_stdin,
    session_of,
)
from dispatch_client.cli._output import Column, column
from dispatch_client.cli._session import NotFound, UsageProblem

ENTRY_COLUMNS: list[Column] = [
    column("KEY", "key"),
    column("VALUE", "value"),
    column("WRITTEN", "written_at"),
]


@click.group()
def memory() -> None:
    """Remember and recall small notes, per inbox (a subject is the key, a body the value)."""


@memory.command(epilog=example("TOKEN=$(dispatch memory read acme-api-token)"))
@click.argument("key")
@inbox_option
@output_option
@click.pass_context
def read(ctx: click.Context, key: str, inbox: str | None) -> None:
    """Print the latest value of KEY (exit status 5 if it was never written).

    `-o json` prints the entry, with when it was written.
    """
    session = session_of(ctx)
    entry = session.client().memory.read(session.inbox_id(inbox), key)
    if entry is None:
        raise NotFound(f"no memory {key!r} in this inbox")
    if session.printer.json and session.printer.explicit:
        session.printer.emit_json(entry)
    else:
        session.printer.text(entry.value)


@memory.command(
    epilog=example(
        'dispatch memory write acme-account "signed up 2026-12-02, user id 4411"\n'
        "dispatch memory write notes < notes.txt"
    )
)
@click.argument("key")
@click.argument("value", required=False)
@inbox_option
@output_option
@click.pass_context
def write(ctx: click.Context, key: str, value: str | None, inbox: str | None) -> None:
    """Write VALUE for KEY (VALUE from stdin when not given)."""
    session = session_of(ctx)
    if value is None:
        value = read_stdin()
        if value is None:
            raise UsageProblem("no value: give it after the key, or pipe it on stdin")
    entry = session.client().memory.write(session.inbox_id(inbox), key, value)
    session.printer.record(entry, ENTRY_COLUMNS)


@memory.command(name="list", epilog=example("dispatch memory list"))
@inbox_option
@output_option
@click.pass_context
def list_keys(ctx: click.Context, inbox: str | None) -> None:
    """Every key written, most recently updated first."""
    session = session_of(ctx)
    found = session.client().memory.keys(session.inbox_id(inbox))
    columns: list[Column] = [column("KEY", "key"), column("UPDATED", "updated_at")]
    session.printer.records(found, columns, empty="nothing remembered yet")


@memory.command(epilog=example("dispatch memory history acme-account --limit 5"))
@click.argument("key")
@inbox_option
@click.option("--limit", default=20, show_default=True, help="At most this many.")
@output_option
@click.pass_context
def history(ctx: click.Context, key: str, inbox: str | None, limit: int) -> None:
    """Every value written for KEY, newest first."""
    session = session_of(ctx)
    page = session.client().memory.history(session.inbox_id(inbox), key, limit=limit)
    session.printer.records(list(page.data), ENTRY_COLUMNS, empty=f"no memory {key!r}")
