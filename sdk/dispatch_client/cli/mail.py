"""`dispatch mail ...`: read (and download attachments), wait for, extract from, send and
reply to an inbox's mail (its state and labels: dispatch_client.cli.labels).

`mail code` and `mail link` print one value and nothing else, so `CODE=$(dispatch mail code)`
works; they wait on the server for the newest matching message of its lookback window (or
since `--since`) and never print a message they printed before, so after "resend the code"
they give the new code, not the old one again.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Any

import click

from dispatch_client._errors import WaitTimeoutError
from dispatch_client.cli import _llm
from dispatch_client.cli._common import (
    F,
    example,
    inbox_option,
    output_option,
    read_stdin,
    session_of,
)
from dispatch_client.cli._output import Column, column, jsonable
from dispatch_client.cli._session import Session, UsageProblem
from dispatch_client.extract import extract, extract_message
from dispatch_client.types.event import Event
from dispatch_client.types.message import Message, MessageSummary
from dispatch_client.types.sent import OutgoingAttachment
from dispatch_client.types.wait import WaitKind, WaitResult

ROUND_SECONDS = 25.0
FOLDERS = ["inbox", "spam", "quarantine", "memory", "trash", "all"]

SUMMARY_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("RECEIVED", "received_at"),
    column("FROM", "from_"),
    column("SUBJECT", "subject"),
    ("OTP", lambda m: m.has_otp),
    ("LINK", lambda m: m.has_link),
    ("UNREAD", lambda m: m.unread),
    ("LABELS", lambda m: ", ".join(m.labels)),
]


@click.group()
def mail() -> None:
    """Read, wait for, extract from, send, reply to and label the selected inbox's mail."""


@mail.command(
    name="list", epilog=example("dispatch mail list --limit 5\ndispatch mail list -o json")
)
@inbox_option
@click.option("--limit", default=20, show_default=True, help="At most this many.")
@click.option(
    "--folder",
    type=click.Choice(FOLDERS),
    default="inbox",
    show_default=True,
    help="A folder's mail out of the trash; trash: the trashed mail; all: everything.",
)
@click.option("--label", help="Only the messages with this user label (any case).")
@click.option(
    "--unread/--read", "unread", default=None, help="Only unread (or only read) messages."
)
@output_option
@click.pass_context
def list_mail(
    ctx: click.Context,
    inbox: str | None,
    limit: int,
    folder: str,
    label: str | None,
    unread: bool | None,
) -> None:
    """The newest messages first, without their bodies."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    page = session.client().messages.list(
        inbox_id,
        limit=limit,
        folder=folder,  # type: ignore[arg-type]
        label=label,
        unread=unread,
    )
    session.printer.records(list(page.data), SUMMARY_COLUMNS, empty="no mail")


def _show(session: Session, message: Message) -> None:
    printer = session.printer
    if printer.json:
        printer.emit_json({**jsonable(message), "otp": message.otp, "link": message.primary_link})
        return
    printer.record(
        message,
        [
            column("id", "id"),
            column("from", "from_"),
            column("to", "to"),
            column("subject", "subject"),
            column("received", "received_at"),
            column("folder", "folder"),
            ("unread", lambda m: m.unread),
            ("trashed", lambda m: m.trashed_at is not None),
            ("labels", lambda m: ", ".join(m.labels)),
            ("otp", lambda m: m.otp),
            ("link", lambda m: m.primary_link),
            ("attachments", lambda m: [a.filename or a.content_type for a in m.attachments]),
        ],
    )
    body = message.text or (message.html and "(HTML only: `-o json` has it)") or "(no body)"
    printer.text("\n" + body)


@mail.command(epilog=example("dispatch mail show msg_123"))
@click.argument("message_id")
@inbox_option
@output_option
@click.pass_context
def show(ctx: click.Context, message_id: str, inbox: str | None) -> None:
    """One message: its headers, text, code, links and attachments."""
    session = session_of(ctx)
    _show(session, session.client().messages.get(session.inbox_id(inbox), message_id))


@mail.command(epilog=example("dispatch mail raw msg_123 > message.eml"))
@click.argument("message_id")
@inbox_option
@click.pass_context
def raw(ctx: click.Context, message_id: str, inbox: str | None) -> None:
    """The message exactly as received (RFC 5322 bytes) on stdout."""
    session = session_of(ctx)
    data = session.client().messages.raw(session.inbox_id(inbox), message_id)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


ATTACHMENT_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("FILENAME", "filename"),
    column("TYPE", "content_type"),
    column("BYTES", "size_bytes"),
    column("CONTENT-ID", "content_id"),
]


@mail.command(
    epilog=example("dispatch mail attachments msg_123\ndispatch mail attachments msg_123 -o json")
)
@click.argument("message_id")
@inbox_option
@output_option
@click.pass_context
def attachments(ctx: click.Context, message_id: str, inbox: str | None) -> None:
    """A message's attachments: id, safe file name, content type, size, Content-ID."""
    session = session_of(ctx)
    found = session.client().attachments.list(session.inbox_id(inbox), message_id)
    session.printer.records(found, ATTACHMENT_COLUMNS, empty="no attachments")


