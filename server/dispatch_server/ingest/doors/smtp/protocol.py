"""One SMTP session: aiosmtpd's, with a bound on everything a connection can make the
server hold (its line, its commands, its time, its share of connections and of memory)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from typing import TYPE_CHECKING, Any, AnyStr

import attrs
from aiosmtpd.smtp import MISSING, SMTP, syntax

from dispatch_server.config.settings import Smtp
from dispatch_server.ingest.doors.smtp.limits import BurstLog, ByteBudget, Connections

if TYPE_CHECKING:
    from asyncio.streams import _ReaduntilBuffer  # what StreamReader.readuntil takes

# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF, plus the dot that
# transparency may add; command lines are shorter still (aiosmtpd checks those: 512).
MAX_LINE_BYTES = 1001
# Replies of 500-504 and 555 (syntax, sequence) a session gets before it is closed.
MAX_BAD_COMMANDS = 20
BAD_COMMAND_CODES = frozenset({"500", "501", "502", "503", "504", "555"})

LINE_TOO_LONG = "500 5.5.2 Line too long"
TOO_MANY_COMMANDS = "421 4.7.0 Too many commands"
TOO_MANY_ERRORS = "421 4.7.0 Too many errors"
SESSION_TOO_LONG = "421 4.4.2 Session too long, closing"
MESSAGE_TOO_BIG = "552 5.3.4 Message too big"
NO_MEMORY = "452 4.3.1 Insufficient system storage, try again later"
NO_MEMORY_MIDWAY = "421 4.3.1 Insufficient system storage, try again later"
MUST_STARTTLS = "530 5.7.0 Must issue a STARTTLS command first"


# The usual MAIL FROM / RCPT TO argument: a dot-atom address in angle brackets, then nothing
# or parameters after spaces. aiosmtpd reads each with the email package's RFC 5322 header
# parser, about 40 us a command; for these the parser's answer is the match (see _getaddr).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"<(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_ATOM}(?:\.{_ATOM})*>(?:[ \t]+(?=[^ \t(])|$)"
)


class Goodbye(BaseException):
    """Ends the session with a last reply. A BaseException so that it passes through the
    `except Exception` of aiosmtpd's command loop, which would answer and read on."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@attrs.frozen(kw_only=True)
class DoorState:
    """What the sessions of one listener share."""

    settings: Smtp
    connections: Connections
    buffers: ByteBudget
    refusals: BurstLog


class SessionReader(asyncio.StreamReader):
    """The session's input. aiosmtpd's command loop reads each command with `readuntil()`;
    here a line past the limit ends the session at once (aiosmtpd would read on to its end,
    however far), and so does one command line too many. DATA reads with `data_chunk()`."""

    if TYPE_CHECKING:  # StreamReader's internals, which its own readuntil() works with
        _buffer: bytearray
        _eof: bool
        _exception: BaseException | None

        def _maybe_resume_transport(self) -> None: ...
        async def _wait_for_data(self, func_name: str) -> None: ...

    def __init__(self, *, max_commands: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=MAX_LINE_BYTES, loop=loop)
        self.commands_left = max_commands

    async def readuntil(self, separator: _ReaduntilBuffer = b"\n") -> bytes:
        line = await self._line(separator)
        self.commands_left -= 1
        if self.commands_left < 0:
            raise Goodbye(TOO_MANY_COMMANDS)
        return line

    async def data_chunk(self) -> bytes | None:
        """The complete DATA lines buffered now (waiting for one if there is none), as sent,
        still dot-stuffed; None for the lone dot that ends DATA, which it consumes. Only CRLF
        ends a line: a bare LF does not (the SMTP smuggling class). Reading a block at a time
        instead of `readuntil()` per line halves the door's cost of a 4 KB message."""
        if self._exception is not None:
            raise self._exception
        buffer = self._buffer  # at the start of a line: every chunk ends with CRLF
        while True:
            if buffer[:3] == b".\r\n":
                del buffer[:3]
                self._maybe_resume_transport()
                return None
            end = buffer.find(b"\r\n.\r\n")
            last = end + 2 if end >= 0 else buffer.rfind(b"\r\n") + 2
            if last >= 2:
                chunk = bytes(buffer[:last])
                _check_line_lengths(chunk)
                del buffer[:last]
                self._maybe_resume_transport()
                return chunk
            if len(buffer) > MAX_LINE_BYTES:  # no CRLF in more than a line's worth
                raise Goodbye(LINE_TOO_LONG)
            if self._eof:
                partial = bytes(buffer)
                buffer.clear()
                raise asyncio.IncompleteReadError(partial, None)
            await self._wait_for_data("data_chunk")

    async def _line(self, separator: _ReaduntilBuffer) -> bytes:
        try:
            line = await super().readuntil(separator)
        except asyncio.LimitOverrunError:  # the stream holds at most about twice the limit
            raise Goodbye(LINE_TOO_LONG) from None
        if len(line) > MAX_LINE_BYTES:
            raise Goodbye(LINE_TOO_LONG)
        return line


