"""The API, one module per resource: each owns its routes (as endpoint declarations), its
representations and so its part of the OpenAPI document. Adding a resource means adding its
module here."""

from __future__ import annotations

import functools
from typing import Any

from dispatch_server.api import (
    agent,
    artifacts,
    attachments,
    auth,
    billing,
    claims,
    device,
    domains,
    drafts,
    events,
    file,
    inbox_keys,
    inboxes,
    key_info,
    labels,
    lists,
    memory,
    messages,
    meta,
    metrics,
    ops,
    otp,
    sends,
    suppressions,
    threads,
    user,
    waits,
    webhook_endpoints,
)
from dispatch_server.api.webhooks import inbound, sns, stripe
from dispatch_server.http import openapi
from dispatch_server.http.endpoints import Endpoint

MODULES = (
    meta,
    auth,
    key_info,
    agent,
    claims,
    inboxes,
    inbox_keys,
    messages,
    labels,
    attachments,
    threads,
    artifacts,
    otp,
    waits,
    events,
    webhook_endpoints,
    sends,
    drafts,
    memory,
    suppressions,
    lists,
    domains,
    billing,
    inbound,
    sns,
    stripe,
    ops,
    metrics,
    user,
    device,
    file,
)


def endpoints() -> list[Endpoint]:
    return [endpoint for module in MODULES for endpoint in module.ENDPOINTS]


@functools.cache
def openapi_document() -> dict[str, Any]:
    return openapi.document(endpoints())
