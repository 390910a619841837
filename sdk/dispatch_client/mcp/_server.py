"""The Dispatch MCP server: the agent's job as tools, over the async SDK client.

Where the client comes from is the transport's business (`Callers`): `dispatch mcp` (stdio)
has one client for the process, made from the CLI's configuration; the HTTP endpoint the
server mounts at /mcp makes one per call with the request's bearer key. Every tool turns
an SDK error into a tool error that names the API's code and says what to do, with every
secret the caller knows scrubbed out; nothing else of an exception reaches the model.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from time import monotonic
from typing import Annotated, Any, Literal, Protocol

import attrs
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from dispatch_client._client import AsyncDispatch
from dispatch_client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DispatchError,
    InvalidArgumentError,
    RateLimitError,
)
from dispatch_client._version import __version__
from dispatch_client.mcp._models import (
    ClaimTokenOut,
    ConfirmOut,
    DraftOut,
    InboxList,
    InboxOut,
    ListEntries,
    ListEntryOut,
    MemoryKeyOut,
    MemoryKeys,
    MemoryOut,
    MessageList,
    MessageOut,
    MessageSummaryOut,
    SentOut,
    WaitOut,
    WhoAmI,
)
from dispatch_client.types.wait import WaitResult

MAX_WAIT_SECONDS = 300
ROUND_SECONDS = 25.0
REMEMBERED_WAITS = 10_000

INSTRUCTIONS = """\
Dispatch gives you (an AI agent) email inboxes of your own. Typical flow: list_inboxes (or \
create_inbox) to get an address; use that address to sign up somewhere; wait_for_otp or \
wait_for_link to get the one-time code or magic link the service mails; read_message, \
send_message and reply for ordinary mail; memory_set / memory_get to remember notes between \
runs; list_address_lists when a send is refused as recipient_blocked or expected mail never \
comes (allow and block lists); claim_token when a human should take ownership of you. Tools \
that take `inbox` accept an inbox id or address and default to the configured inbox (or the \
only one)."""


@attrs.frozen
class Caller:
    """A client acting for one key, and what names that key's remembered waits."""

    client: AsyncDispatch
    identity: str  # the key id (the public half): never the secret
    default_inbox: str | None = None
    secrets: tuple[str, ...] = ()


# The tool call's MCP context, for the progress a long wait reports.
_context: contextvars.ContextVar[Context | None] = contextvars.ContextVar("context", default=None)


class Callers(Protocol):
    """How a tool call gets its client: the transport decides."""

    def __call__(self, ctx: Context) -> contextlib.AbstractAsyncContextManager[Caller]: ...


class _Waits:
    """Where each key's last wait stopped, per inbox and kind, so the next wait of the same
    kind returns the next message, not the same code again (bounded, oldest dropped)."""

    def __init__(self) -> None:
        self._cursors: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def get(self, identity: str, inbox_id: str, kind: str) -> str | None:
        return self._cursors.get((identity, inbox_id, kind))

    def set(self, identity: str, inbox_id: str, kind: str, cursor: str) -> None:
        name = (identity, inbox_id, kind)
        self._cursors[name] = cursor
        self._cursors.move_to_end(name)
        while len(self._cursors) > REMEMBERED_WAITS:
            self._cursors.popitem(last=False)


# --- errors -----------------------------------------------------------------------------


class _Problem(DispatchError):
    """A tool's own refusal, said as given ("not_found: ...")."""


