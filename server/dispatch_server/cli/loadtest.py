"""`dispatch-server loadtest`: verification mail into a deployment's SMTP door while agents
wait for the codes on its API, bounded in time and count; what was accepted, how fast, and
whether every accepted message is stored.

For each message the run picks one of its inboxes that has nothing in flight (an agent waits
for one code at a time), sends a verification mail to it over one of `--connections` SMTP
connections, and the inbox's open `GET …/wait?kind=otp` (one per inbox, raw HTTP) returns its
code. Needs only an account key and the two addresses: it talks HTTP and SMTP, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import math
import os
import re
import resource
import secrets
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from dispatch_server.cli._common import CliError

DEFAULT_DURATION, MAX_DURATION = 30.0, 3600.0
DEFAULT_MESSAGES, MAX_MESSAGES = 1000, 100_000
DEFAULT_INBOXES, MAX_INBOXES = 10, 1000
DEFAULT_CONNECTIONS, MAX_CONNECTIONS = 4, 200
MAX_RATE = 10_000.0

WAIT_SECONDS = 25  # each wait request; a wait that times out is asked again
OTP_TIMEOUT = 30.0  # after its 250, a code not returned by then counts as not returned
SMTP_TIMEOUT = 60.0  # for any one SMTP reply
MESSAGES_PER_CONNECTION = 100  # then a new connection, within the door's command cap
CODE_BASE = 100_000  # message n carries the code CODE_BASE + n: six digits, one per message
SENDER = "no-reply@acme.test"

DESCRIPTION = """\
Send verification mail to a Dispatch deployment's SMTP door while one wait-for-OTP per inbox
is held open on its API, and report: messages accepted per second, SMTP 250 latency,
250 -> OTP-returned latency, refusals and errors by kind, and whether every accepted message
is listed in its inbox. The run makes --inboxes new inboxes (named loadtest-<run>-<n>, and
left in place afterwards) and stops after --duration seconds or --messages messages,
whichever comes first.

This writes real mail into the deployment and counts against its workspace's daily inbound
quota: a target that is not on this machine (loopback) needs --yes.
Exit status: 0 when every accepted message is stored, 1 otherwise or on an error."""


# --- flags ----------------------------------------------------------------------------------


def _bounded(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], Any]:
    def parse(raw: str) -> float:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
        if not (low <= value <= high) or math.isnan(value):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {raw}")
        return value

    return parse


def _smtp_address(raw: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT."""
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", raw.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (or [IPv6]:PORT), got {raw!r}")
    host = found.group(1) or found.group(3)
    port = int(found.group(2) or found.group(4))
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return host, port


def _api_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {raw!r}")
    return raw.strip().rstrip("/")


