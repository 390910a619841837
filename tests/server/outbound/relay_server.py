"""A real SMTP relay for the `smtp` transport's tests, run as its own process: aiosmtpd's
SMTP session on a listening socket, configured by a JSON file (argv[1]).

It prints `PORT <n>` once it listens, appends one JSON line per command it gets to the
`records` file (written before the reply, so a test that got the reply can read it), and
exits when its stdin closes. The configuration's keys, all optional but `records`:

- `security`: `none` (the default), `starttls` (offered and required) or `tls` (implicit
  TLS), with `cert` and `key` (PEM files);
- `auth`: {"username": ..., "password": ...}: AUTH offered (after TLS) and required, with
  `mechanisms` (default PLAIN and LOGIN) and `auth_require_tls` (default true);
- `rcpt_replies`: {address: reply} for RCPT TO; `mail_reply`, `data_command_reply` (to the
  DATA command itself) and `data_reply` (after the message) replace the usual 250/354/250;
- `drop_at`: `MAIL`, `RCPT` or `DATA` (after the message): the connection is closed
  without a reply;
- `close_after_message`: the connection is closed just after the 250 to each message;
- `silent`: no SMTP at all: connections are accepted and never greeted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

PLAIN_AND_LOGIN = ("PLAIN", "LOGIN")


class Recorder:
    """The handler: records every command, answers as configured."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.records = Path(config["records"])

    def record(self, server: Any, session: Any, event: str, **details: Any) -> None:
        line = {
            "event": event,
            "peer": session.peer[1],
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data if session.authenticated else None,
            **details,
        }
        with self.records.open("a") as records:
            records.write(json.dumps(line) + "\n")

    def drop(self, server: Any, command: str) -> bool:
        if self.config.get("drop_at") != command:
            return False
        server.transport.abort()
        return True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.record(server, session, "EHLO", hostname=hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.record(server, session, "MAIL", address=address, options=options)
        if self.drop(server, "MAIL"):
            return "421 never sent"
        reply: str | None = self.config.get("mail_reply")
        if reply is not None and not reply.startswith("250"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return reply or "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.record(server, session, "RCPT", address=address)
        if self.drop(server, "RCPT"):
            return "421 never sent"
        reply: str | None = self.config.get("rcpt_replies", {}).get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.record(
            server,
            session,
            "DATA",
            sender=envelope.mail_from,
            recipients=envelope.rcpt_tos,
            options=envelope.mail_options,
            content=base64.b64encode(envelope.original_content).decode(),
        )
        if self.drop(server, "DATA"):
            return "421 never sent"
        if self.config.get("close_after_message"):
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        reply: str = self.config.get("data_reply", "250 OK")
        return reply

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.record(server, session, "RSET")
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.record(server, session, "QUIT")
        return "221 Bye"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        auth = self.config["auth"]
        ok = (
            isinstance(data, LoginPassword)
            and _text(data.login) == auth["username"]
            and _text(data.password) == auth["password"]
        )
        login = _text(data.login) if isinstance(data, LoginPassword) else None
        self.record(server, session, "AUTH", mechanism=mechanism, username=login, ok=ok)
        return AuthResult(success=ok, handled=False, auth_data=login)


class Session(SMTP):
    """aiosmtpd's session, with the DATA command itself answerable as configured."""

    def __init__(self, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(recorder, **kwargs)
        self.recorder = recorder

    async def smtp_DATA(self, arg: str) -> None:
        reply = self.recorder.config.get("data_command_reply")
        if reply is not None and self.envelope is not None and self.envelope.rcpt_tos:
            await self.push(reply)
            return
        await super().smtp_DATA(arg)


class Silent(asyncio.Protocol):
    """Accepts a connection and says nothing."""


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


async def serve(config: dict[str, Any]) -> None:
    security = config.get("security", "none")
    context = None
    if security != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config["cert"], config["key"])
    recorder = Recorder(config)
    auth = config.get("auth")
    options: dict[str, Any] = {"hostname": "relay.test", "decode_data": False}
    if security == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if auth is not None:
        excluded = set(PLAIN_AND_LOGIN) - set(config.get("mechanisms", PLAIN_AND_LOGIN))
        options.update(
            authenticator=recorder.authenticate,
            auth_required=True,
            # aiosmtpd only counts STARTTLS as TLS: with implicit TLS it must not require it.
            auth_require_tls=config.get("auth_require_tls", security == "starttls"),
            auth_exclude_mechanism=excluded,
        )

    def session() -> asyncio.Protocol:
        if config.get("silent"):
            return Silent()
        protocol: asyncio.Protocol = Session(recorder, **options)
        return protocol

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.get_running_loop().create_server(
        session, sock=listener, ssl=context if security == "tls" else None
    )
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    await asyncio.to_thread(sys.stdin.buffer.read)  # until the test closes our stdin
    server.close()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(Path(sys.argv[1]).read_text())))
