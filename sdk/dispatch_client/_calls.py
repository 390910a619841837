"""Every API call, defined once as a sans-I/O generator.

A call yields steps and is sent back their outcomes; its return value is the result. A step
is a `Request` (answered with a `Response`; a failure to send is thrown into the call as a
DispatchError) or an `Exclusive` (a sub-call run under a named lock, answered with its
result). The sync and async clients only differ in how they carry out steps (see
_transport.py), so multi-step calls (minting an inbox key on first use, long-poll loops)
exist once, here.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from time import monotonic
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from dispatch_client._errors import (
    BadRequestError,
    DispatchError,
    WaitTimeoutError,
    status_error,
)
from dispatch_client._models import (
    ArtifactKind,
    ArtifactPage,
    Folder,
    Inbox,
    InboxKey,
    Message,
    MessagePage,
    Otp,
    Signup,
    WaitKind,
    WaitResult,
    decode,
)

T = TypeVar("T")

# One wait request lasts at most this long: below the 30 s idle limit of common proxies and
# load balancers. The server caps a request at its own maximum (default 60 s) anyway.
WAIT_ROUND_SECONDS = 25.0
# An older server answers 400 to a round above its maximum: rounds are halved down to this.
WAIT_MIN_ROUND_SECONDS = 1.0
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
    # A time.monotonic() value: no retry is scheduled past it. A long poll then raises
    # WaitTimeoutError; any other request gives up with its last error.
    deadline: float | None = None


@attrs.frozen(kw_only=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@attrs.frozen
class Exclusive(Generic[T]):
    """Run `call` while holding the client's lock called `name`: a single-flight step."""

    name: str
    call: Call[T]


Step = Request | Exclusive[Any]
Call = Generator[Step, Any, T]


def _http(request: Request) -> Call[Response]:
    response: Response = yield request
    return response


def _exclusive(name: str, call: Call[T]) -> Call[T]:
    result: T = yield Exclusive(name, call)
    return result


# --- keys ------------------------------------------------------------------------------


def clean_key(key: str, what: str) -> str:
    """`key` without surrounding whitespace; DispatchError if it cannot be a key. The key
    itself never appears in the error: it would end up in logs."""
    if not isinstance(key, str):
        raise DispatchError(f"{what} must be a string, not {type(key).__name__}")
    key = key.strip()
    if not key:
        raise DispatchError(f"{what} is empty")
    bad = next((i for i, char in enumerate(key) if not "!" <= char <= "~"), None)
    if bad is not None:
        raise DispatchError(
            f"{what} is malformed: character {bad + 1} of {len(key)} is not printable ASCII "
            "(a key looks like <key_id>.<secret>; check for a stray space or line break)"
        )
    return key


def _api_key(key: str | None) -> str | None:
    return None if key is None else clean_key(key, "the API key")


def _inbox_keys(keys: Mapping[str, str]) -> dict[str, str]:
    return {inbox: clean_key(key, f"the inbox key for {inbox}") for inbox, key in keys.items()}


@attrs.define
class Credentials:
    """The client's key plus the inbox keys it minted or was given, by inbox id. Every key is
    cleaned on the way in (see clean_key), so a malformed one fails here, not on the wire."""

    api_key: str | None = attrs.field(converter=_api_key, repr=False)
    inbox_keys: dict[str, str] = attrs.field(factory=dict, converter=_inbox_keys, repr=False)

    def require_key(self) -> str:
        if not self.api_key:
            raise DispatchError(
                "no API key: pass Dispatch(api_key=...) or set DISPATCH_API_KEY "
                "(agent.signup() needs none and returns one)"
            )
        return self.api_key

    def remember(self, inbox_id: str, key: str) -> str:
        key = clean_key(key, f"the inbox key for {inbox_id}")
        self.inbox_keys[inbox_id] = key
        return key

    def forget(self, inbox_id: str, key: str) -> None:
        """Drop a refused key, unless a concurrent call already replaced it."""
        if self.inbox_keys.get(inbox_id) == key:
            self.inbox_keys.pop(inbox_id, None)


@attrs.define
class WaitState:
    """What a client's wait_for_* calls remember: per inbox, the cursor of the last message
    they returned, and the longest round the server accepts."""

    cursors: dict[str, str] = attrs.field(factory=dict)
    round_seconds: float = WAIT_ROUND_SECONDS


# --- responses -------------------------------------------------------------------------


def _checked(response: Response) -> Response:
    # 3xx too: redirects are not followed (see status_error), so one is never a result.
    if response.status >= 300:
        raise status_error(response.status, response.content, response.headers)
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
        raise DispatchError(
            f"expected a JSON object with {name!r} from the server, got {type(body).__name__}"
        )
    return body[name]