def add_parser(commands: Any) -> None:
    command = commands.add_parser(
        "loadtest",
        help="load-test a deployment: SMTP in, waits for the codes on the API (writes real mail)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--api-url",
        type=_api_url,
        required=True,
        help="the API's base URL, e.g. http://127.0.0.1:8000",
    )
    command.add_argument(
        "--key",
        default=os.environ.get("DISPATCH_API_KEY"),
        help="an account key of the workspace to make the inboxes in (default $DISPATCH_API_KEY)",
    )
    command.add_argument(
        "--smtp",
        type=_smtp_address,
        required=True,
        metavar="HOST:PORT",
        help="the deployment's inbound SMTP door, e.g. 127.0.0.1:2525",
    )
    command.add_argument(
        "--inboxes",
        type=_bounded(int, 1, MAX_INBOXES),
        default=DEFAULT_INBOXES,
        metavar="N",
        help=f"inboxes made for the run, each with a wait open (default {DEFAULT_INBOXES}, "
        f"at most {MAX_INBOXES})",
    )
    command.add_argument(
        "--connections",
        type=_bounded(int, 1, MAX_CONNECTIONS),
        default=DEFAULT_CONNECTIONS,
        metavar="C",
        help=f"SMTP connections sending at once (default {DEFAULT_CONNECTIONS}, at most "
        f"{MAX_CONNECTIONS}; the door allows 50 from one address unless "
        "DISPATCH_SMTP_MAX_CONNECTIONS_PER_CLIENT says more)",
    )
    command.add_argument(
        "--duration",
        type=_bounded(float, 1, MAX_DURATION),
        default=DEFAULT_DURATION,
        metavar="S",
        help=f"seconds of sending at most (default {DEFAULT_DURATION:g}, at most {MAX_DURATION:g})",
    )
    command.add_argument(
        "--messages",
        type=_bounded(int, 1, MAX_MESSAGES),
        default=DEFAULT_MESSAGES,
        metavar="M",
        help=f"messages to send at most (default {DEFAULT_MESSAGES}, at most {MAX_MESSAGES})",
    )
    command.add_argument(
        "--rate",
        type=_bounded(float, 0.1, MAX_RATE),
        metavar="R",
        help="messages per second at most, over all connections (default: as fast as the "
        "door answers)",
    )
    command.add_argument(
        "--starttls",
        action="store_true",
        help="upgrade each SMTP connection with STARTTLS, the door's certificate checked "
        "(for a door with DISPATCH_SMTP_REQUIRE_TLS)",
    )
    command.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="with --starttls: trust the certificates in this PEM file (a self-signed one), "
        "not the system's",
    )
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    command.add_argument(
        "--yes",
        action="store_true",
        help="needed for a target that is not on this machine: the run writes real mail into it",
    )
    command.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address, as written: a name is not resolved (a resolver's
    search domain could turn `x.localhost` into a real host)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen(kw_only=True)
class Plan:
    api_url: str
    key: str
    smtp_host: str
    smtp_port: int
    inboxes: int
    connections: int
    duration: float
    messages: int
    rate: float | None
    tls: ssl.SSLContext | None = None


def run(args: argparse.Namespace) -> None:
    if not args.key:
        raise CliError("no account key: pass --key or set DISPATCH_API_KEY")
    smtp_host, smtp_port = args.smtp
    api_host = urlsplit(args.api_url).hostname or ""
    remote = [host for host in (api_host, smtp_host) if not is_loopback(host)]
    if remote and not args.yes:
        raise CliError(
            f"{', '.join(sorted(set(remote)))} is not this machine: the load test writes real "
            f"mail into that deployment (up to {args.messages} messages, {args.inboxes} new "
            "inboxes); pass --yes to go ahead"
        )
    plan = Plan(
        api_url=args.api_url,
        key=args.key,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        inboxes=args.inboxes,
        connections=args.connections,
        duration=args.duration,
        messages=args.messages,
        rate=args.rate,
        tls=_tls_context(args.starttls, args.tls_ca),
    )
    _raise_open_files(plan.inboxes + plan.connections + 256)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    report = asyncio.run(load_test(plan, progress=_progress))
    print(json.dumps(report, indent=2) if args.json else render(report))
    stored = report["stored"]
    if stored["missing"]:
        raise CliError(f"{stored['missing']} accepted message(s) are not listed in their inbox")


def _tls_context(starttls: bool, ca_file: str | None) -> ssl.SSLContext | None:
    if ca_file is not None and not starttls:
        raise CliError("--tls-ca goes with --starttls")
    if not starttls:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise CliError(f"cannot read --tls-ca {ca_file}: {error}") from None


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- the mail -------------------------------------------------------------------------------

_HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Verify</title>
</head><body style="margin:0;padding:0;background-color:#f4f5f7">
<table role="presentation" width="600" cellspacing="0" cellpadding="0" border="0"
 style="background-color:#ffffff;font-family:Helvetica,Arial,sans-serif">
<tr><td style="padding:32px 40px 8px 40px"><img src="https://cdn.acme.test/logo@2x.png"
 width="120" height="32" alt="Acme" style="display:block;border:0"></td></tr>
