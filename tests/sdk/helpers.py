"""What the SDK unit tests share: a recording httpx.MockTransport handler, clients on it, and
the server's answers as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from dispatch_client import AsyncDispatch, Dispatch

ACCOUNT = "11111111-1111-4111-8111-111111111111.account-secret"
MINTED = "22222222-2222-4222-8222-222222222222.inbox-secret"
MINTED_ID = "22222222-2222-4222-8222-222222222222"
INBOX_ID = "33333333-3333-4333-8333-333333333333"
NOW = "2026-11-24T09:30:00.123456Z"
MESSAGES = f"/v1/inboxes/{INBOX_ID}/messages"
KEYS = f"/v1/inboxes/{INBOX_ID}/keys"
WAIT = f"/v1/inboxes/{INBOX_ID}/wait"

INBOX = {
    "id": INBOX_ID,
    "workspace_id": "w",
    "address": "bot@dispatch.test",
    "display_name": None,
    "created_at": NOW,
}
INBOX_KEY = {
    "id": MINTED_ID,
    "kind": "inbox",
    "inbox_id": INBOX_ID,
    "label": "dispatch-python",
    "created_at": NOW,
    "revoked_at": None,
}
CREATED_KEY = {**INBOX_KEY, "key": MINTED}
SIGNUP = {
    "workspace": {"id": "w", "name": "n", "plan": "free", "status": "active", "created_at": NOW},
    "agent": {"id": "a", "workspace_id": "w", "name": "n", "created_at": NOW},
    "inbox": INBOX,
    "account_key": ACCOUNT,
    "inbox_key": MINTED,
}


def message(number: int) -> dict[str, Any]:
    return {
        "id": f"m{number}",
        "inbox_id": INBOX_ID,
        "from": "Acme <a@acme.test>",
        "from_address": "a@acme.test",
        "to": ["bot@dispatch.test"],
        "cc": [],
        "subject": f"Message {number}",
        "text": "hi",
        "html": None,
        "message_id_header": None,
        "folder": "inbox",
        "size_bytes": 10,
        "received_at": NOW,
        "attachments": [],
        "artifacts": [],
        "some_future_field": {"ignored": True},
    }


def summary(number: int) -> dict[str, Any]:
    """A message as a listing gives it."""
    return {
        "id": f"m{number}",
        "inbox_id": INBOX_ID,
        "from": "Acme <a@acme.test>",
        "from_address": "a@acme.test",
        "to": ["bot@dispatch.test"],
        "subject": f"Message {number}",
        "preview": "hi",
        "folder": "inbox",
        "size_bytes": 10,
        "received_at": NOW,
        "attachment_count": 0,
        "has_otp": False,
        "has_link": False,
        "some_future_field": {"ignored": True},
    }


def artifact(kind: str, value: str, *, primary: bool = True) -> dict[str, Any]:
    return {
        "id": f"a-{value}",
        "message_id": "m9",
        "kind": kind,
        "value": value,
        "is_primary": primary,
        "received_at": NOW,
    }


def page(*items: dict[str, Any], cursor: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"data": list(items), "next_cursor": cursor})


def error(
    status: int,
    code: str,
    headers: dict[str, str] | None = None,
    *,
    param: str | None = None,
) -> httpx.Response:
    body: dict[str, str] = {"code": code, "message": f"{code} here"}
    if param is not None:
        body["param"] = param
    return httpx.Response(status, json={"error": body}, headers=headers)


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a list and records what it was asked."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer

    def auth(self, index: int) -> str | None:
        value = self.requests[index].headers.get("authorization")
        return None if value is None else value.removeprefix("Bearer ")

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


def sync_client(handler: Handler, **kwargs: Any) -> Dispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = Dispatch(
        base_url="http://dispatch.test",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,
    )
    client._driver.sleep = lambda seconds: None
    return client


def async_client(handler: Callable[[httpx.Request], Any], **kwargs: Any) -> AsyncDispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = AsyncDispatch(
        base_url="http://dispatch.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **kwargs,
    )

    async def no_sleep(seconds: float) -> None:
        return None

    client._driver.sleep = no_sleep
    return client


def raising(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    return handler


def unmatched(request: httpx.Request, unmatched_count: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "matched": False,
        "message": None,
        "otp": None,
        "link": None,
        "cursor": "cur",
    }
    if unmatched_count is not None:
        body["unmatched_count"] = unmatched_count
    return httpx.Response(200, json=body)


def unmatched_with(count: int) -> Handler:
    return lambda request: unmatched(request, count)


def matched_otp(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "matched": True,
            "message": {**message(9), "artifacts": [artifact("otp", "482913")]},
            "otp": {
                "code": "482913",
                "message_id": "m9",
                "from": "a@acme.test",
                "subject": "s",
                "received_at": NOW,
            },
            "link": None,
            "cursor": "cur2",
            "unmatched_count": 0,
        },
    )


def matched_otp_at(cursor: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = matched_otp(request)
        return httpx.Response(200, json={**json.loads(answer.content), "cursor": cursor})

    return handler


def refuse_long_rounds(request: httpx.Request) -> httpx.Response:
    """An older server with DISPATCH_WAIT_MAX_SECONDS=10: a longer round is a 400."""
    if float(request.url.params["timeout"]) > 10:
        text = "timeout must be between 0 and 10"
        return httpx.Response(400, json={"error": {"code": "invalid_request", "message": text}})
    return matched_otp(request)


CONCURRENT_CALLS = 8


class NewInbox:
    """A server for concurrent first calls on inboxes: the account key gets 403 on an inbox
    route, and every such probe waits until all calls have had theirs, so all of them need a
    key at the same moment. Records the keys minted, by inbox."""

    def __init__(self) -> None:
        self.minted: list[str] = []

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The answer, or None for a probe (which must wait for the others first)."""
        if request.method == "POST":
            inbox_id = request.url.path.split("/")[3]
            self.minted.append(f"{MINTED}-{len(self.minted)}")
            return httpx.Response(
                201, json={**CREATED_KEY, "inbox_id": inbox_id, "key": self.minted[-1]}
            )
        if request.headers["authorization"] == f"Bearer {ACCOUNT}":
            return None
        return page()