@mail.command(
    epilog=example(
        "dispatch mail attachment msg_123 0 --save .\n"
        "dispatch mail attachment msg_123 1 --save invoice.pdf\n"
        "dispatch mail attachment msg_123 0 | sha256sum"
    )
)
@click.argument("message_id")
@click.argument("attachment_id", type=click.IntRange(min=0))
@click.option(
    "--save",
    type=click.Path(path_type=Path),
    help="Write it to this file, or into this directory under its own file name; "
    "without: its bytes go to stdout.",
)
@inbox_option
@output_option
@click.pass_context
def attachment(
    ctx: click.Context, message_id: str, attachment_id: int, save: Path | None, inbox: str | None
) -> None:
    """Download one attachment (its id from `mail attachments`), streamed."""
    session = session_of(ctx)
    client, inbox_id = session.client(), session.inbox_id(inbox)
    if save is not None:
        written = client.attachments.save(inbox_id, message_id, attachment_id, save)
        session.printer.record({"path": str(written)})
        return
    if sys.stdout.isatty():
        raise UsageProblem("an attachment's bytes would go to the terminal: pipe them or --save")
    with client.attachments.download(inbox_id, message_id, attachment_id) as stream:
        for chunk in stream:
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _since(value: str | None) -> datetime | None:
    """`--since`: 10m, 2h, 1d, or an ISO 8601 time."""
    if value is None:
        return None
    found = re.fullmatch(r"\s*(\d{1,6})\s*([smhd])\s*", value)
    if found:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(found.group(1))})
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageProblem(f"--since: {value!r} is neither 10m/2h/1d nor an ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _wait(
    session: Session,
    inbox_id: str,
    kind: WaitKind,
    *,
    timeout: float,
    since: str | None,
    from_: str | None,
    subject: str | None,
) -> WaitResult:
    """Server-side wait rounds until a match, or `timeout` seconds.

    The server answers the newest match of its lookback window (or since `--since`). One
    `mail code` / `mail link` printed before (any filters) is not printed again: the wait
    then goes on for a message received after it. The times are the server's, so a local
    clock that is off changes nothing (except for `--since`, which is this machine's time).
    """
    printed_name = f"{kind}:{inbox_id}"
    printed = set(session.state.printed.get(printed_name, [])) if kind != "message" else set()
    start = _since(since)
    explicit = start is not None
    client = session.client()
    deadline = monotonic() + timeout
    what = {"otp": "a code", "link": "a link", "message": "a message"}[kind]
    skipped = False
    with session.printer.progress(f"waiting up to {timeout:g} s for {what} in {inbox_id}"):
        while True:
            remaining = deadline - monotonic()
            result = client.messages.wait(
                inbox_id,
                timeout=max(0.0, min(ROUND_SECONDS, remaining)),
                since=start,
                from_=from_,
                subject=subject,
                kind=kind,
            )
            found = result.message if result.matched else None
            if found is not None and (explicit or found.id not in printed):
                if kind != "message":
                    session.state.remember_printed(printed_name, found.id)
                return result
            if found is not None:  # printed before: wait for a newer one
                start = found.received_at + timedelta(microseconds=1)
                skipped = True
            if deadline - monotonic() <= 0:
                raise WaitTimeoutError(
                    f"no new message with {what} arrived in {inbox_id} within {timeout:g} s"
                    + (" (the newest was printed before)" if skipped else ""),
                    inbox_id=inbox_id,
                    timeout=timeout,
                    filters={k: v for k, v in (("from", from_), ("subject", subject)) if v},
                    unmatched_count=result.unmatched_count,
                )


