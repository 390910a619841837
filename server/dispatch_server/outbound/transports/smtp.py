"""The `smtp` transport: each message relayed through one SMTP server, the one that
`DISPATCH_SMTP_RELAY_*` names, with the standard library's smtplib in a worker thread.

The session: connect (with `tls`, TLS from the first byte), EHLO; with `starttls`, STARTTLS,
which is required: a relay that does not offer it, or whose certificate does not verify, is
sent nothing (no password, no envelope, no message), never plain text instead. Then EHLO
again, AUTH when a user is set, MAIL FROM, one RCPT TO per recipient, DATA. Certificates are
verified, with the relay's host name, against the system's CAs or
`DISPATCH_SMTP_RELAY_CA_FILE`.

What a failure means (`DeliveryFailed.permanent`: permanent ends the send as `rejected`,
transient retries it, up to `DISPATCH_SEND_MAX_ATTEMPTS`, then `failed`):

- Up to MAIL FROM nothing concerns the message, so every failure there is transient: a
  refused or dropped connection, a timeout, a greeting or EHLO refused, no STARTTLS, a
  certificate that does not verify, no AUTH offered, the login refused (535). Each needs the
  relay or the configuration fixed, and the mail waits for that instead of being marked
  `rejected` as if a recipient had refused it.
- From MAIL FROM on, a 5xx is permanent and anything else transient; but 530 (the relay wants
  a login, which is configuration again) is transient.
- RCPT TO: when some recipients get a 5xx and others are accepted, the message goes to the
  accepted ones and the others are `Accepted.refused`. When any recipient gets a 4xx, the
  transaction is abandoned before DATA (transient), so that the retry reaches every
  recipient once: Accepted cannot say "not yet" for one recipient, and calling it refused
  would treat a pause as a bounce. Every recipient refused with a 5xx is permanent.
- A timeout or dropped connection after the message's last line but before the relay's reply
  is transient, although the relay may have taken it: the retry may deliver it twice
  (RFC 1047), which beats losing it.

Envelope addresses must be visible ASCII without `<` or `>` (the composer's always are); any
other is permanent and refused before connecting, so no address can add a command. The
message goes as CRLF lines: a bare CR or LF becomes CRLF (the composer writes none), so that
no relay reads a line of it as the end of the data (SMTP smuggling); otherwise the relay gets
exactly `raw`. The password is sent in AUTH only, and is in no reason.

A connection that delivered stays open for the next delivery (at most MAX_IDLE of them, for
IDLE_SECONDS); it is reused only after it answers RSET with 250, so a relay that closed it in
between costs a new connection, not a failure.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import threading
import time

from dispatch_server.config import ConfigError, Outbound
from dispatch_server.outbound.transports import Accepted, DeliveryFailed, OutgoingMail

SECURITIES = ("starttls", "tls", "none")
MAX_IDLE = 4  # connections kept open between deliveries
IDLE_SECONDS = 30.0  # well within the idle timeouts of relays (RFC 5321 §4.5.3.2.7: 5 min)
QUIT_TIMEOUT_SECONDS = 2.0  # QUIT is a courtesy: a relay slow to answer it is not waited for
SEND_CHUNK_BYTES = 64 * 1024
MAX_REPLY_CHARS = 300  # of a relay's reply, in a reason
# Codes that are about this server's session, not the message: transient after MAIL FROM too.
SESSION_CODES = frozenset({530})

# Visible ASCII but "<" and ">": an address that stays one argument of one command line.
_ENVELOPE_ADDRESS = re.compile(r"[!-;=?-~]+")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# The queue id in the final 250: Postfix "Ok: queued as 4ABC123", Exim "OK id=1abc-DEF-gh".
_QUEUE_ID = re.compile(r"\b(?:queued as |id=)([A-Za-z0-9._-]{1,100})(?![A-Za-z0-9._-])", re.I)


class SmtpTransport:
    """Relays each message through `host`:`port`; see the module for what a failure means."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None,
        password: str | None,
        ca_file: str | None,
        timeout: float,
        ehlo_name: str | None = None,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}, not {security!r}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.host = host
        self.port = port
        self.security = security
        self.timeout = timeout
        self._username = username
        self._password = password
        self._ehlo_name = ehlo_name  # None: smtplib's, this host's FQDN
        self._tls = None if security == "none" else _tls_context(ca_file)
        self._lock = threading.Lock()  # guards _idle and _closed, shared by worker threads
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # (connection, when it went idle)
        self._closed = False

    @classmethod
    def from_settings(cls, outbound: Outbound, *, ehlo_name: str | None = None) -> SmtpTransport:
        """The transport `DISPATCH_SMTP_RELAY_*` describes; `ehlo_name` is the name this server
        gives in EHLO (the inbox domain, say); a CA file that does not load is a ConfigError."""
        if not outbound.smtp_relay_host:
            raise ConfigError("DISPATCH_OUTBOUND_PROVIDER=smtp needs DISPATCH_SMTP_RELAY_HOST")
        try:
            return cls(
                host=outbound.smtp_relay_host,
                port=outbound.smtp_relay_port,
                security=outbound.smtp_relay_security,
                username=outbound.smtp_relay_username,
                password=outbound.smtp_relay_password,
                ca_file=outbound.smtp_relay_ca_file,
                timeout=outbound.smtp_relay_timeout_seconds,
                ehlo_name=ehlo_name,
            )
        except OSError as error:  # ssl.SSLError included
            raise ConfigError(f"DISPATCH_SMTP_RELAY_CA_FILE does not load: {error}") from None

    async def deliver(self, mail: OutgoingMail) -> Accepted:
        _check_envelope(mail)
        # The worker thread puts its connection back or closes it, even if this is cancelled.
        return await asyncio.to_thread(self._deliver, mail)

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        await asyncio.to_thread(_quit_all, [connection for connection, _ in idle])

    def _deliver(self, mail: OutgoingMail) -> Accepted:
        connection = self._reusable() or self._open()
        try:
            accepted = self._transaction(connection, mail)
        except BaseException:
            connection.close()  # mid-transaction or refused: never reused
            raise
        with self._lock:
            kept = not self._closed and len(self._idle) < MAX_IDLE
            if kept:
                self._idle.append((connection, time.monotonic()))
        if not kept:
            _quit_all([connection])
        return accepted

    def _reusable(self) -> smtplib.SMTP | None:
        """An idle connection that still answers RSET with 250, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection, since = self._idle.pop()
            if time.monotonic() - since < IDLE_SECONDS:
                try:
                    if connection.rset()[0] == 250:
                        return connection
                except (OSError, smtplib.SMTPException):
                    pass
            connection.close()

    def _open(self) -> smtplib.SMTP:
        """A new connection, greeted, secured and logged in as configured."""
        try:
            # Given the host, smtplib connects at once and keeps the name that TLS checks the
            # certificate against (connect() alone would leave it empty); a greeting that is
            # not 220 raises SMTPConnectError.
            connection = (
                smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self._ehlo_name,
                    timeout=self.timeout,
                    context=self._tls,
                )
                if self.security == "tls"
                else smtplib.SMTP(
                    self.host, self.port, local_hostname=self._ehlo_name, timeout=self.timeout
                )
            )
        except (OSError, smtplib.SMTPException) as error:  # timeouts and TLS errors are OSError
            raise self._failed(f"failed to connect: {_describe(error)}", permanent=False) from None
        try:
            self._start(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _start(self, connection: smtplib.SMTP) -> None:
        """EHLO; STARTTLS and EHLO again; AUTH: as configured."""
        step = "at EHLO"
        try:
            self._ehlo(connection)
            if self.security == "starttls":
                if not connection.has_extn("starttls"):
                    raise self._failed(
                        "does not offer STARTTLS, which DISPATCH_SMTP_RELAY_SECURITY=starttls "
                        "requires: nothing was sent",
                        permanent=False,
                    )
                step = "at STARTTLS"
                code, text = connection.starttls(context=self._tls)
                if code != 220:
                    raise self._failed(
                        f"answered STARTTLS with {_said(code, text)}", permanent=False
                    )
                step = "at EHLO after STARTTLS"
                self._ehlo(connection)
            if self._username is not None and self._password is not None:
                step = "at AUTH"
                connection.login(self._username, self._password)
        except (OSError, smtplib.SMTPException) as error:
            raise self._failed(f"failed {step}: {_describe(error)}", permanent=False) from None

    def _ehlo(self, connection: smtplib.SMTP) -> None:
        code, text = connection.ehlo()
        if code != 250:
            raise self._failed(f"answered EHLO with {_said(code, text)}", permanent=False)

    def _transaction(self, connection: smtplib.SMTP, mail: OutgoingMail) -> Accepted:
        """MAIL FROM, RCPT TO, DATA on a ready connection."""
        lines = _lines(mail.raw)
        options = ""
        if connection.has_extn("size"):
            options += f" SIZE={len(lines)}"  # RFC 1870: without the stuffing and final dot
        if not mail.raw.isascii() and connection.has_extn("8bitmime"):
            # Without 8BITMIME offered the bytes go as they are: converting them to 7 bit
            # would change the message (and any signature on it); relays take them anyway.
            options += " BODY=8BITMIME"
        step = "at MAIL FROM"
        try:
            # docmd, not mail() and rcpt(): those rewrite an address with email.utils.parseaddr.
            code, text = connection.docmd("MAIL", f"FROM:<{mail.sender}>{options}")
            if code != 250:
                raise self._refused("MAIL FROM", code, text)
            step = "at RCPT TO"
            accepted: list[str] = []
            refused: list[str] = []  # 5xx
            replies: list[str] = []  # every refusal, for the reason
            deferred = False  # a 4xx (or anything else that is not a 5xx)
            for recipient in mail.recipients:
                code, text = connection.docmd("RCPT", f"TO:<{recipient}>")
                if code in (250, 251):
                    accepted.append(recipient)
                    continue
                replies.append(f"<{recipient}> {_said(code, text)}")
                if _permanent(code):
                    refused.append(recipient)
                else:
                    deferred = True
            if deferred:
                raise self._failed(
                    f"RCPT TO answered {'; '.join(replies)}: nothing was sent, every "
                    "recipient is tried again",
                    permanent=False,
                )
            if not accepted:
                raise self._failed(f"refused every recipient: {'; '.join(replies)}", permanent=True)
            step = "at DATA"
            code, text = connection.docmd("DATA")
            if code != 354:
                raise self._refused("DATA", code, text)
            step = "sending the message"
            data = _data(lines)
            # In chunks, so that the timeout bounds each one, not a large message as a whole.
            for start in range(0, len(data), SEND_CHUNK_BYTES):
                connection.send(data[start : start + SEND_CHUNK_BYTES])
            step = "awaiting the reply to the message"
            code, text = connection.getreply()
            if code != 250:
                raise self._refused("the end of DATA", code, text)
        except (OSError, smtplib.SMTPException) as error:
            raise self._failed(f"failed {step}: {_describe(error)}", permanent=False) from None
        return Accepted(provider_message_id=_queue_id(text), refused=tuple(refused))

    def _refused(self, step: str, code: int, text: bytes) -> DeliveryFailed:
        return self._failed(f"answered {step} with {_said(code, text)}", permanent=_permanent(code))

    def _failed(self, what: str, *, permanent: bool) -> DeliveryFailed:
        reason = f"SMTP relay {self.host}:{self.port} {what}"
        if self._password:  # a relay could echo it back
            reason = reason.replace(self._password, "[password]")
        return DeliveryFailed(reason, permanent=permanent)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies the relay's certificate and host name."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _check_envelope(mail: OutgoingMail) -> None:
    if not mail.recipients:
        raise DeliveryFailed("no recipients: nothing was sent", permanent=True)
    for address in (mail.sender, *mail.recipients):
        if not _ENVELOPE_ADDRESS.fullmatch(address):
            raise DeliveryFailed(
                f"envelope address {address[:MAX_REPLY_CHARS]!r} is not visible ASCII without "
                "< and >: nothing was sent",
                permanent=True,
            )


def _lines(raw: bytes) -> bytes:
    """`raw` as CRLF lines, the last one ended too."""
    lines = _LINE_END.sub(b"\r\n", raw)
    return lines if lines.endswith(b"\r\n") else lines + b"\r\n"


def _data(lines: bytes) -> bytes:
    """What follows DATA: the lines dot-stuffed (RFC 5321 §4.5.2), then the final dot."""
    return _LEADING_DOT.sub(b"..", lines) + b".\r\n"


def _permanent(code: int) -> bool:
    return 500 <= code <= 599 and code not in SESSION_CODES


def _said(code: int, text: bytes) -> str:
    """A reply for a reason: its code and text, on one line, shortened."""
    said = " ".join(text.decode("utf-8", "replace").split())
    if len(said) > MAX_REPLY_CHARS:
        said = said[:MAX_REPLY_CHARS] + "…"
    return f"{code} {said}".rstrip()


def _describe(error: OSError | smtplib.SMTPException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        return _said(error.smtp_code, text if isinstance(text, bytes) else str(text).encode())
    return str(error) or type(error).__name__


def _queue_id(text: bytes) -> str | None:
    found = _QUEUE_ID.search(text.decode("utf-8", "replace"))
    if found is None:
        return None
    return found.group(1).rstrip(".") or None


def _quit_all(connections: list[smtplib.SMTP]) -> None:
    for connection in connections:
        try:
            if connection.sock is not None:
                connection.sock.settimeout(QUIT_TIMEOUT_SECONDS)
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