def _error_code(response: Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _segment(value: str, name: str) -> str:
    """`value` as one URL path segment. Percent-encoded, so an id cannot change the route
    ('../', '?', '#'); '.' and '..' would be resolved away by the URL, so they are refused."""
    if not isinstance(value, str):
        raise DispatchError(f"{name} must be a string, not {type(value).__name__}")
    if value.strip() in ("", ".", ".."):
        raise DispatchError(f"{name} must be a non-empty id, got {value!r}")
    return quote(value, safe="")


def _inbox_path(inbox_id: str, *rest: str) -> str:
    return "/".join(("/v1/inboxes", _segment(inbox_id, "inbox_id"), *rest))


def _message_path(inbox_id: str, message_id: str, *rest: str) -> str:
    return _inbox_path(inbox_id, "messages", _segment(message_id, "message_id"), *rest)


# --- sending ---------------------------------------------------------------------------


def send(credentials: Credentials, request: Request) -> Call[Response]:
    """Send with the account/workspace key."""
    response = yield from _http(attrs.evolve(request, api_key=credentials.require_key()))
    return _checked(response)


def send_for_inbox(credentials: Credentials, inbox_id: str, request: Request) -> Call[Response]:
    """Send a request on an inbox route, with an inbox key for that inbox.

    With an account key, the first inbox call gets 403 forbidden; then an inbox key is
    minted, cached, and the request repeated. Later calls use the cached key directly. A
    cached key that is refused (401: revoked) is dropped and the client's own key used again.
    """
    cached = credentials.inbox_keys.get(inbox_id)
    if cached is not None:
        response = yield from _http(attrs.evolve(request, api_key=cached))
        if response.status != 401 or credentials.api_key in (None, cached):
            return _checked(response)
        credentials.forget(inbox_id, cached)
    key = credentials.require_key()
    response = yield from _http(attrs.evolve(request, api_key=key))
    if response.status != 403 or _error_code(response) != "forbidden":
        return _checked(response)
    # Single-flight: concurrent first calls on this inbox all get here; one mints, and the
    # others find its key in the cache once they hold the lock.
    minting = _mint_inbox_key(credentials, inbox_id, key, deadline=request.deadline)
    inbox_key = yield from _exclusive(f"mint {inbox_id}", minting)
    if inbox_key is None:
        # Our key cannot mint (an inbox key, or a suspended workspace): the first answer stands.
        return _checked(response)
    return _checked((yield from _http(attrs.evolve(request, api_key=inbox_key))))


def _mint_inbox_key(
    credentials: Credentials, inbox_id: str, key: str, *, deadline: float | None
) -> Call[str | None]:
    """The cached inbox key, else a newly minted and cached one; None if `key` cannot mint."""
    cached = credentials.inbox_keys.get(inbox_id)
    if cached is not None:
        return cached
    minted = yield from _http(
        Request(
            method="POST",
            path=_inbox_path(inbox_id, "keys"),
            json={"label": "dispatch-python"},
            api_key=key,
            deadline=deadline,
        )
    )
    if minted.status == 403:
        return None
    return credentials.remember(inbox_id, decode(_json(_checked(minted)), InboxKey).key)


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _time(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    # A naive datetime is local time, as everywhere in Python (datetime.astimezone).
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- agent -----------------------------------------------------------------------------


def signup(credentials: Credentials, *, name: str | None, local_part: str | None) -> Call[Signup]:
    response = yield from _http(
        Request(
            method="POST", path="/v1/agent/signup", json=_body(name=name, local_part=local_part)
        )
    )
    result = decode(_json(_checked(response)), Signup)
    credentials.remember(result.inbox.id, result.inbox_key)
    if credentials.api_key is None:
        credentials.api_key = result.account_key  # cleaned by Credentials' converter
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
    request = Request(method="GET", path=_inbox_path(inbox_id))
    return decode(_json((yield from send_for_inbox(credentials, inbox_id, request))), Inbox)


def create_inbox_key(
    credentials: Credentials, inbox_id: str, *, label: str | None
) -> Call[InboxKey]:
    request = Request(method="POST", path=_inbox_path(inbox_id, "keys"), json=_body(label=label))
    key = decode(_json((yield from send(credentials, request))), InboxKey)
    credentials.remember(inbox_id, key.key)
    return key


# --- messages and artifacts ------------------------------------------------------------


def list_messages(
    credentials: Credentials, inbox_id: str, *, limit: int, cursor: str | None, folder: Folder
) -> Call[MessagePage]:
    params: dict[str, str | int] = {"limit": limit, "folder": folder}
    if cursor:
        params["cursor"] = cursor
    request = Request(method="GET", path=_inbox_path(inbox_id, "messages"), params=params)
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), MessagePage)


