"""Labels and state of an inbox's mail: changing one message (`PATCH …/messages/{id}`) or a
batch all or nothing (`POST …/messages/batch`): read or unread, spam or not, trashed or
not, user labels added and removed; and the inbox's labels with their counts
(`GET …/labels`). The rules are dispatch_server.domain.labels'; who may is auth.policy's
(`organize`)."""

from __future__ import annotations

import attrs

from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.api.messages import MessageSummary, MessageWithArtifacts
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import labels, messages
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field

_NAMES = (
    f"trimmed, 1 to {labels.MAX_LABEL_CHARS} characters, no control characters, not a "
    f"system name ({', '.join(labels.SYSTEM_NAMES)}); one per message whatever its case"
)


@attrs.frozen(kw_only=True)
class LabelChanges:
    add: tuple[str, ...] = field(
        default=(), maxItems=labels.MAX_LABEL_CHANGES, description="labels to add: " + _NAMES
    )
    remove: tuple[str, ...] = field(
        default=(),
        maxItems=labels.MAX_LABEL_CHANGES,
        description="labels to remove (any case); one the message lacks is no error",
    )


@attrs.frozen(kw_only=True)
class MessageChange:
    """What to change; a field left out (or null) is kept. At least one is needed."""

    read: bool | None = field(default=None, description="`true`: read; `false`: unread")
    spam: bool | None = field(
        default=None,
        description="`true`: move inbox mail to spam; `false`: move spam to the inbox "
        "(quarantined mail and memory writes never move)",
    )
    trash: bool | None = field(
        default=None, description="`true`: into the trash (its folder kept); `false`: out"
    )
    labels: LabelChanges | None = field(
        default=None,
        description=f"a message holds at most {labels.MAX_LABELS_PER_MESSAGE} user labels",
    )


@attrs.frozen(kw_only=True)
class MessageBatch(MessageChange):
    ids: tuple[str, ...] = field(
        minItems=1,
        maxItems=labels.MAX_BATCH,
        description="messages of this inbox, each once; one the key cannot read refuses the "
        "whole batch (404, `param` `ids[3]`)",
    )


@attrs.frozen(kw_only=True)
class BatchResult:
    """The messages changed, in the order asked."""

    data: tuple[MessageSummary, ...]


@attrs.frozen(kw_only=True)
class Label:
    name: str = field(description="a user label as first given, or a system label's name")
    kind: labels.LabelKind = field(
        description="`system`: `inbox` and `spam` (their folder's untrashed mail) and `trash`; "
        "`user`: a user label (counting untrashed mail)"
    )
    message_count: int
    unread_count: int


@attrs.frozen(kw_only=True)
class LabelList:
    """The system labels, then the user labels by name (at most 1000), counted over the
    mail the key may read."""

    data: tuple[Label, ...]


def _change(body: MessageChange) -> labels.Change:
    changes = body.labels or LabelChanges()
    return labels.change(
        read=body.read, spam=body.spam, trash=body.trash, add=changes.add, remove=changes.remove
    )


async def update_message(call: Call[MessageChange]) -> MessageWithArtifacts:
    change = _change(call.body)
    senders = policy.senders_of(call.principal)
    message_id = call.path("message_id")
    await call.services.db.run_write(
        labels.apply,
        call.path("inbox_id"),
        [message_id],
        change,
        now=utcnow(),
        cutoff=retention_cutoff(call),
        senders=senders,
        memory=policy.reads_memory(call.principal),
        ids_param=None,
    )
    found = await call.services.db.run_read(
        messages.get_message,
        call.path("inbox_id"),
        message_id,
        cutoff=retention_cutoff(call),
        senders=senders,
    )
    return MessageWithArtifacts.of_found(found)


async def update_batch(call: Call[MessageBatch]) -> BatchResult:
    changed = await call.services.db.run_write(
        labels.apply,
        call.path("inbox_id"),
        list(call.body.ids),
        _change(call.body),
        now=utcnow(),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
        memory=policy.reads_memory(call.principal),
    )
    return BatchResult(data=tuple(MessageSummary.of(summary) for summary in changed))


async def list_labels(call: Call[None]) -> LabelList:
    found = await call.services.db.run_read(
        labels.list_labels,
        call.path("inbox_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
        memory=policy.reads_memory(call.principal),
    )
    return LabelList(
        data=tuple(
            Label(
                name=count.name,
                kind=count.kind,
                message_count=count.message_count,
                unread_count=count.unread_count,
            )
            for count in found
        )
    )


ENDPOINTS = [
    Endpoint(
        method="PATCH",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}",
        handler=update_message,
        summary="Mark a message read or unread, spam or not, trashed or not; add and remove "
        "its labels",
        scope=Scope.INBOX,
        permission="organize",
        body=MessageChange,
        response=MessageWithArtifacts,
    ),
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/messages/batch",
        handler=update_batch,
        summary="Make one change to up to 100 messages, all or nothing",
        description="Any id the key cannot read (another inbox's, unknown, from a sender "
        "a restricted key does not allow) refuses the whole batch: 404 with `param` "
        "naming it (`ids[3]`); nothing changes.",
        scope=Scope.INBOX,
        permission="organize",
        body=MessageBatch,
        response=BatchResult,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/labels",
        handler=list_labels,
        summary="The inbox's labels, system and user, with their message and unread counts",
        scope=Scope.INBOX,
        permission="read",
        response=LabelList,
    ),
]
