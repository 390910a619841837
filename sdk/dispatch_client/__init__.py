"""Dispatch: email inboxes as an API for AI agents.

from dispatch_client import Dispatch

d = Dispatch()  # $DISPATCH_API_KEY, $DISPATCH_BASE_URL
inbox = d.inboxes.create()
code = d.otp.wait_for_otp(inbox.id, timeout=60)
"""

from dispatch_client._client import AsyncDispatch, Dispatch
from dispatch_client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DispatchError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from dispatch_client._models import (
    Agent,
    Artifact,
    ArtifactKind,
    ArtifactPage,
    Attachment,
    Folder,
    Inbox,
    InboxKey,
    Message,
    MessagePage,
    Otp,
    Signup,
    WaitKind,
    WaitResult,
    Workspace,
)
from dispatch_client._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "Artifact",
    "ArtifactKind",
    "ArtifactPage",
    "AsyncDispatch",
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Dispatch",
    "DispatchError",
    "Folder",
    "Inbox",
    "InboxKey",
    "InternalServerError",
    "Message",
    "MessagePage",
    "NotFoundError",
    "Otp",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Signup",
    "UnprocessableEntityError",
    "WaitKind",
    "WaitResult",
    "WaitTimeoutError",
    "Workspace",
    "__version__",
]