_HINTS_BY_CODE = {
    "address_taken": "choose another local_part, or omit it for a random address",
    "recipient_suppressed": "those recipients bounced or complained before; do not retry them",
    "quota_exceeded": "today's sending quota is used up; it resets at 00:00 UTC",
    "recipient_blocked": "the inbox's send lists refuse those recipients (list_address_lists "
    "shows the entries); do not retry them unless a human changes the lists",
    "list_entry_exists": "that pattern is on this list already (list_address_lists shows the "
    "entry); to change its action, remove_from_list it first",
    "payment_required": "a human must upgrade the workspace first (`dispatch billing checkout`)",
}
_HINTS_BY_STATUS = {
    400: "fix the argument named above and call again",
    401: "the API key is missing, malformed or revoked; retrying will not help: the human who "
    "set up this MCP server must give it a valid key (DISPATCH_API_KEY, or the Authorization "
    "header for HTTP)",
    402: "the workspace must upgrade for this (e.g. a second inbox); ask a human to pay",
    403: "this key may not do that (an inbox key reaches one inbox; creating inboxes and "
    "changing allow or block lists need an account key)",
    404: "check the id: list_inboxes and list_messages give valid ones",
    409: "the request conflicts with the current state; read it again before retrying",
    413: "the message is too large; send less",
    422: "the server could not act on this request as given",
    429: "too many requests: wait a little, then call again",
}


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, "…" + secret[-4:])
    return text


def _describe(error: DispatchError) -> str:
    if isinstance(error, APIStatusError):
        text = f"Dispatch API error {error.code} (HTTP {error.status_code}): {error.message}"
        if error.param:
            text += f" [param: {error.param}]"
        hint = _HINTS_BY_CODE.get(error.code) or _HINTS_BY_STATUS.get(error.status_code)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            hint = f"{hint or 'wait'}; retry after {error.retry_after:g} s"
        if hint is None and error.status_code >= 500:
            hint = "a server problem; try again in a minute"
        if error.request_id:
            text += f" (request id {error.request_id})"
        return text + (f". What to do: {hint}." if hint else ".")
    if isinstance(error, InvalidArgumentError):
        return f"invalid_argument [param: {error.param}]: {error}. Fix it and call again."
    if isinstance(error, APITimeoutError):
        return "timeout: the Dispatch server did not answer in time. Try again."
    if isinstance(error, APIConnectionError):
        return (
            f"connection_error: cannot reach the Dispatch server ({error.method} "
            f"{error.url.split('?', 1)[0]}). Check that it runs and that the base URL is right."
        )
    if isinstance(error, _Problem):
        return str(error)
    return f"dispatch_error: {error}"


def _guarded(
    callers: Callers, body: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """A tool body `(caller, **arguments)` as a tool `(**arguments, ctx)`, with the signature
    MCPServer reads (the body's without `caller`, plus the `ctx: Context` it injects and
    leaves out of the input schema): its client from `callers`, SDK errors as tool errors
    with the secrets scrubbed."""

    async def tool(ctx: Context, **arguments: Any) -> Any:
        held: list[Caller] = []
        token = _context.set(ctx)
        try:
            async with callers(ctx) as caller:
                held.append(caller)
                return await body(caller, **arguments)
        except DispatchError as error:
            secrets = [s for c in held for s in (*c.secrets, *c.client.inbox_keys.values())]
            raise ToolError(_scrub(_describe(error), secrets)) from None
        finally:
            _context.reset(token)

    signature = inspect.signature(body, eval_str=True)
    parameters = [
        *list(signature.parameters.values())[1:],
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
    ]
    tool.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    tool.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in parameters},
        "return": signature.return_annotation,
    }
    tool.__name__ = tool.__qualname__ = body.__name__
    tool.__doc__ = body.__doc__
    return tool


# --- what every inbox tool shares -------------------------------------------------------

InboxArg = Annotated[
    str | None,
    Field(
        description="The inbox: its id (inb_...) or its address. Omit: the configured inbox, "
        "the key's inbox (inbox key), or the workspace's only inbox.",
        max_length=320,
    ),
]
FilterFrom = Annotated[
    str | None,
    Field(
        description="Only mail whose sender address contains this, e.g. github.com.", max_length=320
    ),
]
FilterSubject = Annotated[
    str | None, Field(description="Only mail whose subject contains this.", max_length=998)
]
After = Annotated[
    str | None,
    Field(
        description="A `cursor` from an earlier wait: only mail after it. Omit: mail of the "
        "last 10 minutes, or after the one this server's previous wait of this kind returned.",
        max_length=2000,
    ),
]
Timeout = Annotated[
    float,
    Field(
        description=f"Seconds to wait on the server, 0 to {MAX_WAIT_SECONDS}.",
        ge=0,
        le=MAX_WAIT_SECONDS,
    ),
]