def wait_options(command: F) -> F:
    for option in reversed(
        [
            click.option(
                "--timeout",
                type=click.FloatRange(min=0),
                default=60.0,
                show_default=True,
                help="Seconds to wait.",
            ),
            click.option("--since", help="Look back this far: 10m, 2h, 1d or an ISO time."),
            click.option("--from", "from_", help="Only mail whose sender address contains this."),
            click.option("--subject", help="Only mail whose subject contains this."),
        ]
    ):
        command = option(command)
    return command


@mail.command(
    epilog=example(
        'CODE=$(dispatch mail code --timeout 60) || echo "no code"\n'
        "dispatch mail code --from github.com -o json\n"
        "dispatch mail code --consume --lease 120 -o json   # then: dispatch mail confirm ..."
    )
)
@inbox_option
@wait_options
@click.option(
    "--consume",
    is_flag=True,
    help="Take the code: no other consuming wait (another agent on this inbox) gets it again.",
)
@click.option(
    "--lease",
    type=click.IntRange(1, 3600),
    metavar="SECONDS",
    help="With --consume: the code goes back to the pool after this long unless confirmed "
    "(`dispatch mail confirm`, with the `id` and `lease_id` of `-o json`).",
)
@output_option
@click.pass_context
def code(
    ctx: click.Context,
    inbox: str | None,
    timeout: float,
    since: str | None,
    from_: str | None,
    subject: str | None,
    consume: bool,
    lease: int | None,
) -> None:
    """Wait for the next one-time code and print only the code (exit status 4 on timeout).

    `-o json` prints the code with the message it came in instead. With --consume the code
    is taken atomically (of agents sharing the inbox, exactly one gets each code), and a
    taken code is never given to another consuming wait.
    """
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    if lease is not None and not consume:
        raise UsageProblem("--lease takes --consume")
    if consume:
        result = _consume(
            session,
            inbox_id,
            timeout=timeout,
            since=since,
            from_=from_,
            subject=subject,
            lease=lease,
        )
    else:
        result = _wait(
            session, inbox_id, "otp", timeout=timeout, since=since, from_=from_, subject=subject
        )
    assert result.otp is not None and result.message is not None
    if session.printer.json and session.printer.explicit:
        shown = jsonable(result.otp)
        if result.otp.lease_id is not None:
            shown["lease_id"] = result.otp.lease_id
        session.printer.emit_json(shown)
    else:
        session.printer.text(result.otp.code)


def _consume(
    session: Session,
    inbox_id: str,
    *,
    timeout: float,
    since: str | None,
    from_: str | None,
    subject: str | None,
    lease: int | None,
) -> WaitResult:
    """Consuming wait rounds until a code is taken, or `timeout` seconds (exit status 4)."""
    client = session.client()
    deadline = monotonic() + timeout
    start = _since(since)
    with session.printer.progress(f"waiting up to {timeout:g} s to take a code in {inbox_id}"):
        while True:
            remaining = deadline - monotonic()
            result = client.messages.wait(
                inbox_id,
                timeout=max(0.0, min(ROUND_SECONDS, remaining)),
                since=start,
                from_=from_,
                subject=subject,
                kind="otp",
                consume=True,
                lease_seconds=lease,
            )
            if result.matched:
                return result
            if deadline - monotonic() <= 0:
                raise WaitTimeoutError(
                    f"no code free to take arrived in {inbox_id} within {timeout:g} s",
                    inbox_id=inbox_id,
                    timeout=timeout,
                    filters={k: v for k, v in (("from", from_), ("subject", subject)) if v},
                    unmatched_count=result.unmatched_count,
                )


