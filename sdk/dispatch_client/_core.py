"""The sans-I/O core every call is written in: steps, credentials, request and response helpers.

A call is a generator: it yields steps and is sent back their outcomes; its return value is
the result. A step is a `Request` (answered with a `Response`; a failure to send is thrown
into the call as a DispatchError) or an `Exclusive` (a sub-call run under a named lock,
answered with its result). The sync and async clients only differ in how they carry out
steps (see _transport.py), so multi-step calls (minting an inbox key on first use, wait
loops) are written once, in resources/.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from dispatch_client._constants import MAX_LIMIT, WAIT_ROUND_SECONDS
from dispatch_client._errors import DispatchError, InvalidArgumentError, status_error
from dispatch_client.types._decode import decode
from dispatch_client.types.inbox_key import CreatedInboxKey

T = TypeVar("T")

Params = Mapping[str, str | int | float]
# A JSON value: what json.loads returns and a request body may be.
JSON = Any


@attrs.frozen(kw_only=True)
class Request:
    method: str
    path: str
    params: Params | None = None
    json: JSON = None
    headers: Mapping[str, str] | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    read_timeout: float | None = None  # None: the call's timeout
    long_poll: bool = False  # a read timeout here is not retried: it would overrun the wait
    # The server answers a repeat of this POST once (its Idempotency-Key): it may be retried
    # after a timeout or a broken connection, like a GET.
    idempotent: bool = False
    # A time.monotonic() value: no retry is scheduled past it. A long poll then raises
    # WaitTimeoutError; any other request gives up with its last error.
    deadline: float | None = None


@attrs.frozen(kw_only=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> JSON:
        return json.loads(self.content)


@attrs.frozen
class Exclusive(Generic[T]):
    """Run `call` while holding the client's lock called `name`: a single-flight step."""

    name: str
    call: Call[T]


Step = Request | Exclusive[Any]
Call = Generator[Step, Any, T]


def http(request: Request) -> Call[Response]:
    """The step that sends `request`, as a sub-call: `response = yield from http(request)`."""
    response: Response = yield request
    return response


def exclusive(name: str, call: Call[T]) -> Call[T]:
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
    # The signed-in operator's token (a JWT), from operator.signup() or operator.login().
    operator_token: str | None = attrs.field(default=None, repr=False)

    def require_key(self) -> str:
        if not self.api_key:
            raise DispatchError(
                "no API key: pass Dispatch(api_key=...) or set DISPATCH_API_KEY "
                "(agent.signup() needs none and returns one)"
            )
        return self.api_key

    def require_operator(self) -> str:
        if not self.operator_token:
            raise DispatchError(
                "no operator token: call operator.login() or operator.signup() first "
                "(or set operator.token)"
            )
        return self.operator_token

    def remember(self, inbox_id: str, key: str) -> str:
        key = clean_key(key, f"the inbox key for {inbox_id}")
        self.inbox_keys[inbox_id] = key
        return key

    def forget(self, inbox_id: str, key: str) -> None:
        """Drop a refused key, unless a concurrent call already replaced it."""
        if self.inbox_keys.get(inbox_id) == key:
            self.inbox_keys.pop(inbox_id, None)

    def forget_key_id(self, inbox_id: str, key_id: str) -> None:
        """Drop the cached key of `inbox_id` if it is the key `key_id` (`<key_id>.<secret>`)."""
        cached = self.inbox_keys.get(inbox_id)
        if cached is not None and cached.partition(".")[0] == key_id:
            self.forget(inbox_id, cached)


@attrs.define
class WaitState:
    """What a client's wait_for_* calls remember: per inbox, the cursor of the last message
    they returned, and the longest round the server accepts."""

    cursors: dict[str, str] = attrs.field(factory=dict)
    round_seconds: float = WAIT_ROUND_SECONDS
    # The leases of codes a consuming wait_for_otp took, by (inbox id, code): what
    # `otp.confirm(inbox_id, code)` confirms them with, as (the code's id, the lease id).
    leases: dict[tuple[str, str], tuple[str, str]] = attrs.field(factory=dict)


# --- arguments -------------------------------------------------------------------------


def check_limit(limit: int) -> int:
    """`limit` if it is a page size the server accepts, else InvalidArgumentError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}", param="limit"
        )
    return limit


def check_seconds(value: float, name: str, *, allow_zero: bool) -> float:
    """`value` if it is a number of seconds (positive, or also 0), else InvalidArgumentError."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (value >= 0 if allow_zero else value > 0):
        wanted = "0 or more" if allow_zero else "more than 0"
        raise InvalidArgumentError(
            f"{name} must be a number of seconds, {wanted}, got {value!r}", param=name
        )
    return value


