"""Shared bench helpers: a realistic message and a `dispatch-server dev` subprocess."""

from __future__ import annotations

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
        self.process.wait(timeout=10)


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
