"""Shared bench helpers: realistic messages and a `dispatch-server dev` subprocess."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

HTML = """<html><head>
<style>td {{ color: #333333; }} .btn {{ background: #1a73e8; }}</style></head>
<body><table width="600"><tr><td><img src="https://cdn.acme.test/logo.png" alt="Acme"></td></tr>
<tr><td><h1>Confirm your sign-in</h1><p>Hi there,</p>
<p>Use this verification code to finish signing in to Acme. It expires in 10 minutes.</p>
<p style="font-size:32px;letter-spacing:6px"><b>{code}</b></p>
<p>Or <a class="btn" href="https://acme.test/login/verify?token={token}">sign in with one
click</a>.</p>
<p>Order #{order} · Questions? Call +1 (415) 555-0132.</p>
<p>If you didn't request this, ignore this email.</p></td></tr>
<tr><td style="font-size:11px;color:#888888">Acme Inc, 548 Market St, San Francisco CA 94104 ·
<a href="https://acme.test/unsubscribe?u={token}">Unsubscribe</a> · © 2026</td></tr></table>
</body></html>"""


def otp_mail(to: str, code: str, serial: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Acme <no-reply@acme.test>"
    message["To"] = to
    message["Subject"] = "Your Acme verification code"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=str(serial), domain="acme.test")
    token = f"tok{serial:08d}"
    message.set_content(
        f"Use this verification code to finish signing in: {code}\n\n"
        f"Or open https://acme.test/login/verify?token={token}\n"
    )
    message.add_alternative(
        HTML.format(code=code, token=token, order=100000 + serial), subtype="html"
    )
    return message.as_bytes(policy=SMTP)


# What an email builder's template looks like: a table layout with the styles inlined.
TEMPLATE_HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Verify</title>
</head><body style="margin:0;padding:0;background-color:#f4f5f7">
<table role="presentation" width="100%" cellspacing="0" cellpadding="0" border="0"
 style="background-color:#f4f5f7"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="600" cellspacing="0" cellpadding="0" border="0"
 style="background-color:#ffffff;border-radius:8px;font-family:Helvetica,Arial,sans-serif">
<tr><td style="padding:32px 40px 8px 40px"><img src="https://cdn.acme.test/logo@2x.png"
 width="120" height="32" alt="Acme" style="display:block;border:0"></td></tr>
<tr><td style="padding:8px 40px;font-size:22px;line-height:30px;color:#111827;
font-weight:600">Confirm your sign-in</td></tr>
<tr><td style="padding:8px 40px;font-size:15px;line-height:24px;color:#374151">Hi there,
<br>Use this verification code to finish signing in to Acme. It expires in 10 minutes.
</td></tr>
<tr><td align="center" style="padding:16px 40px"><div style="display:inline-block;
padding:12px 24px;border:1px solid #e5e7eb;border-radius:6px;font-size:32px;
letter-spacing:8px;font-family:Menlo,Consolas,monospace;color:#111827">{code}</div>
</td></tr>
<tr><td align="center" style="padding:8px 40px 24px 40px"><a
 href="https://acme.test/login/verify?token={token}" style="display:inline-block;
padding:12px 28px;background-color:#1a73e8;color:#ffffff;text-decoration:none;
border-radius:6px;font-size:15px;font-weight:600">Sign in with one click</a></td></tr>
<tr><td style="padding:0 40px 24px 40px;font-size:13px;line-height:20px;color:#6b7280">
Request #{order} from Chrome on macOS, San Francisco, US. If you didn't request this,
you can ignore this email; someone may have typed your address by mistake. Questions?
Call +1 (415) 555-0132 or reply to this mail.</td></tr>
<tr><td style="padding:16px 40px 32px 40px;border-top:1px solid #e5e7eb;font-size:11px;
line-height:16px;color:#9ca3af">Acme Inc, 548 Market St, San Francisco CA 94104 &middot;
<a href="https://acme.test/privacy" style="color:#9ca3af">Privacy</a> &middot;
<a href="https://acme.test/unsubscribe?u={token}" style="color:#9ca3af">Unsubscribe</a>
&middot; &copy; 2026 Acme</td></tr></table></td></tr></table></body></html>"""


# The sender of the benchmarks' verification mail signs it with DKIM for real (relaxed/relaxed,
# RSA-2048), so a server that checks DKIM does all of it: key lookup, body hash, RSA. Serve
# `SENDER_RECORDS` from a DNS server (bench.smtp_vs_maildev --sender-dns starts one) and every
# check passes, as for a well-configured sender's mail; without them the key lookup fails.
SENDER_DOMAIN = "acme.test"
DKIM_SELECTOR = "s2026"
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


@functools.cache
def _dkim_key() -> tuple[bytes, str]:
    """A fresh RSA-2048 key: its PEM, and the base64 of its public key for the record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode()


def sender_records() -> dict[str, str]:
    """The TXT records of the sender: SPF allowing 127.0.0.1, DMARC p=none, the DKIM key."""
    return {
        SENDER_DOMAIN: "v=spf1 ip4:127.0.0.1 -all",
        f"_dmarc.{SENDER_DOMAIN}": "v=DMARC1; p=none",
        f"{DKIM_SELECTOR}._domainkey.{SENDER_DOMAIN}": f"v=DKIM1; k=rsa; p={_dkim_key()[1]}",
    }


class _OpenSslKey(dict[str, int]):
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        super().__init__(modulus=key.public_key().public_numbers().n)
        self.key = key


@functools.cache
def _openssl_private_key(pem: bytes) -> _OpenSslKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return _OpenSslKey(key)


def _openssl_sign(hash: Any, private_key: _OpenSslKey) -> bytes:
    digest: bytes = hash.digest()
    return private_key.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def _dkim_sign(message: bytes) -> bytes:
    """`message` with a DKIM-Signature on top, made by dkimpy with OpenSSL's RSA: dkimpy's own
    takes about 20 ms a signature, too slow to sign thousands of messages before a run."""
    dkim.parse_pem_private_key = _openssl_private_key
    dkim.RSASSA_PKCS1_v1_5_sign = _openssl_sign
    signature = dkim.sign(
        message,
        DKIM_SELECTOR.encode(),
        SENDER_DOMAIN.encode(),
        _dkim_key()[0],
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    return bytes(signature) + message


def verification_mail(to: str, code: str, serial: int) -> bytes:
    """About 4.5 KB, as a transactional sender's verification mail arrives: the relay's
    Received line, a real DKIM signature (RSA-2048), list headers, and a text and a templated
    HTML part."""
    token = f"tok{serial:08d}"
    message = EmailMessage()
    message["From"] = f"Acme <no-reply@{SENDER_DOMAIN}>"
    message["To"] = to
    message["Subject"] = "Your Acme verification code"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=str(serial), domain=SENDER_DOMAIN)
    message["List-Unsubscribe"] = (
        f"<https://acme.test/unsubscribe?u={token}>, <mailto:unsubscribe+{token}@acme.test>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(
        f"Use this verification code to finish signing in to Acme: {code}\n"
        f"It expires in 10 minutes.\n\n"
        f"Or open https://acme.test/login/verify?token={token}\n\n"
        f"If you didn't request this, you can ignore this email.\n"
    )
    message.add_alternative(
        TEMPLATE_HTML.format(code=code, token=token, order=100000 + serial), subtype="html"
    )
    seed = hashlib.sha256(str(serial).encode()).digest()
    signed = _dkim_sign(message.as_bytes(policy=SMTP))
    relay = (
        "Received: from mta-7.out.acme.test (mta-7.out.acme.test [192.0.2.17])\r\n"
        f"\tby mx.bench.test with ESMTPS id {seed.hex()[:12]}\r\n"
        f"\tfor <{to}>; {formatdate(usegmt=True)}\r\n"
        f"Feedback-ID: signin:verification:acme:{serial % 97}\r\n"
        f"X-Entity-Ref-ID: {hashlib.sha1(seed).hexdigest()}\r\n"
    )
    return relay.encode() + signed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@attrs.frozen
class DevServer:
    process: subprocess.Popen[str]
    base_url: str
    smtp_port: int
    account_key: str
    data_dir: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # thousands of open waits answered at shutdown
            self.process.kill()
            self.process.wait()


def start_dev_server(extra_env: dict[str, str] | None = None) -> DevServer:
    data_dir = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    port, smtp_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(extra_env or {})
    env.setdefault("DISPATCH_LOG_LEVEL", "WARNING")
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dispatch_server",
                "dev",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--smtp-port",
                str(smtp_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"DISPATCH_API_KEY=(\S+)", log.read_text())
        if found:
            return DevServer(
                process, f"http://127.0.0.1:{port}", smtp_port, found.group(1), data_dir
            )
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"dev server did not start:\n{log.read_text()}")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_of(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def create_database(admin_url: str, name: str) -> str:
    """A fresh, empty PostgreSQL database `name` (one left by an earlier run is dropped);
    returns its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_of(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
