"""The resources of a client, one module each: its calls, its sync class and its async class."""

from dispatch_client.resources.agent import AgentResource, AsyncAgentResource
from dispatch_client.resources.artifacts import Artifacts, AsyncArtifacts
from dispatch_client.resources.attachments import (
    AsyncAttachments,
    AsyncAttachmentStream,
    Attachments,
    AttachmentStream,
)
from dispatch_client.resources.auth import AsyncAuthResource, AuthResource
from dispatch_client.resources.billing import AsyncBilling, Billing
from dispatch_client.resources.domains import AsyncDomains, Domains
from dispatch_client.resources.drafts import AsyncDrafts, Drafts
from dispatch_client.resources.events import AsyncEvents, Events
from dispatch_client.resources.inbox_keys import AsyncInboxKeys, InboxKeys
from dispatch_client.resources.inboxes import AsyncInboxes, Inboxes
from dispatch_client.resources.lists import AsyncLists, Lists
from dispatch_client.resources.memory import AsyncMemory, Memory
from dispatch_client.resources.messages import AsyncMessages, Messages
from dispatch_client.resources.operator import AsyncOperatorResource, OperatorResource
from dispatch_client.resources.otp import AsyncOtpResource, OtpResource
from dispatch_client.resources.sent import AsyncSentMessages, SentMessages
from dispatch_client.resources.suppressions import AsyncSuppressions, Suppressions
from dispatch_client.resources.threads import AsyncThreads, Threads
from dispatch_client.resources.webhooks import AsyncWebhooks, Webhooks

__all__ = [
    "AgentResource",
    "Artifacts",
    "AsyncAgentResource",
    "AsyncArtifacts",
    "AsyncAttachmentStream",
    "AsyncAttachments",
    "AsyncAuthResource",
    "AsyncBilling",
    "AsyncDomains",
    "AsyncDrafts",
    "AsyncEvents",
    "AsyncInboxKeys",
    "AsyncInboxes",
    "AsyncLists",
    "AsyncMemory",
    "AsyncMessages",
    "AsyncOperatorResource",
    "AsyncOtpResource",
    "AsyncSentMessages",
    "AsyncSuppressions",
    "AsyncThreads",
    "AsyncWebhooks",
    "AttachmentStream",
    "Attachments",
    "AuthResource",
    "Billing",
    "Domains",
    "Drafts",
    "Events",
    "InboxKeys",
    "Inboxes",
    "Lists",
    "Memory",
    "Messages",
    "OperatorResource",
    "OtpResource",
    "SentMessages",
    "Suppressions",
    "Threads",
    "Webhooks",
]
