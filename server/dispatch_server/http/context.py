"""What a request carries besides itself: the process's services and its request id."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from dispatch_server.services import Services


def services(conn: HTTPConnection) -> Services:
    found: Services = conn.app.state.services
    return found


def request_id(conn: HTTPConnection) -> str | None:
    rid: str | None = conn.scope.get("state", {}).get("request_id")
    return rid
