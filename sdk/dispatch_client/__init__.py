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
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from dispatch_client._options import RequestOptions, WaitOptions
from dispatch_client._version import __version__
from dispatch_client.pagination import AsyncPage, AsyncPaginator, SyncPage
from dispatch_client.types import (
    Agent,
    Artifact,
    ArtifactKind,
    Attachment,
    CreatedInboxKey,
    DkimResult,
    DmarcResult,
    Folder,
    Inbox,
    InboxKey,
    Message,
    MessageAuthentication,
    MessageSummary,
    Otp,
    Signup,
    SpfResult,
    WaitKind,
    WaitResult,
    Workspace,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "Artifact",
    "ArtifactKind",
    "AsyncDispatch",
    "AsyncPage",
    "AsyncPaginator",
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CreatedInboxKey",
    "Dispatch",
    "DispatchError",
    "DkimResult",
    "DmarcResult",
    "Folder",
    "Inbox",
    "InboxKey",
    "InternalServerError",
    "InvalidArgumentError",
    "Message",
    "MessageAuthentication",
    "MessageSummary",
    "NotFoundError",
    "Otp",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestOptions",
    "Signup",
    "SpfResult",
    "SyncPage",
    "UnprocessableEntityError",
    "WaitKind",
    "WaitOptions",
    "WaitResult",
    "WaitTimeoutError",
    "Workspace",
    "__version__",
]