class DoorProtocol(SMTP):
    def __init__(self, handler: Any, state: DoorState, **options: Any) -> None:
        super().__init__(handler, timeout=state.settings.idle_timeout_seconds, **options)
        self.state = state
        self.lines = SessionReader(max_commands=state.settings.max_commands, loop=self.loop)
        # aiosmtpd builds its StreamReader inline: give the stream protocol ours instead
        # (nothing is connected yet, so initialising it again loses nothing).
        asyncio.StreamReaderProtocol.__init__(
            self, self.lines, client_connected_cb=self._cb_client_connected, loop=self.loop
        )
        self.client: str | None = None
        self.refusal: str | None = None
        self.admitted = False
        self.bad_left = MAX_BAD_COMMANDS
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.client is None:  # the first call; STARTTLS makes a second one
            self.client = _client_of(transport)
            self.refusal = self.state.connections.admit(self.client)
            if self.refusal is None:
                self.admitted = True
                self.deadline = self.loop.call_later(
                    self.state.settings.session_timeout_seconds, self._expire
                )
            else:
                open_now = self.state.connections.open
                self.state.refusals.note(f"{self.client} ({open_now} open)")
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        if self.admitted and self.client is not None:
            self.admitted = False
            self.state.connections.leave(self.client)
        super().connection_lost(error)

    def _expire(self) -> None:
        if self.transport is not None:
            self._writer.write(SESSION_TOO_LONG.encode() + b"\r\n")
            self.transport.close()

    async def _handle_client(self) -> None:
        try:
            if self.refusal is not None:
                raise Goodbye(self.refusal)  # instead of the greeting (RFC 5321 §3.1)
            await super()._handle_client()
        except Goodbye as goodbye:
            with contextlib.suppress(ConnectionError):  # the client may be gone already
                await super().push(goodbye.reply)
            if self.transport is not None:
                self.transport.close()

    async def push(self, status: AnyStr) -> None:
        await super().push(status)
        code = status[:3] if isinstance(status, str) else status[:3].decode("ascii", "replace")
        if code in BAD_COMMAND_CODES:
            self.bad_left -= 1
            if self.bad_left < 1:
                raise Goodbye(TOO_MANY_ERRORS)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_ADDRESS.match(arg)
        if plain is None:
            return super()._getaddr(arg)
        if self.local_part_limit and len(plain.group("local")) > self.local_part_limit:
            return None, None
        return arg[1 : arg.index(">")], arg[plain.end() :]

    async def _needs_tls(self) -> bool:
        if not self.state.settings.require_tls or self._tls_protocol is not None:
            return False
        await self.push(MUST_STARTTLS)
        return True

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if not await self._needs_tls():
            await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        if not await self._needs_tls():
            await super().smtp_RCPT(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, except that the message is held once, in one buffer (which goes
        back to the allocator whole), and counted against the listener's byte budget for as
        long as it lives: until the handler has answered."""
        if await self._needs_tls() or await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        buffers = self.state.buffers
        if buffers.in_use >= buffers.limit:
            await self.push(NO_MEMORY)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        reserved = 0
        try:
            content = await self._read_data()
            if content is None:
                await self.push(MESSAGE_TOO_BIG)
                self.envelope = self._create_envelope()
                return
            reserved = len(content)
            self.envelope.content = self.envelope.original_content = content
            del content  # the envelope's is then the one reference, dropped with it below
            status = await self._call_handler_hook("DATA")
            self.envelope = self._create_envelope()  # drops the message
            await self.push("250 OK" if status is MISSING else status)
        finally:
            buffers.release(reserved)

    async def _read_data(self) -> bytes | None:
        """The message up to the lone dot, un-dot-stuffed; None when it is above the size
        limit (read to its end all the same, holding nothing, so that the client hears the
        552). What it holds is reserved in the budget; the caller releases it."""
        limit = self.data_size_limit or 0
        buffers = self.state.buffers
        body: io.BytesIO | None = io.BytesIO()
        size = 0
        try:
            while (chunk := await self.lines.data_chunk()) is not None:
                if body is None:
                    continue
                chunk = unstuff(chunk)
                if limit and size + len(chunk) > limit:
                    body = None
                    buffers.release(size)
                    size = 0
                    continue
                if not buffers.reserve(len(chunk)):
                    raise Goodbye(NO_MEMORY_MIDWAY)
                size += len(chunk)
                body.write(chunk)
        except BaseException:
            body = None  # freed before its bytes are released
            buffers.release(size)
            raise
        return None if body is None else body.getvalue()  # getvalue() shares, not copies


def unstuff(lines: bytes) -> bytes:
    """Dot-stuffing undone (RFC 5321 §4.5.2): each of these CRLF-terminated lines that starts
    with a dot loses that dot."""
    if lines.startswith(b"."):
        lines = lines[1:]  # it cannot start ".\r\n" (the end of DATA): no new CRLF dot
    return lines.replace(b"\r\n.", b"\r\n")


def _check_line_lengths(lines: bytes) -> None:
    """Ends the session if one of these CRLF-terminated lines is longer than a line may be."""
    if len(lines) <= MAX_LINE_BYTES:
        return
    start = 0
    while start < len(lines):
        end = lines.find(b"\r\n", start) + 2
        if end - start > MAX_LINE_BYTES:
            raise Goodbye(LINE_TOO_LONG)
        start = end


def _client_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)