Addresses = Annotated[
    list[Annotated[str, Field(max_length=998)]],
    Field(description='Addresses: "a@example.com" or "Name <a@example.com>".', max_length=50),
]
ListInbox = Annotated[
    str | None,
    Field(
        description="One inbox (its id or address): only its own entries. Omit: every entry "
        "the key sees (an account key: the workspace's; an inbox key: those that apply to "
        "its inbox).",
        max_length=320,
    ),
]
MemoryKey = Annotated[
    str, Field(description="The key, e.g. acme-account.", min_length=1, max_length=255)
]


async def _inbox_id(caller: Caller, given: str | None) -> str:
    """The inbox a tool acts on: as given (an address looked up), the configured one, the
    key's own, or the workspace's only one."""
    value = (given or "").strip() or caller.default_inbox
    client = caller.client
    if value and "@" not in value:
        return value
    me = await client.auth.me()
    if me.kind == "inbox" and me.inbox_id is not None:
        if value and (me.inbox_address or "").lower() != value.lower():
            raise _Problem(f"not_found: this inbox key reaches {me.inbox_address}, not {value}")
        return me.inbox_id
    if value:
        async for inbox in client.inboxes.list(limit=100):
            if inbox.address.lower() == value.lower():
                return inbox.id
        raise _Problem(f"not_found: no inbox {value} in this workspace; see list_inboxes")
    inboxes = (await client.inboxes.list(limit=2)).data
    if len(inboxes) == 1:
        return inboxes[0].id
    raise _Problem(
        "inbox_required: the workspace has several inboxes; pass `inbox` (see list_inboxes)"
        if inboxes
        else "no_inbox: the workspace has no inbox yet; call create_inbox"
    )


async def _wait(
    caller: Caller,
    waits: _Waits,
    inbox: str | None,
    kind: Literal["otp", "link"],
    *,
    timeout: float,
    from_: str | None,
    subject: str | None,
    after: str | None,
    consume: bool = False,
    lease_seconds: int | None = None,
) -> WaitOut:
    inbox_id = await _inbox_id(caller, inbox)
    # A consuming wait skips codes already taken by anyone: no cursor of this process's.
    remembered = (
        not consume and after is None and waits.get(caller.identity, inbox_id, kind) is not None
    )
    if after is None and not consume:
        after = waits.get(caller.identity, inbox_id, kind)
    deadline = monotonic() + timeout
    unmatched = 0
    while True:
        round_seconds = max(0.0, min(ROUND_SECONDS, deadline - monotonic()))
        result: WaitResult = await caller.client.messages.wait(
            inbox_id,
            timeout=round_seconds,
            after=after,
            from_=from_,
            subject=subject,
            kind=kind,
            consume=consume,
            lease_seconds=lease_seconds,
        )
        if result.matched and result.message is not None:
            if not consume:
                waits.set(caller.identity, inbox_id, kind, result.cursor)
            message = result.message
            otp = result.otp
            return WaitOut(
                otp_id=otp.id if otp is not None else None,
                lease_id=otp.lease_id if otp is not None else None,
                lease_expires_at=otp.lease_expires_at if otp is not None else None,
                found=True,
                code=result.otp.code if result.otp is not None else None,
                code_kind=result.otp.kind if result.otp is not None else None,
                link=result.link.value if result.link is not None else None,
                inbox_id=inbox_id,
                message_id=message.id,
                sender=message.from_,
                subject=message.subject,
                received_at=message.received_at,
                cursor=result.cursor,
                next_step=(
                    "Use the code now, then call confirm_code with otp_id and lease_id, or it "
                    "goes back to the other agents when the lease ends."
                    if lease_seconds is not None
                    else "Use the code now; if it is refused, ask the service to resend and call "
                    "wait_for_otp again (it returns only newer mail)."
                    if kind == "otp"
                    else "Open the link now; for a newer one call wait_for_link again."
                ),
            )
        unmatched = max(unmatched, result.unmatched_count)
        ctx = _context.get()
        if ctx is not None and deadline - monotonic() > 0:
            # Sent only when the client asked for progress; keeps its call timeout at bay.
            waited = timeout - (deadline - monotonic())
            with contextlib.suppress(Exception):  # a progress lost is no reason to fail
                await ctx.report_progress(waited, timeout, f"waiting for a {kind} in {inbox_id}")
        if deadline - monotonic() <= 0:
            what = "code" if kind == "otp" else "link"
            step = (
                f"No {what} yet. Check that you gave the service this inbox's address, "
                f"ask it to send (or resend) the mail, then call this tool again "
                f"(pass after={result.cursor!r} to skip older mail)."
            )
            if unmatched:
                step += (
                    f" {unmatched} other message(s) arrived that did not match: "
                    "list_messages shows them (the filters may be too narrow)."
                )
            if remembered:
                step += f" Only mail after the {what} this server returned last counts."
            return WaitOut(
                found=False,
                inbox_id=inbox_id,
                cursor=result.cursor,
                unmatched_count=unmatched,
                next_step=step,
            )


