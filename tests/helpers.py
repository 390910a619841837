"""Small helpers for building and sending test mail and calling the API."""

from __future__ import annotations

import email.policy
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx


def make_mail(
    to: str,
    *,
    subject: str = "Hello",
    text: str | None = "Hello there",
    html: str | None = None,
    sender: str = "Acme <no-reply@acme.test>",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id or make_msgid(domain="acme.test")
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is not None:
            message.add_alternative(html, subtype="html")
        else:
            message.set_content(html, subtype="html")
    return message.as_bytes(policy=email.policy.SMTP)  # CRLF, as on the wire


def smtp_send(
    host: str, port: int, to: str | list[str], raw: bytes, sender: str = "no-reply@acme.test"
) -> dict[str, tuple[int, bytes]]:
    recipients = [to] if isinstance(to, str) else to
    with smtplib.SMTP(host, port, timeout=10) as client:
        return client.sendmail(sender, recipients, raw)


def signup(base_url: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/v1/agent/signup", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
