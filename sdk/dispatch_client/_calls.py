"""Every API call, defined once as a sans-I/O generator.

A call yields `Request`s and is sent back `Response`s; its return value is the result. The
sync and async clients only differ in how they carry a Request over the wire (see
_transport.py), so multi-step calls (minting an inbox key on first use, long-poll loops)
exist once, here.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from time import monotonic
from typing import Any, TypeVar

import attrs

from dispatch_client._errors import DispatchError, WaitTimeoutError, status_error
from dispatch_client._models import (
    ArtifactPage,
    Inbox,
    InboxKey,
    Message,
    MessagePage,
    Otp,
    Signup,
    WaitResult,
    decode,
)

T = TypeVar("T")

# The server caps one wait at 60 s; shorter rounds keep proxies and load balancers happy.
WAIT_ROUND_SECONDS = 30.0
# Extra read time over a round's own timeout, so the client never cuts a long poll short.
WAIT_READ_MARGIN = 10.0

Params = Mapping[str, str | int | float]


@attrs.frozen(kw_only=True)
class Request:
    method: str
    path: str
    params: Params | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    read_timeout: float | None = None  # None: the client's default
    long_poll: bool = False  # a read timeout here is not retried: it would overrun the wait


@attrs.frozen(kw_only=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


Call = Generator[Request, Response, T]


@attrs.define
class Credentials:
    """The client's key plus the inbox keys it minted or was given, by inbox id."""

    api_key: str | None = attrs.field(repr=False)
    inbox_keys: dict[str, str] = attrs.field(factory=dict, repr=False)

    def require_key(self) -> str:
        if not self.api_key:
            raise DispatchError(
                "no API key: pass Dispatch(api_key=...) or set DISPATCH_API_KEY "
                "(agent.signup() needs none and returns one)"
            )
        return self.api_key


def _checked(response: Response) -> Response:
    if response.status >= 400:
        raise status_error(response.status, response.content, response.headers.get("x-request-id"))
    return response


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DispatchError(
            f"expected JSON from the server, got {response.content[:200]!r}"
        ) from None


def _field(response: Response, name: str) -> Any:
    body = _json(response)
    if not isinstance(body, dict) or name not in body:
        raise DispatchError(f"expected a JSON object with {name!r} from the server, got {body!r}")
    return body[name]


def _error_code(response: Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def send(credentials: Credentials, request: Request) -> Call[Response]:
    """Send with the account/workspace key."""
    response = yield attrs.evolve(request, api_key=credentials.require_key())
    return _checked(response)


def send_for_inbox(credentials: Credentials, inbox_id: str, request: Request) -> Call[Response]:
    """Send a request on an inbox route, with an inbox key for that inbox.

    With an account key, the first inbox call gets 403 forbidden; then an inbox key is
    minted, cached, and the request repeated. Later calls use the cached key directly. A
    cached key that is refused (401: revoked) is dropped and the client's own key used again.
    """
    cached = credentials.inbox_keys.get(inbox_id)
    if cached is not None:
        response = yield attrs.evolve(request, api_key=cached)
        if response.status != 401 or credentials.api_key in (None, cached):
            return _checked(response)
        credentials.inbox_keys.pop(inbox_id, None)
    key = credentials.require_key()
    response = yield attrs.evolve(request, api_key=key)
    if response.status != 403 or _error_code(response) != "forbidden":
        return _checked(response)
    minted = yield Request(
        method="POST",
        path=f"/v1/inboxes/{inbox_id}/keys",
        json={"label": "dispatch-python"},
        api_key=key,
    )
    if minted.status == 403:
        # Our key cannot mint (an inbox key, or a suspended workspace): the first answer stands.
        return _checked(response)
    inbox_key = decode(_json(_checked(minted)), InboxKey).key
    credentials.inbox_keys[inbox_id] = inbox_key
    return _checked((yield attrs.evolve(request, api_key=inbox_key)))


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _time(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- agent -----------------------------------------------------------------------------


def signup(credentials: Credentials, *, name: str | None, local_part: str | None) -> Call[Signup]:
    response = yield Request(
        method="POST", path="/v1/agent/signup", json=_body(name=name, local_part=local_part)
    )
    result = decode(_json(_checked(response)), Signup)
    credentials.inbox_keys[result.inbox.id] = result.inbox_key
    if credentials.api_key is None:
        credentials.api_key = result.account_key
    return result


# --- inboxes ---------------------------------------------------------------------------


def create_inbox(
    credentials: Credentials, *, local_part: str | None, display_name: str | None
) -> Call[Inbox]:
    request = Request(
        method="POST",
        path="/v1/inboxes",
        json=_body(local_part=local_part, display_name=display_name),
    )
    return decode(_json((yield from send(credentials, request))), Inbox)


def list_inboxes(credentials: Credentials) -> Call[list[Inbox]]:
    response = yield from send(credentials, Request(method="GET", path="/v1/inboxes"))
    return decode(_field(response, "data"), list[Inbox])


def get_inbox(credentials: Credentials, inbox_id: str) -> Call[Inbox]:
    # The server also lets an account key read an inbox; then no inbox key is minted.
    request = Request(method="GET", path=f"/v1/inboxes/{inbox_id}")
    return decode(_json((yield from send_for_inbox(credentials, inbox_id, request))), Inbox)


def create_inbox_key(
    credentials: Credentials, inbox_id: str, *, label: str | None
) -> Call[InboxKey]:
    request = Request(method="POST", path=f"/v1/inboxes/{inbox_id}/keys", json=_body(label=label))
    key = decode(_json((yield from send(credentials, request))), InboxKey)
    credentials.inbox_keys[inbox_id] = key.key
    return key


# --- messages and artifacts ------------------------------------------------------------


def list_messages(
    credentials: Credentials, inbox_id: str, *, limit: int, cursor: str | None, folder: str
) -> Call[MessagePage]:
    params: dict[str, str | int] = {"limit": limit, "folder": folder}
    if cursor:
        params["cursor"] = cursor
    request = Request(method="GET", path=f"/v1/inboxes/{inbox_id}/messages", params=params)
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), MessagePage)