@mail.command(
    epilog=example(
        "dispatch mail confirm OTP_ID LEASE_ID\n"
        "J=$(dispatch mail code --consume --lease 120 -o json) && "
        'dispatch mail confirm $(jq -r .id <<<"$J") $(jq -r .lease_id <<<"$J")'
    )
)
@click.argument("otp_id")
@click.argument("lease_id")
@inbox_option
@output_option
@click.pass_context
def confirm(ctx: click.Context, otp_id: str, lease_id: str, inbox: str | None) -> None:
    """Keep a code taken with `mail code --consume --lease` for good (before the lease ends)."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    otp = session.client().otp.confirm(inbox_id, otp_id=otp_id, lease_id=lease_id)
    session.printer.record(otp)


@mail.command(epilog=example('LINK=$(dispatch mail link --subject "Confirm")'))
@inbox_option
@wait_options
@output_option
@click.pass_context
def link(
    ctx: click.Context,
    inbox: str | None,
    timeout: float,
    since: str | None,
    from_: str | None,
    subject: str | None,
) -> None:
    """Wait for the next message with a primary action link and print only the link."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    result = _wait(
        session, inbox_id, "link", timeout=timeout, since=since, from_=from_, subject=subject
    )
    assert result.link is not None and result.message is not None
    if session.printer.json and session.printer.explicit:
        session.printer.emit_json(
            {
                "link": result.link.value,
                "message_id": result.message.id,
                "subject": result.message.subject,
            }
        )
    else:
        session.printer.text(result.link.value)


