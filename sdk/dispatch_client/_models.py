"""Typed models of API responses (attrs), decoded by one strict cattrs converter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_structure_fn, override

from dispatch_client._errors import DispatchError

Folder = Literal["inbox", "spam", "all"]
WaitKind = Literal["message", "otp", "link"]
ArtifactKind = Literal["otp", "link"]


@attrs.frozen(kw_only=True)
class Workspace:
    id: str
    name: str
    plan: str
    status: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class Agent:
    id: str
    workspace_id: str
    name: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class Inbox:
    id: str
    workspace_id: str
    address: str
    display_name: str | None = None
    created_at: datetime


@attrs.frozen(kw_only=True)
class InboxKey:
    id: str
    kind: str
    inbox_id: str
    key: str = attrs.field(repr=False)
    label: str | None = None
    created_at: datetime


@attrs.frozen(kw_only=True)
class Signup:
    """What `agent.signup()` returns. Keep the keys: they are shown only once."""

    workspace: Workspace
    agent: Agent
    inbox: Inbox
    account_key: str = attrs.field(repr=False)
    inbox_key: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Attachment:
    filename: str | None
    content_type: str
    size_bytes: int


@attrs.frozen(kw_only=True)
class Artifact:
    """A value extracted from a message: an OTP code or a link."""

    id: str
    message_id: str
    kind: str  # "otp" | "link"; str, so a newer server's kinds still decode
    value: str
    is_primary: bool
    received_at: datetime


@attrs.frozen(kw_only=True)
class Message:
    id: str
    inbox_id: str
    from_: str | None
    from_address: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    subject: str | None
    text: str | None
    html: str | None
    message_id_header: str | None = None
    folder: str
    size_bytes: int
    received_at: datetime
    attachments: tuple[Attachment, ...] = ()
    # None: not loaded. Lists (messages.list / iter) leave artifacts out; messages.get and
    # the waits include them.
    artifacts: tuple[Artifact, ...] | None = None

    @property
    def otp(self) -> str | None:
        """The primary OTP code found in this message, or None if it has none."""
        return next(
            (a.value for a in self._artifacts("otp") if a.kind == "otp" and a.is_primary), None
        )

    @property
    def links(self) -> tuple[str, ...]:
        """The links found in this message, in order."""
        return tuple(a.value for a in self._artifacts("links") if a.kind == "link")

    def _artifacts(self, wanted: str) -> tuple[Artifact, ...]:
        if self.artifacts is None:
            raise DispatchError(
                f"message {self.id} has no artifacts loaded, so .{wanted} is unknown: messages "
                "from messages.list() / iter() leave them out; use "
                "messages.get(inbox_id, message.id), which includes them"
            )
        return self.artifacts


@attrs.frozen(kw_only=True)
class MessagePage:
    data: tuple[Message, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class ArtifactPage:
    data: tuple[Artifact, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class Otp:
    code: str
    message_id: str
    from_: str | None
    subject: str | None
    received_at: datetime


@attrs.frozen(kw_only=True)
class WaitResult:
    """One server-side wait round. `matched` is False when it timed out."""

    matched: bool
    message: Message | None
    otp: Otp | None
    link: Artifact | None
    cursor: str  # pass as `after=` to wait for the next message


# --- decoding --------------------------------------------------------------------------
# Strict: a JSON value of the wrong type is an error, never converted (cattrs would turn
# null into "None", "false" into True, 5 into "5"). Optional fields still accept null.
# The hooks' messages name types, never values: a value could be a key.


def _str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _int(value: Any, _: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _float(value: Any, _: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _datetime(value: Any, _: Any) -> datetime:
    moment = datetime.fromisoformat(_str(value, None))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _is_array(type_: Any) -> bool:
    args = get_args(type_)
    origin = get_origin(type_)
    return origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)


def _array(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    if get_origin(type_) is tuple:
        items = homogenous_tuple_structure_factory(type_, converter)
    else:
        items = list_structure_factory(type_, converter)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):  # a string is iterable too
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return items(value, type_)

    return structure


# Unknown keys are ignored (cattrs' default), so newer servers can add fields.
converter = cattrs.Converter()
for _type, _hook in ((str, _str), (bool, _bool), (int, _int), (float, _float)):
    converter.register_structure_hook(_type, _hook)
converter.register_structure_hook(datetime, _datetime)
converter.register_structure_hook_factory(_is_array, _array)
for _model in (Message, Otp):
    converter.register_structure_hook(
        _model, make_dict_structure_fn(_model, converter, from_=override(rename="from"))
    )

T = TypeVar("T")


def decode(data: Any, model: type[T]) -> T:
    """Structure JSON data into `model`; a body of the wrong shape is a DispatchError."""
    try:
        return converter.structure(data, model)
    except cattrs.BaseValidationError as error:
        details = "; ".join(cattrs.transform_error(error))
        raise DispatchError(f"unexpected response from the server: {details}") from error
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise DispatchError(f"unexpected response from the server: {error!r}") from error