<tr><td style="padding:8px 40px;font-size:22px;color:#111827">Confirm your sign-in</td></tr>
<tr><td style="padding:8px 40px;font-size:15px;color:#374151">Hi there,<br>Use this
verification code to finish signing in to Acme. It expires in 10 minutes.</td></tr>
<tr><td align="center" style="padding:16px 40px"><div style="font-size:32px;
letter-spacing:8px;font-family:Menlo,Consolas,monospace">{code}</div></td></tr>
<tr><td align="center" style="padding:8px 40px 24px 40px"><a
 href="https://acme.test/login/verify?token={token}" style="padding:12px 28px;
background-color:#1a73e8;color:#ffffff;text-decoration:none">Sign in with one click</a>
</td></tr>
<tr><td style="padding:0 40px 24px 40px;font-size:13px;color:#6b7280">Request #{order} from
Chrome on macOS. If you didn't request this, you can ignore this email. Questions? Call
+1 (415) 555-0132 or reply to this mail.</td></tr>
<tr><td style="padding:16px 40px 32px 40px;font-size:11px;color:#9ca3af">Acme Inc, 548 Market
St, San Francisco CA 94104 &middot; <a href="https://acme.test/unsubscribe?u={token}">
Unsubscribe</a> &middot; &copy; 2026 Acme</td></tr></table></body></html>"""

_SUBJECT = re.compile(r"^(\d{6}) is your Acme verification code")


# Placeholders of the composed template; each message is the template with them replaced.
_FIELDS = ("to", "code", "token", "serial", "order", "feedback", "date", "host")


@functools.cache
def _template() -> bytes:
    """The mail composed once by the email package, with a placeholder for each field:
    composing every message takes milliseconds of the load test's CPU, replacing takes
    microseconds. Its parts are 7-bit (lines under 78 characters), so no encoding could
    split a placeholder; `verification_mail` checks they are all there."""
    slot = {name: f"@@{name.upper()}@@" for name in _FIELDS}
    # The headers written out (the email package would parse placeholders as addresses and
    # dates), the MIME parts by the email package.
    headers = (
        "Received: from mta-7.out.acme.test (mta-7.out.acme.test [192.0.2.17])\r\n"
        f"\tby mx.loadtest.invalid with ESMTPS id {slot['host']}\r\n"
        f"\tfor <{slot['to']}>; {slot['date']}\r\n"
        f"From: Acme <{SENDER}>\r\n"
        f"To: {slot['to']}\r\n"
        f"Subject: {slot['code']} is your Acme verification code\r\n"
        f"Date: {slot['date']}\r\n"
        f"Message-ID: <{slot['serial']}.{slot['token']}@acme.test>\r\n"
        f"List-Unsubscribe: <https://acme.test/unsubscribe?u={slot['token']}>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        f"Feedback-ID: signin:verification:acme:{slot['feedback']}\r\n"
    )
    message = EmailMessage()
    message.set_content(
        f"Use this verification code to finish signing in to Acme: {slot['code']}\n"
        "It expires in 10 minutes.\n\n"
        f"Or open https://acme.test/login/verify?token={slot['token']}\n\n"
        "If you didn't request this, you can ignore this email.\n"
    )
    message.add_alternative(
        _HTML.format(code=slot["code"], token=slot["token"], order=slot["order"]),
        subtype="html",
    )
    composed = headers.encode() + message.as_bytes(policy=SMTP)
    missing = [name for name, text in slot.items() if text.encode() not in composed]
    if missing:  # an email package that encodes differently: no template then
        raise RuntimeError(f"the mail template lost {missing}")
    return composed


def verification_mail(to: str, code: str, serial: int) -> bytes:
    """About 3 KB, as a transactional sender's verification mail arrives: a relay's Received
    line, list headers, a text part and a templated HTML part, the code in both and in the
    subject (by which the run finds each message in the listing)."""
    token = secrets.token_hex(12)
    values = {
        "to": to,
        "code": code,
        "token": token,
        "serial": f"loadtest{serial}",
        "order": str(CODE_BASE + serial),
        "feedback": str(serial % 97),
        "date": formatdate(usegmt=True),
        "host": token[:12],
    }
    mail = _template()
    for name, value in values.items():
        mail = mail.replace(f"@@{name.upper()}@@".encode(), value.encode())
    return mail


# --- SMTP -----------------------------------------------------------------------------------


class SmtpFailure(Exception):
    """The door refused (`refused`: it answered a code) or the connection failed."""

    def __init__(self, kind: str, *, refused: bool, closed: bool) -> None:
        super().__init__(kind)
        self.kind, self.refused, self.closed = kind, refused, closed


class SmtpClient:
    """One SMTP connection, one command at a time (no pipelining, so that each refusal is
    known by the stage that got it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = 0

    @classmethod
    async def open(cls, host: str, port: int, tls: ssl.SSLContext | None) -> SmtpClient:
        try:
            async with asyncio.timeout(SMTP_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise SmtpFailure("connect: timeout", refused=False, closed=True) from None
        except OSError as error:
            name = type(error).__name__ if error.errno is None else os.strerror(error.errno)
            raise SmtpFailure(f"connect: {name}", refused=False, closed=True) from None
        client = cls(reader, writer)
        try:
            await client.expect("greeting", None, 2)
            await client.expect("EHLO", b"EHLO loadtest.invalid\r\n", 2)
            if tls is not None:
                await client.expect("STARTTLS", b"STARTTLS\r\n", 2)
                await client.start_tls(tls, host)
                await client.expect("EHLO", b"EHLO loadtest.invalid\r\n", 2)
        except SmtpFailure:
            client.close()
            raise
        return client

    async def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        try:
            async with asyncio.timeout(SMTP_TIMEOUT):
                await self.writer.start_tls(context, server_hostname=host)
        except TimeoutError:
            raise SmtpFailure("timeout at TLS handshake", refused=False, closed=True) from None
        except ssl.SSLCertVerificationError as error:
            reason = error.verify_message or "not trusted"
            raise SmtpFailure(f"TLS: {reason}", refused=False, closed=True) from None
        except (ssl.SSLError, OSError) as error:
            reason = getattr(error, "reason", None) or type(error).__name__
            raise SmtpFailure(f"TLS: {reason}", refused=False, closed=True) from None

    async def reply(self, stage: str) -> int:
        try:
            async with asyncio.timeout(SMTP_TIMEOUT):
                while True:
                    line = await self.reader.readline()
                    if not line.endswith(b"\n") or len(line) < 4 or not line[:3].isdigit():
                        raise SmtpFailure(
                            f"connection closed at {stage}", refused=False, closed=True
                        )
                    if line[3:4] != b"-":
                        return int(line[:3])
        except TimeoutError:
            raise SmtpFailure(f"timeout at {stage}", refused=False, closed=True) from None
        except OSError:
            raise SmtpFailure(f"connection lost at {stage}", refused=False, closed=True) from None

    async def expect(self, stage: str, line: bytes | None, first_digit: int) -> None:
        if line is not None:
            self.writer.write(line)
        code = await self.reply(stage)
        if code // 100 != first_digit:
            # 421 closes the connection; any other refusal leaves it usable after a RSET.
            raise SmtpFailure(f"{stage} {code}", refused=True, closed=code == 421)

    async def send(self, recipient: str, data: bytes) -> None:
        self.sent += 1
        try:
            await self.expect("MAIL", f"MAIL FROM:<{SENDER}>\r\n".encode(), 2)
            await self.expect("RCPT", f"RCPT TO:<{recipient}>\r\n".encode(), 2)
            await self.expect("DATA", b"DATA\r\n", 3)
            body = data.replace(b"\r\n.", b"\r\n..")
            self.writer.write(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            await self.expect("end of data", None, 2)
        except SmtpFailure as failure:
            if not failure.closed:
                with contextlib.suppress(SmtpFailure):
                    await self.expect("RSET", b"RSET\r\n", 2)
            raise

    async def quit(self) -> None:
        with contextlib.suppress(SmtpFailure, OSError):
            self.writer.write(b"QUIT\r\n")
            async with asyncio.timeout(5):
                await self.reply("QUIT")
        self.close()

    def close(self) -> None:
        self.writer.close()


# --- the run --------------------------------------------------------------------------------


@attrs.define(eq=False)
class Sent:
    serial: int
    inbox: Inbox
    code: str
    started: float
    replied: float | None = None
    answered: float | None = None
    settled: bool = False


@attrs.define(eq=False)
class Inbox:
    id: str
    address: str
    key: str
    cursor: str = ""
    in_flight: Sent | None = None
    accepted: list[str] = attrs.field(factory=list)  # codes


class Run:
    def __init__(self, plan: Plan, client: httpx.AsyncClient) -> None:
        self.plan, self.client = plan, client
        self.label = secrets.token_hex(3)
        self.inboxes: list[Inbox] = []
        self.ready: asyncio.Queue[Inbox] = asyncio.Queue()
        self.started = 0
        self.sent: list[Sent] = []
        self.smtp_latency: list[float] = []
        self.otp_latency: list[float] = []
        self.refused: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.otp_timeouts = 0
        self.late_codes = 0
        self.began = 0.0
        self.send_ended = 0.0
        self.stopped_by = ""
        self.in_flight = 0
        self.settled = asyncio.Event()

    # inboxes

    async def make_inboxes(self) -> None:
        async def one(number: int) -> Inbox:
            made = await self.api(
                "POST",
                "/v1/inboxes",
                json={
                    "local_part": f"loadtest-{self.label}-{number:04d}",
                    "display_name": f"dispatch-server loadtest {self.label}",
                },
            )
            key = await self.api(
                "POST", f"/v1/inboxes/{made['id']}/keys", json={"label": f"loadtest-{self.label}"}
            )
            inbox = Inbox(made["id"], made["address"], key["key"])
            # A wait that matches nothing at once gives the cursor to wait after: every
            # message of the run, in the order they are stored.
            first = await self.api(
                "GET", self.wait_path(inbox, timeout=0), key=inbox.key, seconds=30
            )
            inbox.cursor = first["cursor"]
            return inbox

        for start in range(0, self.plan.inboxes, 20):
            self.inboxes += await asyncio.gather(
                *(one(n) for n in range(start, min(self.plan.inboxes, start + 20)))
            )

    def wait_path(self, inbox: Inbox, *, timeout: int) -> str:
        after = f"&after={inbox.cursor}" if inbox.cursor else ""
        return f"/v1/inboxes/{inbox.id}/wait?kind=otp&folder=all&timeout={timeout}{after}"

    async def api(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json: Any = None,
        seconds: float = 30,
    ) -> Any:
        headers = {"authorization": f"Bearer {key or self.plan.key}"}
        try:
            response = await self.client.request(
                method, path, headers=headers, json=json, timeout=seconds
            )
        except httpx.HTTPError as error:
            raise ApiFailure(f"{method} {path.split('?')[0]}: {type(error).__name__}") from None
        if response.status_code >= 400:
            try:
                detail = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                detail = response.text[:100]
            raise ApiFailure(f"{response.status_code} {detail}", status=response.status_code)
        try:
            return response.json()
        except ValueError:
            status = response.status_code
            raise ApiFailure(f"{status} not JSON", status=status) from None

    # waits

    async def wait_loop(self, inbox: Inbox) -> None:
        """The inbox's agent: one wait open at all times, each matched code settled."""
        while True:
            try:
                answer = await self.api(
                    "GET",
                    self.wait_path(inbox, timeout=WAIT_SECONDS),
                    key=inbox.key,
                    seconds=WAIT_SECONDS + 30,
                )
            except ApiFailure as failure:
                self.errors[f"wait: {failure}"] += 1
                await asyncio.sleep(1)
                continue
            answered = time.perf_counter()
            try:
                inbox.cursor = answer["cursor"]
                matched = bool(answer["matched"])
                code = (answer.get("otp") or {}).get("code") if matched else None
            except (KeyError, TypeError, AttributeError):
                self.errors["wait: an answer without its fields"] += 1
                await asyncio.sleep(1)
                continue
            if not matched:
                continue
            sent = inbox.in_flight
            if sent is None or code != sent.code:
                # A code given up on (it came after OTP_TIMEOUT), or one the run never sent.
                self.late_codes += 1
                continue
            sent.answered = answered
            if sent.replied is not None:  # else the sender settles it once it reads the 250
                self.settle(sent)

    def settle(self, sent: Sent) -> None:
        """Once its 250 is read and its code returned (or it failed, or timed out): the
        inbox takes its next message."""
        if sent.settled:
            return
        if sent.replied is not None and sent.answered is not None:
            self.otp_latency.append((sent.answered - sent.replied) * 1000)
        sent.settled = True
        sent.inbox.in_flight = None
        self.ready.put_nowait(sent.inbox)
        self.in_flight -= 1
        if self.in_flight == 0:
            self.settled.set()

    def expire(self, sent: Sent) -> None:
        if not sent.settled:
            self.otp_timeouts += 1
            self.settle(sent)

    # sending

    def next_serial(self) -> int | None:
        now = time.perf_counter()
        if self.started >= self.plan.messages:
            self.stopped_by = self.stopped_by or "messages"
            return None
        if now - self.began >= self.plan.duration:
            self.stopped_by = self.stopped_by or "duration"
            return None
        self.started += 1
        return self.started - 1

    async def sender(self) -> None:
        smtp: SmtpClient | None = None
        loop = asyncio.get_running_loop()
        try:
            while self.started < self.plan.messages:
                deadline = self.began + self.plan.duration
                try:
                    async with asyncio.timeout_at(loop.time() + deadline - time.perf_counter()):
                        inbox = await self.ready.get()
                except TimeoutError:
                    self.stopped_by = self.stopped_by or "duration"
                    return
                serial = self.next_serial()
                if serial is None:
                    self.ready.put_nowait(inbox)
                    return
                if self.plan.rate is not None:
                    send_at = self.began + serial / self.plan.rate
                    if send_at >= deadline:  # its turn comes after the run's end
                        self.stopped_by = self.stopped_by or "duration"
                        self.ready.put_nowait(inbox)
                        return
                    await asyncio.sleep(max(0.0, send_at - time.perf_counter()))
                code = str(CODE_BASE + serial)
                data = verification_mail(inbox.address, code, serial)
                sent = Sent(serial, inbox, code, time.perf_counter())
                inbox.in_flight = sent
                self.in_flight += 1
                self.settled.clear()
                self.sent.append(sent)
                # A message begun before the end gets SMTP_TIMEOUT past it, in all.
                overrun = loop.time() + deadline + SMTP_TIMEOUT - time.perf_counter()
                try:
                    async with asyncio.timeout_at(overrun):
                        if smtp is None:
                            smtp = await SmtpClient.open(
                                self.plan.smtp_host, self.plan.smtp_port, self.plan.tls
                            )
                            sent.started = time.perf_counter()
                        await smtp.send(inbox.address, data)
                except TimeoutError:
                    self.errors["timeout past --duration"] += 1
                    if smtp is not None:
                        smtp.close()
                        smtp = None
                    self.settle(sent)
                    self.stopped_by = self.stopped_by or "duration"
                    return
                except SmtpFailure as failure:
                    (self.refused if failure.refused else self.errors)[failure.kind] += 1
                    if failure.closed and smtp is not None:
                        smtp.close()
                        smtp = None
                    if failure.closed:
                        await asyncio.sleep(0.2)  # a door refusing connections: not in a spin
                    self.settle(sent)
                    continue
                sent.replied = time.perf_counter()
                self.smtp_latency.append((sent.replied - sent.started) * 1000)
                inbox.accepted.append(code)
                loop.call_later(OTP_TIMEOUT, self.expire, sent)
                self.settle_if_answered(sent)
                if smtp.sent >= MESSAGES_PER_CONNECTION:
                    await smtp.quit()
                    smtp = None
        finally:
            if smtp is not None:
                await smtp.quit()

    def settle_if_answered(self, sent: Sent) -> None:
        if sent.answered is not None:  # the code came back before the 250 did
            self.settle(sent)

    # the check

    async def listed_codes(self, inbox: Inbox) -> list[str]:
        codes: list[str] = []
        cursor: str | None = None
        while True:
            path = f"/v1/inboxes/{inbox.id}/messages?folder=all&limit=100"
            page = await self.api(
                "GET", path + (f"&cursor={cursor}" if cursor else ""), key=inbox.key
            )
            for summary in page["data"]:
                found = _SUBJECT.match(summary.get("subject") or "")
                if found:
                    codes.append(found.group(1))
            cursor = page.get("next_cursor")
            if not cursor:
                return codes


class ApiFailure(Exception):
    def __init__(self, text: str, *, status: int | None = None) -> None:
        super().__init__(text)
        self.status = status


async def load_test(plan: Plan, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the plan and return its report (see `render`)."""
    limits = httpx.Limits(max_connections=plan.inboxes + 32, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=plan.api_url, limits=limits) as client:
        run = Run(plan, client)
        try:
            me = await run.api("GET", "/v1/auth/me")
        except ApiFailure as failure:
            raise CliError(f"the API at {plan.api_url} refused the key: {failure}") from None
        if me.get("kind") != "account":
            raise CliError("--key must be an account key (it makes inboxes), not an inbox key")
        made_at = time.perf_counter()
        try:
            await run.make_inboxes()
        except ApiFailure as failure:
            raise CliError(f"could not make the run's inboxes: {failure}") from None
        progress(
            f"run {run.label}: {len(run.inboxes)} inboxes made in "
            f"{time.perf_counter() - made_at:.1f} s; sending for at most {plan.duration:g} s "
            f"or {plan.messages} messages"
        )
        waits = [asyncio.create_task(run.wait_loop(inbox)) for inbox in run.inboxes]
        for inbox in run.inboxes:
            run.ready.put_nowait(inbox)
        await asyncio.sleep(0.3)  # let the waits reach the server before the first mail
        run.began = time.perf_counter()
        try:
            await asyncio.gather(*(run.sender() for _ in range(plan.connections)))
            run.send_ended = time.perf_counter()
            if run.in_flight:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(OTP_TIMEOUT + 1):
                        await run.settled.wait()
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        progress("checking that every accepted message is listed")
        try:
            listed = await asyncio.gather(*(run.listed_codes(inbox) for inbox in run.inboxes))
        except ApiFailure as failure:
            raise CliError(f"could not list the run's inboxes to check them: {failure}") from None
    return report(run, listed)


def _latency(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def pct(p: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 2)

    return {"p50": pct(50), "p95": pct(95), "p99": pct(99), "max": pct(100)}


def report(run: Run, listed: list[list[str]]) -> dict[str, Any]:
    accepted = sum(len(inbox.accepted) for inbox in run.inboxes)
    missing = [
        {"inbox": inbox.address, "code": code}
        for inbox, codes in zip(run.inboxes, listed, strict=True)
        for code in sorted(set(inbox.accepted) - set(codes))
    ]
    unexpected = sum(
        len(set(codes) - set(inbox.accepted))
        for inbox, codes in zip(run.inboxes, listed, strict=True)
    )
    seconds = max(1e-9, run.send_ended - run.began)
    plan = run.plan
    return {
        "run": run.label,
        "target": {
            "api_url": plan.api_url,
            "smtp": f"{plan.smtp_host}:{plan.smtp_port}",
            "starttls": plan.tls is not None,
            "inboxes": [inbox.address for inbox in run.inboxes],
        },
        "limits": {
            "inboxes": plan.inboxes,
            "connections": plan.connections,
            "duration_seconds": plan.duration,
            "messages": plan.messages,
            "rate": plan.rate,
        },
        "stopped_by": run.stopped_by or "messages",
        "seconds": round(seconds, 3),
        "messages": {
            "sent": len(run.sent),
            "accepted": accepted,
            "refused": sum(run.refused.values()),
            "failed": len(run.sent) - accepted - sum(run.refused.values()),
        },
        "accepted_per_second": round(accepted / seconds, 2),
        "smtp_250_ms": _latency(run.smtp_latency),
        "otp_after_250_ms": _latency(run.otp_latency),
        "otp": {
            "returned": len(run.otp_latency),
            "not_returned": run.otp_timeouts,
            "late_or_unknown": run.late_codes,
        },
        "refused": dict(run.refused.most_common()),
        "errors": dict(run.errors.most_common()),
        "stored": {
            "accepted": accepted,
            "listed": accepted - len(missing),
            "missing": len(missing),
            "missing_messages": missing[:100],
            "listed_not_accepted": unexpected,
        },
    }


def render(report: dict[str, Any]) -> str:
    def ms(figures: dict[str, float | None]) -> str:
        if figures["p50"] is None:
            return "none"
        return ", ".join(f"{name} {value:.1f}" for name, value in figures.items()) + " ms"

    def kinds(counts: dict[str, int]) -> str:
        return ", ".join(f"{kind}: {n}" for kind, n in counts.items()) or "none"

    messages, stored, limits = report["messages"], report["stored"], report["limits"]
    stop = {"messages": f"--messages {limits['messages']}", "duration": "--duration"}
    inboxes = report["target"]["inboxes"]
    named = f"{inboxes[0]} … {inboxes[-1]}" if len(inboxes) > 1 else inboxes[0]
    lines = [
        f"dispatch-server loadtest, run {report['run']}",
        f"  target            API {report['target']['api_url']}, SMTP {report['target']['smtp']}"
        + (" (STARTTLS)" if report["target"]["starttls"] else ""),
        f"  inboxes           {len(inboxes)} ({named})",
        f"  connections       {limits['connections']}"
        + (f", at most {limits['rate']:g} msg/s" if limits["rate"] else ""),
        f"  sent for          {report['seconds']:.1f} s "
        f"(stopped by {stop.get(report['stopped_by'], report['stopped_by'])})",
        f"  messages          {messages['sent']} sent, {messages['accepted']} accepted, "
        f"{messages['refused']} refused, {messages['failed']} failed",
        f"  accepted          {report['accepted_per_second']:.1f} msg/s",
        f"  SMTP 250          {ms(report['smtp_250_ms'])}",
        f"  250 -> OTP        {ms(report['otp_after_250_ms'])}",
        f"  OTPs returned     {report['otp']['returned']}"
        f" ({report['otp']['not_returned']} not within {OTP_TIMEOUT:g} s of the 250)",
        f"  refusals          {kinds(report['refused'])}",
        f"  errors            {kinds(report['errors'])}",
        f"  stored            {stored['listed']} of {stored['accepted']} accepted messages "
        f"listed in their inbox, {stored['missing']} missing",
    ]
    for lost in stored["missing_messages"][:10]:
        lines.append(f"    missing: code {lost['code']} to {lost['inbox']}")
    if stored["listed_not_accepted"]:
        lines.append(f"  listed but not accepted: {stored['listed_not_accepted']}")
    return "\n".join(lines)