@mail.command(epilog=example("dispatch mail wait --from acme.test --timeout 120"))
@inbox_option
@wait_options
@output_option
@click.pass_context
def wait(
    ctx: click.Context,
    inbox: str | None,
    timeout: float,
    since: str | None,
    from_: str | None,
    subject: str | None,
) -> None:
    """Wait for the next message (exit status 4 on timeout) and show it."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    result = _wait(
        session, inbox_id, "message", timeout=timeout, since=since, from_=from_, subject=subject
    )
    assert result.message is not None
    _show(session, result.message)


def _event_line(event: Event) -> str:
    data = event.data
    detail = data.get("subject") or data.get("address") or data.get("status") or ""
    if data.get("otp"):
        detail += f"  otp={data['otp'].get('code')}"
    return f"{event.id}\t{event.type}\t{event.inbox_id or '-'}\t{detail}".rstrip()


@mail.command(
    epilog=example(
        "dispatch mail watch\n"
        "dispatch mail watch --all-inboxes --type message.received -o json | jq .data.otp"
    )
)
@inbox_option
@click.option("--all-inboxes", is_flag=True, help="Every inbox of the workspace (account key).")
@click.option("--type", "types", multiple=True, help="Only these event types (repeatable).")
@click.option("--after", type=int, help="Replay the events after this event id first.")
@click.option("--count", type=int, help="Stop after this many events.")
@output_option
@click.pass_context
def watch(
    ctx: click.Context,
    inbox: str | None,
    all_inboxes: bool,
    types: tuple[str, ...],
    after: int | None,
    count: int | None,
) -> None:
    """Follow the event stream as it happens: one line per event (JSON lines with `-o json`).

    A dropped connection or a server restart is resumed from the last event printed, so
    nothing is missed or printed twice. Ctrl-C stops it; `--count` stops after N events.
    """
    session = session_of(ctx)
    client = session.client()
    inbox_id = None if all_inboxes else session.inbox_id(inbox)
    printed = 0
    if count is not None and count <= 0:
        return
    with client.events.watch(inbox_id, types=list(types) or None, after=after) as stream:
        session.printer.note(
            f"watching {'the workspace' if inbox_id is None else inbox_id}; Ctrl-C stops"
        )
        for event in stream:
            if session.printer.json:
                session.printer.emit_line(event)
            else:
                session.printer.text(_event_line(event))
            printed += 1
            if count is not None and printed >= count:
                return


def _finding(
    message: MessageSummary | Message, source: str, otp: str | None, link: str | None
) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "received_at": message.received_at,
        "subject": message.subject,
        "otp": otp,
        "link": link,
        "source": source,
    }


@mail.command(
    name="extract", epilog=example("dispatch mail extract\ndispatch mail extract msg_123 --llm")
)
@click.argument("message_id", required=False)
@inbox_option
@click.option("--recent", default=10, show_default=True, help="How many recent messages.")
@click.option("--llm", "use_llm", is_flag=True, help="Ask a language model about the rest.")
@output_option
@click.pass_context
def extract_(
    ctx: click.Context, message_id: str | None, inbox: str | None, recent: int, use_llm: bool
) -> None:
    """The code and link of recent messages (or of one): stored ones first, then the
    extractor run here on the raw message, then (`--llm`) a language model.

    `source` says where each came from: `stored` (found at delivery), `local` (this
    version's extractor), `llm` (checked against the message), or `none`.
    """
    session = session_of(ctx)
    client = session.client()
    inbox_id = session.inbox_id(inbox)
    settings = _llm.settings_from_env() if use_llm else None
    if settings is not None:
        session.hide(settings.api_key)
    if message_id is not None:
        messages: list[Message] = [client.messages.get(inbox_id, message_id)]
    else:
        summaries = client.messages.list(inbox_id, limit=recent).data
        messages = [client.messages.get(inbox_id, summary.id) for summary in summaries]
    findings = []
    for message in messages:
        if message.otp or message.primary_link:
            findings.append(_finding(message, "stored", message.otp, message.primary_link))
            continue
        local = extract_message(client.messages.raw(inbox_id, message.id))
        if local.otp or local.primary_link:
            findings.append(_finding(message, "local", local.otp, local.primary_link))
            continue
        if settings is not None:
            body = message.text or ""
            if not body and message.html:
                body = message.html
            answer = _llm.ask(
                settings,
                subject=message.subject,
                body=body,
                extraction=extract(message.subject, message.text, message.html),
            )
            if answer.code or answer.link:
                findings.append(_finding(message, "llm", answer.code, answer.link))
                continue
        findings.append(_finding(message, "none", None, None))
    session.printer.records(
        findings,
        [
            ("ID", lambda f: f["message_id"]),
            ("RECEIVED", lambda f: f["received_at"]),
            ("SUBJECT", lambda f: f["subject"]),
            ("OTP", lambda f: f["otp"]),
            ("LINK", lambda f: f["link"]),
            ("SOURCE", lambda f: f["source"]),
        ],
        empty="no mail",
    )


def _body(
    text: str | None,
    text_file: Path | None,
    html: str | None,
    html_file: Path | None,
    *,
    stdin_is_body: bool,
) -> tuple[str | None, str | None]:
    """The text and HTML bodies from flags or files (`-` is stdin), else text from stdin
    when some is piped in (unless stdin is an attachment)."""
    if not stdin_is_body and "-" in (str(text_file), str(html_file)):
        raise UsageProblem("stdin can be the body or an attachment, not both")

    def read(path: Path) -> str:
        if str(path) == "-":
            return sys.stdin.read()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageProblem(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise UsageProblem(f"{path} is not UTF-8 text") from None

    if text is not None and text_file is not None:
        raise UsageProblem("give --text or --text-file, not both")
    if html is not None and html_file is not None:
        raise UsageProblem("give --html or --html-file, not both")
    text = read(text_file) if text_file is not None else text
    html = read(html_file) if html_file is not None else html
    if text is None and html is None and stdin_is_body:
        text = read_stdin()
    if not text and not html:
        raise UsageProblem(
            "no body: give --text, --html, --text-file FILE (- for stdin), or pipe it in"
        )
    return text, html


def _attachments(paths: tuple[Path, ...], stdin_name: str | None) -> list[OutgoingAttachment]:
    found = []
    for path in paths:
        try:
            found.append(OutgoingAttachment.from_path(path))
        except OSError as error:
            raise UsageProblem(f"cannot read {path}: {error.strerror}") from None
    if stdin_name is not None:
        found.append(OutgoingAttachment(stdin_name, sys.stdin.buffer.read()))
    return found


def _headers(values: tuple[str, ...]) -> dict[str, str] | None:
    headers = {}
    for value in values:
        name, colon, rest = value.partition(":")
        if not colon or not name.strip():
            raise UsageProblem(f"--header {value!r}: write it as 'Name: value'")
        headers[name.strip()] = rest.strip()
    return headers or None


def body_options(command: F) -> F:
    for option in reversed(
        [
            click.option("--text", help="The text body."),
            click.option(
                "--text-file", type=click.Path(path_type=Path), help="... from a file (- is stdin)."
            ),
            click.option("--html", help="The HTML body."),
            click.option(
                "--html-file", type=click.Path(path_type=Path), help="... from a file (- is stdin)."
            ),
            click.option(
                "--attach",
                "attach",
                multiple=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="Attach this file (repeatable).",
            ),
            click.option(
                "--attach-stdin",
                metavar="NAME",
                help="Attach the bytes piped on stdin, named NAME (`report.pdf`).",
            ),
            click.option("--cc", multiple=True, help="Cc (repeatable)."),
            click.option("--bcc", multiple=True, help="Bcc (repeatable)."),
            click.option("--header", "header", multiple=True, help="'Name: value' (repeatable)."),
            click.option(
                "--idempotency-key",
                help="Makes a rerun of the same command safe: the server sends it once.",
            ),
        ]
    ):
        command = option(command)
    return command


def _composed(
    *,
    text: str | None,
    text_file: Path | None,
    html: str | None,
    html_file: Path | None,
    attach: tuple[Path, ...],
    attach_stdin: str | None,
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    header: tuple[str, ...],
    idempotency_key: str | None,
) -> dict[str, Any]:
    """The arguments `body_options` gives a send or a reply, as the SDK takes them."""
    text, html = _body(text, text_file, html, html_file, stdin_is_body=attach_stdin is None)
    composed: dict[str, Any] = {
        "text": text,
        "html": html,
        "cc": list(cc) or None,
        "bcc": list(bcc) or None,
        "headers": _headers(header),
        "attachments": _attachments(attach, attach_stdin) or None,
    }
    if idempotency_key:
        composed["idempotency_key"] = idempotency_key
    return composed


SENT_FIELDS: list[Column] = [
    column("id", "id"),
    column("status", "status"),
    column("to", "to"),
    column("subject", "subject"),
    column("message_id", "message_id"),
]


@mail.command(
    epilog=example(
        'dispatch mail send --to someone@example.com --subject "Hello" --text "Hi!"\n'
        'echo "body from a pipe" | dispatch mail send --to a@example.com --subject Report'
    )
)
@inbox_option
@click.option("--to", "to", multiple=True, required=True, help="A recipient (repeatable).")
@click.option("--subject", help="The subject.")
@click.option("--reply-to", multiple=True, help="Reply-To (repeatable).")
@click.option("--in-reply-to", help="The Message-ID this answers (threads it).")
@body_options
@output_option
@click.pass_context
def send(
    ctx: click.Context,
    /,
    inbox: str | None,
    to: tuple[str, ...],
    subject: str | None,
    reply_to: tuple[str, ...],
    in_reply_to: str | None,
    **body: Any,
) -> None:
    """Send mail from the inbox's address."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    sent = session.client().messages.send(
        inbox_id,
        to=list(to),
        subject=subject,
        reply_to=list(reply_to) or None,
        in_reply_to=in_reply_to,
        **_composed(**body),
    )
    session.printer.record(sent, SENT_FIELDS)


@mail.command(epilog=example('dispatch mail reply msg_123 --text "Thanks, confirmed."'))
@click.argument("message_id")
@inbox_option
@click.option("--all", "reply_all", is_flag=True, help="Reply to every recipient too.")
@body_options
@output_option
@click.pass_context
def reply(
    ctx: click.Context, /, message_id: str, inbox: str | None, reply_all: bool, **body: Any
) -> None:
    """Reply to a received message (to its Reply-To, else its sender), threaded."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    sent = session.client().messages.reply(
        inbox_id, message_id, reply_all=reply_all, **_composed(**body)
    )
    session.printer.record(sent, SENT_FIELDS)
