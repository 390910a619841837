"""`dispatch drafts ...`: the selected inbox's drafts, saved (any field still missing),
listed, shown, edited in part, deleted, and sent as `dispatch mail send` sends."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from dispatch_client.cli._common import example, inbox_option, output_option, session_of
from dispatch_client.cli._output import Column, column
from dispatch_client.cli._session import UsageProblem
from dispatch_client.cli.mail import SENT_FIELDS, _headers

_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("UPDATED", "updated_at"),
    column("VERSION", "version"),
    ("TO", lambda d: ", ".join(d.to[:3])),
    column("SUBJECT", "subject"),
]
_FIELDS: list[Column] = [
    column("id", "id"),
    column("version", "version"),
    column("to", "to"),
    column("cc", "cc"),
    column("bcc", "bcc"),
    column("subject", "subject"),
    column("text", "text"),
    column("in_reply_to", "in_reply_to"),
    column("updated_at", "updated_at"),
]


@click.group()
def drafts() -> None:
    """Drafts of the inbox: saved before they are sent, any field still missing. Sending
    one checks it as `dispatch mail send` does and deletes it. Needs a key that may send."""


def draft_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--to", "to", multiple=True, help="A recipient (repeatable)."),
            click.option("--cc", multiple=True, help="Cc (repeatable)."),
            click.option("--bcc", multiple=True, help="Bcc (repeatable)."),
            click.option("--reply-to", multiple=True, help="Reply-To (repeatable)."),
            click.option("--subject", help="The subject."),
            click.option("--text", help="The text body."),
            click.option(
                "--text-file", type=click.Path(path_type=Path), help="... from a file (- is stdin)."
            ),
            click.option("--html", help="The HTML body."),
            click.option("--header", "header", multiple=True, help="'Name: value' (repeatable)."),
            click.option("--in-reply-to", help="The id of a received message it answers."),
        ]
    ):
        command = option(command)
    return command


def _fields(
    *,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str | None,
    text: str | None,
    text_file: Path | None,
    html: str | None,
    header: tuple[str, ...],
    in_reply_to: str | None,
) -> dict[str, Any]:
    """The flags given, as the SDK takes them (None: left out)."""
    if text is not None and text_file is not None:
        raise UsageProblem("give --text or --text-file, not both")
    if text_file is not None:
        try:
            text = sys.stdin.read() if str(text_file) == "-" else text_file.read_text("utf-8")
        except OSError as error:
            raise UsageProblem(f"cannot read {text_file}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise UsageProblem(f"{text_file} is not UTF-8 text") from None
    return {
        "to": list(to) or None,
        "cc": list(cc) or None,
        "bcc": list(bcc) or None,
        "reply_to": list(reply_to) or None,
        "subject": subject,
        "text": text,
        "html": html,
        "headers": _headers(header),
        "in_reply_to": in_reply_to,
    }


@drafts.command(
    epilog=example(
        'dispatch drafts create --to a@example.com --subject "Report"\n'
        "dispatch drafts create --in-reply-to MESSAGE_ID --text-file reply.txt"
    )
)
@inbox_option
@draft_options
@output_option
@click.pass_context
def create(ctx: click.Context, /, inbox: str | None, **fields: Any) -> None:
    """Save a draft; any field may be missing until it is sent."""
    session = session_of(ctx)
    draft = session.client().drafts.create(session.inbox_id(inbox), **_fields(**fields))
    session.printer.record(draft, _FIELDS)


@drafts.command(name="list", epilog=example("dispatch drafts list --limit 5"))
@inbox_option
@click.option("--limit", default=20, show_default=True, help="At most this many.")
@output_option
@click.pass_context
def list_(ctx: click.Context, inbox: str | None, limit: int) -> None:
    """The inbox's drafts, latest updated first."""
    session = session_of(ctx)
    page = session.client().drafts.list(session.inbox_id(inbox), limit=limit)
    session.printer.records(list(page.data), _COLUMNS, empty="no drafts")


@drafts.command(epilog=example("dispatch drafts show DRAFT_ID"))
@click.argument("draft_id")
@inbox_option
@output_option
@click.pass_context
def show(ctx: click.Context, draft_id: str, inbox: str | None) -> None:
    """One draft, whole."""
    session = session_of(ctx)
    session.printer.record(session.client().drafts.get(session.inbox_id(inbox), draft_id), _FIELDS)


@drafts.command(
    epilog=example(
        'dispatch drafts edit DRAFT_ID --text "Final text"\n'
        "dispatch drafts edit DRAFT_ID --to b@example.com --version 2"
    )
)
@click.argument("draft_id")
@inbox_option
@draft_options
@click.option(
    "--version", type=int, help="Only if the draft is still at this version (else it fails)."
)
@output_option
@click.pass_context
def edit(
    ctx: click.Context, /, draft_id: str, inbox: str | None, version: int | None, **fields: Any
) -> None:
    """Change the fields given; the others are kept (--text "" clears the text)."""
    session = session_of(ctx)
    draft = session.client().drafts.update(
        session.inbox_id(inbox), draft_id, version=version, **_fields(**fields)
    )
    session.printer.record(draft, _FIELDS)


@drafts.command(epilog=example("dispatch drafts delete DRAFT_ID"))
@click.argument("draft_id")
@inbox_option
@output_option
@click.pass_context
def delete(ctx: click.Context, draft_id: str, inbox: str | None) -> None:
    """Delete a draft."""
    session = session_of(ctx)
    session.printer.record(
        session.client().drafts.delete(session.inbox_id(inbox), draft_id), _FIELDS
    )


@drafts.command(epilog=example("dispatch drafts send DRAFT_ID"))
@click.argument("draft_id")
@inbox_option
@click.option(
    "--idempotency-key", help="Makes a rerun of the same command safe: the server sends it once."
)
@output_option
@click.pass_context
def send(ctx: click.Context, draft_id: str, inbox: str | None, idempotency_key: str | None) -> None:
    """Send a draft as `dispatch mail send` sends, and delete it."""
    session = session_of(ctx)
    options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
    sent = session.client().drafts.send(session.inbox_id(inbox), draft_id, **options)
    session.printer.record(sent, SENT_FIELDS)
