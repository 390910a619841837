"""The models the API returns: frozen attrs classes, decoded strictly."""

from dispatch_client.types.agent import Agent
from dispatch_client.types.artifact import Artifact, ArtifactKind
from dispatch_client.types.attachment import MessageAttachment
from dispatch_client.types.billing import (
    CheckoutSession,
    Entitlement,
    Entitlements,
    PaymentConfirmation,
    Quote,
    QuoteList,
)
from dispatch_client.types.domain import Domain, DomainRecord
from dispatch_client.types.draft import Draft
from dispatch_client.types.event import (
    EntitlementGranted,
    EntitlementRevoked,
    Event,
    EventOtp,
    EventPayload,
    InboxCreated,
    MessageReceived,
    MessageStatusChanged,
)
from dispatch_client.types.inbox import Inbox
from dispatch_client.types.inbox_key import CreatedInboxKey, InboxKey
from dispatch_client.types.key_info import KeyInfo
from dispatch_client.types.list_entry import ListEntry
from dispatch_client.types.memory import MemoryEntry, MemoryKey
from dispatch_client.types.message import (
    Attachment,
    DkimResult,
    DmarcResult,
    Folder,
    Label,
    Message,
    MessageAuthentication,
    MessageSummary,
    SpfResult,
)
from dispatch_client.types.operator import (
    Claim,
    ClaimedAgent,
    ClaimToken,
    Operator,
    OperatorSession,
    WalletBinding,
)
from dispatch_client.types.otp import Otp
from dispatch_client.types.sent import OutgoingAttachment, SendStatus, SentEvent, SentMessage
from dispatch_client.types.signup import Signup
from dispatch_client.types.suppression import Suppression
from dispatch_client.types.thread import Thread, ThreadMessage, ThreadSummary
from dispatch_client.types.wait import WaitKind, WaitResult
from dispatch_client.types.webhook import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
)
from dispatch_client.types.workspace import Workspace

__all__ = [
    "Agent",
    "Artifact",
    "ArtifactKind",
    "Attachment",
    "CheckoutSession",
    "Claim",
    "ClaimToken",
    "ClaimedAgent",
    "CreatedInboxKey",
    "DkimResult",
    "DmarcResult",
    "Domain",
    "DomainRecord",
    "Draft",
    "Entitlement",
    "EntitlementGranted",
    "EntitlementRevoked",
    "Entitlements",
    "Event",
    "EventOtp",
    "EventPayload",
    "Folder",
    "Inbox",
    "InboxCreated",
    "InboxKey",
    "KeyInfo",
    "Label",
    "ListEntry",
    "MemoryEntry",
    "MemoryKey",
    "Message",
    "MessageAttachment",
    "MessageAuthentication",
    "MessageReceived",
    "MessageStatusChanged",
    "MessageSummary",
    "Operator",
    "OperatorSession",
    "Otp",
    "OutgoingAttachment",
    "PaymentConfirmation",
    "Quote",
    "QuoteList",
    "SendStatus",
    "SentEvent",
    "SentMessage",
    "Signup",
    "SpfResult",
    "Suppression",
    "Thread",
    "ThreadMessage",
    "ThreadSummary",
    "WaitKind",
    "WaitResult",
    "WalletBinding",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
    "Workspace",
]