def segment(value: str, name: str) -> str:
    """`value` as one URL path segment. Percent-encoded, so an id cannot change the route
    ('../', '?', '#'); '.' and '..' would be resolved away by the URL, so they are refused."""
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{name} must be a string, not {type(value).__name__}", param=name
        )
    if value.strip() in ("", ".", ".."):
        raise InvalidArgumentError(f"{name} must be a non-empty id, got {value!r}", param=name)
    return quote(value, safe="")


def inbox_path(inbox_id: str, *rest: str) -> str:
    return "/".join(("/v1/inboxes", segment(inbox_id, "inbox_id"), *rest))


def message_path(inbox_id: str, message_id: str, *rest: str) -> str:
    return inbox_path(inbox_id, "messages", segment(message_id, "message_id"), *rest)


def page_params(limit: int, cursor: str | None, **filters: str | None) -> dict[str, str | int]:
    """The query of a list route: `limit`, the cursor if any, and the filters that are set."""
    params: dict[str, str | int] = {"limit": check_limit(limit)}
    params.update({name: value for name, value in filters.items() if value})
    if cursor:
        params["cursor"] = cursor
    return params


def layered(*layers: Mapping[str, str]) -> dict[str, str]:
    """The headers of all layers; a later layer replaces a header of the same name, in any
    case."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        merged.update({name.lower(): (name, value) for name, value in layer.items()})
    return dict(merged.values())


def body(**fields: JSON) -> dict[str, JSON]:
    """A JSON request body of the fields that are not None."""
    return {name: value for name, value in fields.items() if value is not None}


def rfc3339(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    # A naive datetime is local time, as everywhere in Python (datetime.astimezone).
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- responses -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PageData(Generic[T]):
    """One page of a list route, as the server sends it."""

    data: tuple[T, ...]
    next_cursor: str | None = None


def checked(response: Response) -> Response:
    """`response` if it is a success, else its APIStatusError."""
    # 3xx too: redirects are not followed (see status_error), so one is never a result.
    if response.status >= 300:
        raise status_error(response.status, response.content, response.headers)
    return response


def json_of(response: Response) -> JSON:
    try:
        return response.json()
    except ValueError:
        raise DispatchError(
            f"expected JSON from the server, got {response.content[:200]!r}"
        ) from None


def field(response: Response, name: str) -> JSON:
    """The member `name` of the JSON object in `response`."""
    data = json_of(response)
    if not isinstance(data, dict) or name not in data:
        raise DispatchError(
            f"expected a JSON object with {name!r} from the server, got {type(data).__name__}"
        )
    return data[name]


def decoded(response: Response, model: type[T]) -> T:
    return decode(json_of(response), model)


def _error_code(response: Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


# --- sending ---------------------------------------------------------------------------


def send(credentials: Credentials, request: Request) -> Call[Response]:
    """Send with the account/workspace key; the successful response."""
    response = yield from http(attrs.evolve(request, api_key=credentials.require_key()))
    return checked(response)


def send_for_inbox(credentials: Credentials, inbox_id: str, request: Request) -> Call[Response]:
    """Send a request on an inbox route, with an inbox key for that inbox.

    With an account key, the first inbox call gets 403 forbidden; then an inbox key is
    minted, cached, and the request repeated. Later calls use the cached key directly. A
    cached key that is refused (401: revoked) is dropped and the client's own key used again.
    """
    cached = credentials.inbox_keys.get(inbox_id)
    if cached is not None:
        response = yield from http(attrs.evolve(request, api_key=cached))
        if response.status != 401 or credentials.api_key in (None, cached):
            return checked(response)
        credentials.forget(inbox_id, cached)
    key = credentials.require_key()
    response = yield from http(attrs.evolve(request, api_key=key))
    if response.status != 403 or _error_code(response) != "forbidden":
        return checked(response)
    # Single-flight: concurrent first calls on this inbox all get here; one mints, and the
    # others find its key in the cache once they hold the lock.
    minting = mint_inbox_key(credentials, inbox_id, key, deadline=request.deadline)
    inbox_key = yield from exclusive(f"mint {inbox_id}", minting)
    if inbox_key is None:
        # Our key cannot mint (an inbox key, or a suspended workspace): the first answer stands.
        return checked(response)
    return checked((yield from http(attrs.evolve(request, api_key=inbox_key))))


def mint_inbox_key(
    credentials: Credentials, inbox_id: str, key: str, *, deadline: float | None = None
) -> Call[str | None]:
    """The cached inbox key, else a newly minted and cached one; None if `key` cannot mint."""
    cached = credentials.inbox_keys.get(inbox_id)
    if cached is not None:
        return cached
    minted = yield from http(
        Request(
            method="POST",
            path=inbox_path(inbox_id, "keys"),
            json={"label": "dispatch-python"},
            api_key=key,
            deadline=deadline,
        )
    )
    if minted.status == 403:
        return None
    return credentials.remember(inbox_id, decoded(checked(minted), CreatedInboxKey).key)
