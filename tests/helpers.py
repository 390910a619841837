"""Small helpers for building and sending test mail and calling the API."""

from __future__ import annotations

import base64
import email.policy
import json
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

from tests.conftest import INBOUND_TOKEN, LiveServer


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


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


def cursor_token(payload: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


class InboxClient:
    """A new workspace's inbox, read with its inbox key and fed through the webhook."""

    def __init__(self, server: LiveServer, local_part: str) -> None:
        self.server = server
        account = signup(server.base_url, local_part=local_part)
        self.id = account["inbox"]["id"]
        self.address = account["inbox"]["address"]
        self.client = httpx.Client(
            base_url=f"{server.base_url}/v1/inboxes/{self.id}",
            headers=bearer(account["inbox_key"]),
            timeout=30,
        )

    def deliver(self, **body: object) -> str:
        response = httpx.post(
            f"{self.server.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
            json={"to": self.address, "text": "hello", **body},
        )
        assert response.status_code == 201, response.text
        message_id: str = response.json()["deliveries"][0]["message_id"]
        return message_id

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.client.get(path, params=params)  # type: ignore[arg-type]
