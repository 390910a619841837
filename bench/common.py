"""Shared bench helpers: realistic messages and a `dispatch-server dev` subprocess."""

from __future__ import annotations

import base64
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

import attrs

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


def verification_mail(to: str, code: str, serial: int) -> bytes:
    """About 4 KB, as a transactional sender's verification mail arrives: the relay's Received
    line, a DKIM signature (RSA-2048), list headers, and a text and a templated HTML part."""
    token = f"tok{serial:08d}"
    message = EmailMessage()
    message["From"] = "Acme <no-reply@acme.test>"
    message["To"] = to
    message["Subject"] = "Your Acme verification code"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=str(serial), domain="acme.test")
    message.set_content(
        f"Use this verification code to finish signing in to Acme: {code}\n"
        f"It expires in 10 minutes.\n\n"
        f"Or open https://acme.test/login/verify?token={token}\n\n"
        f"If you didn't request this, you can ignore this email.\n"
    )
    message.add_alternative(
        TEMPLATE_HTML.format(code=code, token=token, order=100000 + serial), subtype="html"
    )
    body = message.as_bytes(policy=SMTP)
    seed = hashlib.sha256(str(serial).encode()).digest()
    signature = base64.b64encode(seed * 8)[:344].decode()  # as long as an RSA-2048 b=
    folded = "\r\n\t".join(signature[i : i + 72] for i in range(0, len(signature), 72))
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    date = formatdate(usegmt=True)
    headers = (
        "Received: from mta-7.out.acme.test (mta-7.out.acme.test [192.0.2.17])\r\n"
        f"\tby mx.bench.test with ESMTPS id {seed.hex()[:12]}\r\n"
        f"\tfor <{to}>; {date}\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=acme.test; s=s2026;\r\n"
        "\tt=1764547200; h=from:to:subject:date:message-id:mime-version:\r\n"
        f"\tlist-unsubscribe:list-unsubscribe-post; bh={body_hash};\r\n"
        f"\tb={folded}\r\n"
        f"List-Unsubscribe: <https://acme.test/unsubscribe?u={token}>,\r\n"
        f"\t<mailto:unsubscribe+{token}@acme.test>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        f"Feedback-ID: signin:verification:acme:{serial % 97}\r\n"
        f"X-Entity-Ref-ID: {hashlib.sha1(seed).hexdigest()}\r\n"
    )
    return headers.encode() + body


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