def get_message(credentials: Credentials, inbox_id: str, message_id: str) -> Call[Message]:
    request = Request(method="GET", path=f"/v1/inboxes/{inbox_id}/messages/{message_id}")
    return decode(_json((yield from send_for_inbox(credentials, inbox_id, request))), Message)


def raw_message(credentials: Credentials, inbox_id: str, message_id: str) -> Call[bytes]:
    request = Request(
        method="GET",
        path=f"/v1/inboxes/{inbox_id}/messages/{message_id}/raw",
        headers={"Accept": "message/rfc822"},
    )
    return (yield from send_for_inbox(credentials, inbox_id, request)).content


def list_artifacts(
    credentials: Credentials, inbox_id: str, *, kind: str | None, limit: int, cursor: str | None
) -> Call[ArtifactPage]:
    params: dict[str, str | int] = {"limit": limit}
    if kind:
        params["kind"] = kind
    if cursor:
        params["cursor"] = cursor
    request = Request(method="GET", path=f"/v1/inboxes/{inbox_id}/artifacts", params=params)
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), ArtifactPage)


def latest_otp(credentials: Credentials, inbox_id: str) -> Call[Otp | None]:
    request = Request(method="GET", path=f"/v1/inboxes/{inbox_id}/otp")
    otp = _field((yield from send_for_inbox(credentials, inbox_id, request)), "otp")
    return None if otp is None else decode(otp, Otp)


# --- waiting ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WaitQuery:
    kind: str = "message"
    after: str | None = None
    since: datetime | str | None = None
    from_: str | None = None
    subject: str | None = None
    folder: str = "inbox"

    def params(self, timeout: float) -> dict[str, str | float]:
        if self.after is not None and self.since is not None:
            raise DispatchError("give after= or since=, not both")
        params: dict[str, str | float] = {
            "kind": self.kind,
            "folder": self.folder,
            "timeout": round(max(timeout, 0.0), 3),
        }
        if self.after is not None:
            params["after"] = self.after
        if self.since is not None:
            params["since"] = _time(self.since)
        if self.from_:
            params["from"] = self.from_
        if self.subject:
            params["subject"] = self.subject
        return params


def wait_once(
    credentials: Credentials, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[WaitResult]:
    """One server-side wait round of up to `timeout` seconds."""
    request = Request(
        method="GET",
        path=f"/v1/inboxes/{inbox_id}/wait",
        params=query.params(timeout),
        read_timeout=timeout + WAIT_READ_MARGIN,
        long_poll=True,
    )
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), WaitResult)


def wait_until_match(
    credentials: Credentials, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[WaitResult]:
    """Server-side waits, round after round, until a match or `timeout` seconds have passed."""
    deadline = monotonic() + timeout
    while True:
        remaining = deadline - monotonic()
        result = yield from wait_once(
            credentials, inbox_id, query, timeout=min(max(remaining, 0.0), WAIT_ROUND_SECONDS)
        )
        if result.matched:
            return result
        if deadline - monotonic() <= 0:
            what = {"otp": "message with an OTP", "link": "message with a link"}.get(
                query.kind, "matching message"
            )
            raise WaitTimeoutError(f"no {what} arrived in inbox {inbox_id} within {timeout:g} s")


def wait_for_message(
    credentials: Credentials, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[Message]:
    result = yield from wait_until_match(credentials, inbox_id, query, timeout=timeout)
    if result.message is None:
        raise DispatchError("the server reported a match without a message")
    return result.message


def wait_for_otp(
    credentials: Credentials, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[str]:
    result = yield from wait_until_match(
        credentials, inbox_id, attrs.evolve(query, kind="otp"), timeout=timeout
    )
    if result.otp is None:
        raise DispatchError("the server reported an OTP match without an OTP")
    return result.otp.code
