"""Typed models of API responses (attrs), decoded by one cattrs converter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from dispatch_client._errors import DispatchError


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
    kind: str  # "otp" | "link"
    value: str
    is_primary: bool
    received_at: datetime


@attrs.frozen(kw_only=True)
class Message:
    id: str
    inbox_id: str
    from_: str | None
    from_address: str | None
    to: list[str]
    cc: list[str] = attrs.field(factory=list)
    subject: str | None
    text: str | None
    html: str | None
    message_id_header: str | None = None
    folder: str
    size_bytes: int
    received_at: datetime
    attachments: list[Attachment] = attrs.field(factory=list)
    artifacts: list[Artifact] = attrs.field(factory=list)  # only on messages.get / waits

    @property
    def otp(self) -> str | None:
        """The primary OTP code found in this message, when artifacts were loaded."""
        return next((a.value for a in self.artifacts if a.kind == "otp" and a.is_primary), None)

    @property
    def links(self) -> list[str]:
        return [a.value for a in self.artifacts if a.kind == "link"]


@attrs.frozen(kw_only=True)
class MessagePage:
    data: list[Message]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class ArtifactPage:
    data: list[Artifact]
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


def _datetime(value: str, _: object) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Unknown keys are ignored (cattrs' default), so newer servers can add fields.
converter = cattrs.Converter()
converter.register_structure_hook(datetime, _datetime)
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
