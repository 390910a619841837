"""The public surface: what `dispatch_client` exports, the sync and async clients kept equal
(resources, method names, signatures, docstrings), and Args-style docstrings everywhere."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import pytest

import dispatch_client
import dispatch_client.resources
from dispatch_client import AsyncDispatch, Dispatch

DOCS = Path(__file__).parent.parent.parent / "docs" / "sdk.md"

EXPORTED = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "Artifact",
    "ArtifactKind",
    "AsyncAttachmentStream",
    "AsyncDispatch",
    "AsyncEventStream",
    "AsyncPage",
    "AsyncPaginator",
    "Attachment",
    "AttachmentStream",
    "AuthenticationError",
    "AutopayError",
    "BadRequestError",
    "CheckoutSession",
    "Claim",
    "ClaimToken",
    "ClaimedAgent",
    "ConflictError",
    "CreatedInboxKey",
    "Dispatch",
    "DispatchError",
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
    "EventStream",
    "EventsExpiredError",
    "Folder",
    "IdempotencyConflictError",
    "Inbox",
    "InboxCreated",
    "InboxKey",
    "IncompleteDownloadError",
    "InternalServerError",
    "InvalidArgumentError",
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
    "NotFoundError",
    "Operator",
    "OperatorSession",
    "Otp",
    "OutgoingAttachment",
    "PayloadTooLargeError",
    "PaymentConfirmation",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "Quote",
    "RateLimitError",
    "RecipientBlockedError",
    "RecipientSuppressedError",
    "RequestOptions",
    "SendStatus",
    "SentEvent",
    "SentMessage",
    "Signup",
    "SpfResult",
    "Suppression",
    "SyncPage",
    "Thread",
    "ThreadMessage",
    "ThreadSummary",
    "UnprocessableEntityError",
    "WaitKind",
    "WaitOptions",
    "WaitResult",
    "WaitTimeoutError",
    "WalletBinding",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
    "WebhookVerificationError",
    "Workspace",
    "__version__",
]


def test_the_exported_names() -> None:
    assert dispatch_client.__all__ == EXPORTED


@pytest.mark.parametrize("name", EXPORTED)
def test_every_export_is_importable_and_documented(name: str) -> None:
    exported = getattr(dispatch_client, name)
    if inspect.isclass(exported):
        assert exported.__dict__.get("__doc__"), f"{name} has no docstring of its own"
    if name != "__version__":
        assert re.search(rf"\b{name}\b", DOCS.read_text()), f"docs/sdk.md does not name {name}"


def test_the_subpackages_export_what_they_say() -> None:
    for module in (dispatch_client.types, dispatch_client.resources, dispatch_client.pagination):
        for name in module.__all__:
            exported = getattr(module, name)
            if inspect.isclass(exported):
                assert exported.__dict__.get("__doc__"), f"{module.__name__}.{name}"


# --- sync and async are the same surface ------------------------------------------------


def resources(client: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(path, resource) for every resource of `client`, sub-resources included."""
    for name, member in inspect.getmembers(type(client)):
        if isinstance(member, cached_property):
            resource = getattr(client, name)
            yield prefix + name, resource
            yield from resources(resource, f"{prefix}{name}.")


def public_methods(resource: object) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name, member in inspect.getmembers(type(resource), inspect.isfunction)
        if not name.startswith("_")
    }


SYNC = dict(resources(Dispatch(api_key="k.s", base_url="http://d.test")))
ASYNC = dict(resources(AsyncDispatch(api_key="k.s", base_url="http://d.test")))
PAIRS = [
    (f"{path}.{name}", method, public_methods(ASYNC[path]).get(name))
    for path, resource in SYNC.items()
    for name, method in public_methods(resource).items()
]
METHODS = [(path, method) for path, method, _ in PAIRS] + [
    (f"async {path}.{name}", method)
    for path, resource in ASYNC.items()
    for name, method in public_methods(resource).items()
]


def test_both_clients_have_the_same_resources() -> None:
    assert (
        sorted(SYNC)
        == sorted(ASYNC)
        == [
            "agent",
            "artifacts",
            "attachments",
            "auth",
            "billing",
            "domains",
            "drafts",
            "events",
            "inboxes",
            "inboxes.keys",
            "lists",
            "memory",
            "messages",
            "operator",
            "otp",
            "sent",
            "suppressions",
            "threads",
            "webhooks",
        ]
    )
    for path, resource in SYNC.items():
        assert sorted(public_methods(resource)) == sorted(public_methods(ASYNC[path])), path