def create_server(callers: Callers, *, name: str = "dispatch") -> MCPServer[Any]:
    """The MCP server with Dispatch's tools, each call's client from `callers`."""
    with _root_logging_kept():
        server: MCPServer[Any] = MCPServer(
            name,
            title="Dispatch: email inboxes for AI agents",
            instructions=INSTRUCTIONS,
            version=__version__,
            website_url="https://github.com/dispatch-email/dispatch",
            log_level="WARNING",
        )
    waits = _Waits()
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    sends = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

    async def whoami(caller: Caller) -> WhoAmI:
        me = await caller.client.auth.me()
        return WhoAmI(
            kind=me.kind,
            key_id=me.key_id,
            workspace_id=me.workspace_id,
            inbox_id=me.inbox_id,
            inbox_address=me.inbox_address,
            permissions=list(me.permissions),
            restricted=me.restricted,
            allowed_senders=None if me.allowed_senders is None else list(me.allowed_senders),
            expires_at=me.expires_at,
        )

    async def create_inbox(
        caller: Caller,
        local_part: Annotated[
            str | None,
            Field(description="The part before the @; omit for a random one.", max_length=64),
        ] = None,
        display_name: Annotated[
            str | None, Field(description="A name shown with the address.", max_length=200)
        ] = None,
    ) -> InboxOut:
        inbox = await caller.client.inboxes.create(local_part=local_part, display_name=display_name)
        return InboxOut.of(inbox)

    async def list_inboxes(
        caller: Caller,
        limit: Annotated[int, Field(description="Inboxes per page.", ge=1, le=100)] = 50,
        cursor: Annotated[
            str | None, Field(description="`next_cursor` of the previous page.", max_length=2000)
        ] = None,
    ) -> InboxList:
        me = await caller.client.auth.me()
        if me.kind == "inbox" and me.inbox_id is not None:
            inbox = await caller.client.inboxes.get(me.inbox_id)
            return InboxList(inboxes=[InboxOut.of(inbox)])
        page = await caller.client.inboxes.list(limit=limit, cursor=cursor)
        return InboxList(inboxes=[InboxOut.of(i) for i in page.data], next_cursor=page.next_cursor)

    async def wait_for_otp(
        caller: Caller,
        inbox: InboxArg = None,
        timeout: Timeout = 60,
        from_sender: FilterFrom = None,
        subject: FilterSubject = None,
        after: After = None,
        consume: Annotated[
            bool,
            Field(
                description="Take the code: no other agent sharing this inbox gets it (use it "
                "when several agents wait on one inbox)."
            ),
        ] = False,
        lease_seconds: Annotated[
            int | None,
            Field(
                description="With consume: the code returns to the pool after this many "
                "seconds unless you call confirm_code (for a code you might fail to use).",
                ge=1,
                le=3600,
            ),
        ] = None,
    ) -> WaitOut:
        if lease_seconds is not None and not consume:
            raise _Problem("invalid_argument: lease_seconds takes consume=true")
        return await _wait(
            caller,
            waits,
            inbox,
            "otp",
            timeout=timeout,
            from_=from_sender,
            subject=subject,
            after=after,
            consume=consume,
            lease_seconds=lease_seconds,
        )

    async def confirm_code(
        caller: Caller,
        otp_id: Annotated[
            str, Field(description="`otp_id` from wait_for_otp's answer.", max_length=64)
        ],
        lease_id: Annotated[
            str, Field(description="`lease_id` from wait_for_otp's answer.", max_length=64)
        ],
        inbox: InboxArg = None,
    ) -> ConfirmOut:
        inbox_id = await _inbox_id(caller, inbox)
        otp = await caller.client.otp.confirm(inbox_id, otp_id=otp_id, lease_id=lease_id)
        return ConfirmOut(code=otp.code, otp_id=otp.id or otp_id, consumed_at=otp.consumed_at)

    async def wait_for_link(
        caller: Caller,
        inbox: InboxArg = None,
        timeout: Timeout = 60,
        from_sender: FilterFrom = None,
        subject: FilterSubject = None,
        after: After = None,
    ) -> WaitOut:
        return await _wait(
            caller,
            waits,
            inbox,
            "link",
            timeout=timeout,
            from_=from_sender,
            subject=subject,
            after=after,
        )

    async def list_messages(
        caller: Caller,
        inbox: InboxArg = None,
        limit: Annotated[int, Field(description="Messages per page.", ge=1, le=100)] = 20,
        cursor: Annotated[
            str | None, Field(description="`next_cursor` of the previous page.", max_length=2000)
        ] = None,
        folder: Annotated[
            Literal["inbox", "spam", "quarantine", "all"],
            Field(description="Which folder; spam and quarantine hold suspicious mail."),
        ] = "inbox",
    ) -> MessageList:
        inbox_id = await _inbox_id(caller, inbox)
        page = await caller.client.messages.list(
            inbox_id, limit=limit, cursor=cursor, folder=folder
        )
        return MessageList(
            inbox_id=inbox_id,
            messages=[MessageSummaryOut.of(m) for m in page.data],
            next_cursor=page.next_cursor,
        )

    async def read_message(
        caller: Caller,
        message_id: Annotated[
            str,
            Field(description="The message's id (from list_messages or a wait).", max_length=200),
        ],
        inbox: InboxArg = None,
        max_chars: Annotated[
            int, Field(description="Cut the text to this many characters.", ge=100, le=200_000)
        ] = 20_000,
    ) -> MessageOut:
        inbox_id = await _inbox_id(caller, inbox)
        message = await caller.client.messages.get(inbox_id, message_id)
        return MessageOut.of(message, max_chars=max_chars)

    async def send_message(
        caller: Caller,
        to: Annotated[
            list[Annotated[str, Field(max_length=998)]],
            Field(description="The recipients (at least one).", min_length=1, max_length=50),
        ],
        subject: Annotated[str, Field(description="The subject.", max_length=998)],
        text: Annotated[str, Field(description="The plain-text body.", max_length=1_000_000)],
        html: Annotated[
            str | None, Field(description="An HTML body as well.", max_length=2_000_000)
        ] = None,
        cc: Addresses | None = None,
        bcc: Addresses | None = None,
        inbox: InboxArg = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                description="Any unique string: a retried call with the same one sends once.",
                max_length=255,
            ),
        ] = None,
    ) -> SentOut:
        inbox_id = await _inbox_id(caller, inbox)
        options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
        sent = await caller.client.messages.send(
            inbox_id, to=to, subject=subject, text=text, html=html, cc=cc, bcc=bcc, **options
        )
        return SentOut.of(sent)

    async def reply(
        caller: Caller,
        message_id: Annotated[
            str, Field(description="The received message to answer.", max_length=200)
        ],
        text: Annotated[str, Field(description="The plain-text body.", max_length=1_000_000)],
        html: Annotated[
            str | None, Field(description="An HTML body as well.", max_length=2_000_000)
        ] = None,
        reply_all: Annotated[
            bool, Field(description="Also to its other To and Cc recipients.")
        ] = False,
        inbox: InboxArg = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                description="Any unique string: a retried call with the same one sends once.",
                max_length=255,
            ),
        ] = None,
    ) -> SentOut:
        inbox_id = await _inbox_id(caller, inbox)
        options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
        sent = await caller.client.messages.reply(
            inbox_id, message_id, text=text, html=html, reply_all=reply_all, **options
        )
        return SentOut.of(sent)

    async def create_draft(
        caller: Caller,
        to: Annotated[
            list[Annotated[str, Field(max_length=998)]],
            Field(description="The recipients; may be empty for now.", max_length=50),
        ],
        subject: Annotated[str, Field(description="The subject.", max_length=998)] = "",
        text: Annotated[
            str | None, Field(description="The plain-text body.", max_length=1_000_000)
        ] = None,
        cc: Addresses | None = None,
        in_reply_to: Annotated[
            str | None,
            Field(description="The id of a received message it answers.", max_length=200),
        ] = None,
        inbox: InboxArg = None,
    ) -> DraftOut:
        inbox_id = await _inbox_id(caller, inbox)
        draft = await caller.client.drafts.create(
            inbox_id, to=to, subject=subject, text=text, cc=cc, in_reply_to=in_reply_to
        )
        return DraftOut.of(draft)

    async def send_draft(
        caller: Caller,
        draft_id: Annotated[
            str, Field(description="The draft's id (from create_draft).", max_length=200)
        ],
        inbox: InboxArg = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                description="Any unique string: a retried call with the same one sends once.",
                max_length=255,
            ),
        ] = None,
    ) -> SentOut:
        inbox_id = await _inbox_id(caller, inbox)
        options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
        sent = await caller.client.drafts.send(inbox_id, draft_id, **options)
        return SentOut.of(sent)

    async def memory_get(caller: Caller, key: MemoryKey, inbox: InboxArg = None) -> MemoryOut:
        inbox_id = await _inbox_id(caller, inbox)
        entry = await caller.client.memory.read(inbox_id, key)
        return MemoryOut.of(inbox_id, key, entry)

    async def memory_set(
        caller: Caller,
        key: MemoryKey,
        value: Annotated[
            str, Field(description="The text to keep (64 KiB at most).", max_length=65_536)
        ],
        inbox: InboxArg = None,
    ) -> MemoryOut:
        inbox_id = await _inbox_id(caller, inbox)
        entry = await caller.client.memory.write(inbox_id, key, value)
        return MemoryOut.of(inbox_id, key, entry)

    async def memory_list(caller: Caller, inbox: InboxArg = None) -> MemoryKeys:
        inbox_id = await _inbox_id(caller, inbox)
        keys = await caller.client.memory.keys(inbox_id)
        return MemoryKeys(
            inbox_id=inbox_id,
            keys=[MemoryKeyOut(key=k.key, updated_at=k.updated_at) for k in keys],
        )

    async def list_address_lists(
        caller: Caller,
        inbox: ListInbox = None,
        direction: Annotated[
            Literal["receive", "send"] | None,
            Field(description='Only "receive" or only "send" entries; omit: both.'),
        ] = None,
        limit: Annotated[int, Field(description="Entries per page.", ge=1, le=100)] = 50,
        cursor: Annotated[
            str | None, Field(description="`next_cursor` of the previous page.", max_length=2000)
        ] = None,
    ) -> ListEntries:
        inbox_id = await _inbox_id(caller, inbox) if inbox and inbox.strip() else None
        page = await caller.client.lists.list(
            inbox_id=inbox_id, direction=direction, limit=limit, cursor=cursor
        )
        return ListEntries(
            entries=[ListEntryOut.of(e) for e in page.data], next_cursor=page.next_cursor
        )

    async def add_to_list(
        caller: Caller,
        pattern: Annotated[
            str,
            Field(
                description="a@x.com (that address), x.com (any address at x.com, not its "
                "subdomains) or *.x.com (any address at a subdomain of x.com).",
                min_length=1,
                max_length=320,
            ),
        ],
        action: Annotated[
            Literal["allow", "block"],
            Field(
                description='"block" refuses it; "allow" takes it, and refuses every address '
                "no allow entry matches (allow-list mode)."
            ),
        ],
        direction: Annotated[
            Literal["receive", "send"],
            Field(description='"receive": mail from this sender; "send": mail to this recipient.'),
        ],
        inbox: ListInbox = None,
    ) -> ListEntryOut:
        inbox_id = await _inbox_id(caller, inbox) if inbox and inbox.strip() else None
        entry = await caller.client.lists.create(
            pattern, direction=direction, action=action, inbox_id=inbox_id
        )
        return ListEntryOut.of(entry)

    async def remove_from_list(
        caller: Caller,
        entry_id: Annotated[
            str,
            Field(description="The entry's id (from list_address_lists).", max_length=200),
        ],
    ) -> ListEntryOut:
        return ListEntryOut.of(await caller.client.lists.delete(entry_id))

    async def claim_token(caller: Caller, inbox: InboxArg = None) -> ClaimTokenOut:
        inbox_id = await _inbox_id(caller, inbox) if inbox or caller.default_inbox else None
        token = await caller.client.agent.claim_token(inbox_id=inbox_id)
        return ClaimTokenOut.of(token)

    tools: list[tuple[Callable[..., Awaitable[Any]], str, ToolAnnotations]] = [
        (
            whoami,
            "What the configured API key is: account (every inbox) or inbox (one), its "
            "workspace, its inbox and what it may do. Call it first if unsure what you can do.",
            read_only,
        ),
        (
            create_inbox,
            "Create a new email inbox and return its id and address; it receives mail at "
            "once. Needs an account key. Errors: address_taken (choose another local_part), "
            "payment_required (the workspace must upgrade for a second inbox: ask a human).",
            writes,
        ),
        (
            list_inboxes,
            "List your inboxes (id and address). Use an inbox's address to sign up for "
            "services and its id (or address) as `inbox` in the other tools.",
            read_only,
        ),
        (
            wait_for_otp,
            "Wait (on the server, up to `timeout` seconds) for an email with a one-time code "
            "(OTP, verification code) and return the code. Call it right after you asked a "
            "service to send a code to the inbox's address. Returns found=true with `code`, "
            "or, on timeout, found=false and `next_step` (resend, then call again): a timeout "
            "is not an error. A later call returns only newer codes, never the same twice. "
            "Agents sharing an inbox pass consume=true, so each code goes to one of them only "
            "(with lease_seconds, confirm it with confirm_code once used).",
            writes,
        ),
        (
            confirm_code,
            "Keep a code you took with wait_for_otp(consume=true, lease_seconds=...) for good, "
            "once you used it. Errors: conflict otp_lease_expired (the lease ended first: the "
            "code went back to the pool; wait for a new one).",
            writes,
        ),
        (
            wait_for_link,
            "Wait (on the server, up to `timeout` seconds) for an email with a sign-in or "
            "verification link (magic link) and return the link. Returns found=true with "
            "`link`, or, on timeout, found=false and `next_step`: a timeout is not an error. "
            "A later call returns only newer links.",
            read_only,
        ),
        (
            list_messages,
            "List the inbox's received mail, newest first: sender, subject, a preview, and "
            "whether each has a code or a link. read_message gives a whole message.",
            read_only,
        ),
        (
            read_message,
            "Read one received message: its text, the code and links found in it, its "
            "attachments' names. Errors: not_found (check message_id with list_messages).",
            read_only,
        ),
        (
            send_message,
            "Send an email from the inbox. Returns the sent message with its delivery status "
            '("sent"/"delivered": out; "queued": retried later; "rejected"/"suppressed"/'
            '"blocked": not delivered). Pass idempotency_key to make a retry safe. Errors: '
            "recipient_suppressed, recipient_blocked (the send lists refuse a recipient), "
            "quota_exceeded (daily limit), invalid addresses.",
            sends,
        ),
        (
            reply,
            "Reply to a received message, in its thread (to its Reply-To or From, subject "
            '"Re: ..."). Returns the sent reply with its delivery status.',
            sends,
        ),
        (
            create_draft,
            "Save an email to send later (a draft): recipients and body may still be missing. "
            "Returns the draft; send it with send_draft. Errors: invalid_request [param] (a "
            "field over its cap, or in_reply_to naming no message of the inbox).",
            writes,
        ),
        (
            send_draft,
            "Send a draft saved with create_draft, as send_message sends, and delete it. "
            "Returns the sent message with its delivery status. Errors: invalid_request [param: "
            "to or text] (the draft is incomplete), recipient_blocked, recipient_suppressed, "
            "quota_exceeded, not_found (sent already or deleted).",
            sends,
        ),
        (
            memory_get,
            "Read a note you saved with memory_set (per inbox, kept between runs). Returns "
            "found=false if the key was never written.",
            read_only,
        ),
        (
            memory_set,
            "Save a note under a key (per inbox, kept between runs; the latest write wins). "
            "Use it for account ids, progress, anything you must remember. Each write counts "
            "as a sent mail against the daily quota.",
            writes,
        ),
        (
            memory_list,
            "List the keys of your saved notes, most recently written first.",
            read_only,
        ),
        (
            list_address_lists,
            "List the allow and block entries that decide whose mail an inbox takes "
            '(direction "receive") and to whom it may send ("send"), newest first. Call it '
            "when a send fails with recipient_blocked or expected mail never arrives. An "
            "inbox key sees the workspace's entries and its inbox's own.",
            read_only,
        ),
        (
            add_to_list,
            "Add an allow or block entry, for every inbox of the workspace or one `inbox`. "
            "A block entry wins over any allow; one allow entry puts the inbox in allow-list "
            "mode for that direction (everything else refused), so prefer block unless told "
            "otherwise. Needs an account key. Errors: invalid_request [param: pattern] (not "
            "an address, domain or *.domain), list_entry_exists (already listed).",
            writes,
        ),
        (
            remove_from_list,
            "Delete an allow or block entry by its id (from list_address_lists); returns the "
            "entry removed. Needs an account key. Errors: not_found (no such entry in this "
            "workspace).",
            ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
        (
            claim_token,
            "Mint a claim token so a human can take ownership of you (this agent) in Dispatch. "
            "Returns claim_email and claim_token: give both to your human operator; the token "
            "is single-use and expires soon (expires_at).",
            writes,
        ),
    ]
    for body, description, hints in tools:
        server.add_tool(
            _guarded(callers, body),
            name=body.__name__,
            description=description,
            annotations=hints,
            structured_output=True,
        )
    return server


@contextlib.contextmanager
def _root_logging_kept() -> Iterator[None]:
    """MCPServer() configures the root logger (`logging.basicConfig` with a rich handler)
    when nothing did before: keep the process's logging as its owner set it (the server's
    CLI configures it; uncaught warnings still reach stderr through logging's last resort)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@contextlib.asynccontextmanager
async def shared_caller(caller: Caller) -> AsyncIterator[Caller]:
    """The same caller for every call (stdio: one client for the process)."""
    yield caller
