"""Servers and helpers for the operator and claim tests: operators whose email is an inbox of
the server itself, so their verification mail lands where the test can read it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, signup

ADMIN_LOCAL_PART = "ops-admin"
JWT_SECRET = "the-test-servers-jwt-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
# Cheap Argon2id for the tests (the defaults cost 64 MiB per hash).
FAST_ARGON2 = {
    "DISPATCH_ARGON2_MEMORY_KIB": 8192,
    "DISPATCH_ARGON2_TIME_COST": 1,
    "DISPATCH_ARGON2_PARALLELISM": 1,
}


def serve(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    **variables: object,
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)
    settings = make_settings(
        url,
        DISPATCH_ADMIN_EMAILS=f"{ADMIN_LOCAL_PART}@dispatch.test",
        DISPATCH_OPS_TOKEN="ops-token",
        JWT_SECRET_KEY=JWT_SECRET,
        **FAST_ARGON2,
        **variables,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def post(
    server: LiveServer, path: str, body: Any = None, token: str | None = None
) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def get(server: LiveServer, path: str, token: str | None = None) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.get(f"{server.base_url}{path}", headers=headers, timeout=30)


class Mailbox:
    """An agent's inbox on the server: an address operators can sign up with."""

    def __init__(self, server: LiveServer, local_part: str | None = None) -> None:
        account = signup(server.base_url, **({"local_part": local_part} if local_part else {}))
        self.server = server
        self.account = account
        self.address: str = account["inbox"]["address"]
        self.inbox_id: str = account["inbox"]["id"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]
        self.agent_id: str = account["agent"]["id"]

    def code(self, *, after: str | None = None, timeout: float = 20) -> str:
        """The newest verification code mailed here (waited for)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = httpx.get(
                f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/otp",
                headers=bearer(self.inbox_key),
            )
            otp = response.json()["otp"]
            if otp is not None and otp["code"] != after:
                code: str = otp["code"]
                return code
            time.sleep(0.05)
        raise AssertionError("no verification code arrived")

    def subjects(self) -> list[str]:
        response = httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/messages",
            headers=bearer(self.inbox_key),
        )
        return [message["subject"] for message in response.json()["data"]]


def operator(server: LiveServer, mailbox: Mailbox, **extra: Any) -> dict[str, Any]:
    """Sign up an operator with the mailbox's address; the session."""
    response = post(
        server, "/auth/signup", {"email": mailbox.address, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


def verified_operator(server: LiveServer, mailbox: Mailbox) -> str:
    """A verified operator's token."""
    operator(server, mailbox)
    response = post(
        server,
        "/auth/verify-email",
        {"code": mailbox.code()},
        token=login(server, mailbox.address),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def login(server: LiveServer, email: str, password: str = PASSWORD) -> str:
    response = post(server, "/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def execute(server: LiveServer, statement: sa.Executable) -> None:
    """Change the server's database directly (to age a code or a token)."""

    async def run() -> None:
        engine = create_async_engine(server.database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(statement)
        finally:
            await engine.dispose()

    asyncio.run(run())


def past() -> datetime:
    return datetime(2000, 1, 1).astimezone()