def get_message(credentials: Credentials, inbox_id: str, message_id: str) -> Call[Message]:
    request = Request(method="GET", path=_message_path(inbox_id, message_id))
    return decode(_json((yield from send_for_inbox(credentials, inbox_id, request))), Message)


def raw_message(credentials: Credentials, inbox_id: str, message_id: str) -> Call[bytes]:
    request = Request(
        method="GET",
        path=_message_path(inbox_id, message_id, "raw"),
        headers={"Accept": "message/rfc822"},
    )
    return (yield from send_for_inbox(credentials, inbox_id, request)).content


def list_artifacts(
    credentials: Credentials,
    inbox_id: str,
    *,
    kind: ArtifactKind | None,
    limit: int,
    cursor: str | None,
) -> Call[ArtifactPage]:
    params: dict[str, str | int] = {"limit": limit}
    if kind:
        params["kind"] = kind
    if cursor:
        params["cursor"] = cursor
    request = Request(method="GET", path=_inbox_path(inbox_id, "artifacts"), params=params)
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), ArtifactPage)


def latest_otp(credentials: Credentials, inbox_id: str) -> Call[Otp | None]:
    request = Request(method="GET", path=_inbox_path(inbox_id, "otp"))
    otp = _field((yield from send_for_inbox(credentials, inbox_id, request)), "otp")
    return None if otp is None else decode(otp, Otp)


# --- waiting ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WaitQuery:
    kind: WaitKind = "message"
    after: str | None = None
    since: datetime | str | None = None
    from_: str | None = None
    subject: str | None = None
    folder: Folder = "inbox"

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
    credentials: Credentials,
    inbox_id: str,
    query: WaitQuery,
    *,
    timeout: float,
    deadline: float | None = None,
) -> Call[WaitResult]:
    """One server-side wait round of up to `timeout` seconds (the server may cap it)."""
    request = Request(
        method="GET",
        path=_inbox_path(inbox_id, "wait"),
        params=query.params(timeout),
        read_timeout=timeout + WAIT_READ_MARGIN,
        long_poll=True,
        deadline=deadline,
    )
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decode(_json(response), WaitResult)


def wait_until_match(
    credentials: Credentials,
    waits: WaitState,
    inbox_id: str,
    query: WaitQuery,
    *,
    timeout: float,
) -> Call[WaitResult]:
    """Server-side waits, round after round, until a match or `timeout` seconds have passed.

    Without `after` or `since`, only messages after the last one a wait_for_* call of this
    client returned for this inbox count; a match becomes that position.
    """
    remembered = query.after is None and query.since is None and inbox_id in waits.cursors
    if remembered:
        query = attrs.evolve(query, after=waits.cursors[inbox_id])
    deadline = monotonic() + timeout
    while True:
        round_seconds = min(max(deadline - monotonic(), 0.0), waits.round_seconds)
        try:
            result = yield from wait_once(
                credentials, inbox_id, query, timeout=round_seconds, deadline=deadline
            )
        except BadRequestError as error:
            if "timeout" not in error.message or round_seconds <= WAIT_MIN_ROUND_SECONDS:
                raise
            waits.round_seconds = max(WAIT_MIN_ROUND_SECONDS, round_seconds / 2)
            continue
        except WaitTimeoutError as error:  # retrying would have passed the deadline
            raise WaitTimeoutError(
                f"{_no_match(query, inbox_id, timeout, remembered)} ({error})"
            ) from error
        if result.matched:
            waits.cursors[inbox_id] = result.cursor
            return result
        if deadline - monotonic() <= 0:
            raise WaitTimeoutError(_no_match(query, inbox_id, timeout, remembered))


def _no_match(query: WaitQuery, inbox_id: str, timeout: float, remembered: bool) -> str:
    what = {"otp": "message with an OTP", "link": "message with a link"}.get(
        query.kind, "matching message"
    )
    text = f"no {what} arrived in inbox {inbox_id} within {timeout:g} s"
    if remembered:
        text += " (after the one this client's previous wait returned; pass since= to look back)"
    return text


def wait_for_message(
    credentials: Credentials, waits: WaitState, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[Message]:
    result = yield from wait_until_match(credentials, waits, inbox_id, query, timeout=timeout)
    if result.message is None:
        raise DispatchError("the server reported a match without a message")
    return result.message


def wait_for_otp(
    credentials: Credentials, waits: WaitState, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[str]:
    query = attrs.evolve(query, kind="otp")
    result = yield from wait_until_match(credentials, waits, inbox_id, query, timeout=timeout)
    if result.otp is None:
        raise DispatchError("the server reported an OTP match without an OTP")
    return result.otp.code
