"""`dispatch mail read|unread|trash|untrash|spam|unspam|label ID...` and `dispatch mail
labels`: the state and user labels of the selected inbox's mail, changed for one message or
up to 100 at once (all or nothing), and the inbox's labels with their counts. The rules are
the server's (docs/labels.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from dispatch_client.cli._common import example, inbox_option, output_option, session_of
from dispatch_client.cli._output import Column, column
from dispatch_client.cli._session import UsageProblem

CHANGED_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("FOLDER", "folder"),
    ("UNREAD", lambda m: m.unread),
    ("TRASHED", lambda m: m.trashed_at is not None),
    ("LABELS", lambda m: ", ".join(m.labels)),
    column("SUBJECT", "subject"),
]
LABEL_COLUMNS: list[Column] = [
    column("LABEL", "name"),
    column("KIND", "kind"),
    column("MESSAGES", "message_count"),
    column("UNREAD", "unread_count"),
]
_IDS = click.argument("message_ids", nargs=-1, required=True, metavar="ID...")


def _change(ctx: click.Context, inbox: str | None, ids: Sequence[str], **change: Any) -> None:
    session = session_of(ctx)
    changed = session.client().messages.batch_update(session.inbox_id(inbox), list(ids), **change)
    session.printer.records(list(changed), CHANGED_COLUMNS, empty="nothing changed")


def _state_command(name: str, doc: str, **change: bool) -> click.Command:
    @click.command(name=name, epilog=example(f"dispatch mail {name} MESSAGE_ID [MESSAGE_ID...]"))
    @_IDS
    @inbox_option
    @output_option
    @click.pass_context
    def command(ctx: click.Context, message_ids: tuple[str, ...], inbox: str | None) -> None:
        _change(ctx, inbox, message_ids, **change)

    command.help = doc
    return command


read = _state_command("read", "Mark messages read.", read=True)
unread = _state_command("unread", "Mark messages unread.", read=False)
trash = _state_command(
    "trash", "Put messages in the trash: out of listings, kept in their folder.", trash=True
)
untrash = _state_command("untrash", "Take messages out of the trash.", trash=False)
spam = _state_command("spam", "Move inbox messages to the spam folder.", spam=True)
unspam = _state_command("unspam", "Move spam messages back to the inbox.", spam=False)


@click.command(
    epilog=example(
        'dispatch mail label MESSAGE_ID --add billing --add "to do"\n'
        "dispatch mail label ID1 ID2 --remove billing"
    )
)
@_IDS
@click.option("--add", "add", multiple=True, help="A user label to add (repeatable).")
@click.option("--remove", "remove", multiple=True, help="A user label to remove (repeatable).")
@inbox_option
@output_option
@click.pass_context
def label(
    ctx: click.Context,
    message_ids: tuple[str, ...],
    add: tuple[str, ...],
    remove: tuple[str, ...],
    inbox: str | None,
) -> None:
    """Add and remove user labels of messages (one per message whatever its case)."""
    if not add and not remove:
        raise UsageProblem("give --add or --remove: dispatch mail label ID --add billing")
    _change(
        ctx,
        inbox,
        message_ids,
        add_labels=list(add) or None,
        remove_labels=list(remove) or None,
    )


@click.command(epilog=example("dispatch mail labels\ndispatch mail labels -o json"))
@inbox_option
@output_option
@click.pass_context
def labels(ctx: click.Context, inbox: str | None) -> None:
    """The inbox's labels, system (inbox, spam, trash) and user, with their counts."""
    session = session_of(ctx)
    found = session.client().messages.labels(session.inbox_id(inbox))
    session.printer.records(list(found), LABEL_COLUMNS, empty="no labels")


COMMANDS = [read, unread, label, trash, untrash, spam, unspam, labels]