def parameters(method: Callable[..., object]) -> list[tuple[str, object, object, object]]:
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(method).parameters.values()
    ]


@pytest.mark.parametrize(("path", "sync", "async_"), PAIRS, ids=[path for path, _, _ in PAIRS])
def test_sync_and_async_methods_match(
    path: str, sync: Callable[..., object], async_: Callable[..., object] | None
) -> None:
    assert async_ is not None, f"AsyncDispatch has no {path}"
    assert parameters(sync) == parameters(async_)
    assert inspect.getdoc(sync) == inspect.getdoc(async_)
    returned = str(inspect.signature(sync).return_annotation)
    if returned.startswith("SyncPage["):  # lists: awaited for a page, or iterated
        assert not inspect.iscoroutinefunction(async_)
        assert str(inspect.signature(async_).return_annotation) == returned.replace(
            "SyncPage[", "AsyncPaginator["
        )
    elif returned == "EventStream":  # streams: iterated with `async for`
        assert not inspect.iscoroutinefunction(async_)
        assert str(inspect.signature(async_).return_annotation) == "AsyncEventStream"
    elif returned == "AttachmentStream":  # opened when awaited, then iterated
        assert inspect.iscoroutinefunction(async_)
        assert str(inspect.signature(async_).return_annotation) == "AsyncAttachmentStream"
    else:
        assert inspect.iscoroutinefunction(async_)
        assert str(inspect.signature(async_).return_annotation) == returned
    assert not inspect.iscoroutinefunction(sync)


def test_the_clients_are_configured_alike() -> None:
    sync, async_ = parameters(Dispatch.__init__), parameters(AsyncDispatch.__init__)
    assert [p[:3] for p in sync] == [p[:3] for p in async_]
    differing = [s[0] for s, a in zip(sync, async_, strict=True) if s[3] != a[3]]
    assert differing == ["http_client"]  # httpx.Client | None, httpx.AsyncClient | None
    assert Dispatch.with_options is AsyncDispatch.with_options


# --- docstrings --------------------------------------------------------------------------

SECTION = re.compile(r"^(Args|Returns|Raises):$")
ENTRY = re.compile(r"^    (\*{0,2}\w+): \S")


def entries(lines: list[str]) -> list[str]:
    """The names a section's entries document: `    name: text` lines."""
    return [match.group(1) for line in lines if (match := ENTRY.match(line))]


def sections(doc: str) -> dict[str, list[str]]:
    """The docstring's sections by title ("" for the text before them), entry lines only."""
    found: dict[str, list[str]] = {"": []}
    current = ""
    for line in doc.splitlines():
        match = SECTION.match(line)
        if match:
            current = match.group(1)
            found[current] = []
        elif line.strip():
            found[current].append(line)
    return found


def documented_parameters(method: Callable[..., object]) -> list[str]:
    names = []
    for p in list(inspect.signature(method).parameters.values())[1:]:  # not self
        names.append(f"**{p.name}" if p.kind is inspect.Parameter.VAR_KEYWORD else p.name)
    return names


ALL_METHODS = [*METHODS, ("with_options", Dispatch.with_options)]


@pytest.mark.parametrize(("path", "method"), ALL_METHODS, ids=[path for path, _ in ALL_METHODS])
def test_public_methods_have_args_style_docstrings(
    path: str, method: Callable[..., object]
) -> None:
    doc = inspect.getdoc(method)
    assert doc, f"{path} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and not summary.startswith(" "), f"{path}: {summary!r}"
    assert len(doc.splitlines()) == 1 or doc.splitlines()[1] == "", f"{path}: one summary line"
    found = sections(doc)
    args = entries(found.get("Args", []))
    assert args == documented_parameters(method), f"{path}: Args must name every parameter"
    assert found.get("Returns"), f"{path}: no Returns"
    raises = entries(found.get("Raises", []))
    assert raises, f"{path}: no Raises"
    for name in raises:
        error = getattr(dispatch_client, name, None)
        assert inspect.isclass(error) and issubclass(error, dispatch_client.DispatchError), name


def test_the_waits_document_their_timeout_error() -> None:
    for path, method in METHODS:
        if path.endswith(("wait_for_otp", "wait_for_message")):
            assert "WaitTimeoutError:" in (inspect.getdoc(method) or ""), path
