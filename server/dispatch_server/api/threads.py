"""An inbox's threads (`/v1/inboxes/{inbox_id}/threads`): pages of conversations, latest
activity first, and one conversation with its received and sent messages. How mail is
threaded is dispatch_server.domain.threads; who may read it is as for messages."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.domain import threads
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

CURSOR = params.page_cursor("thread")


@attrs.frozen(kw_only=True)
class ThreadMessage:
    """A message of a thread, without its bodies: `GET …/messages/{id}` (received) or
    `GET …/sent/{id}` (sent) has them."""

    id: str
    direction: threads.Direction = field(
        description="`received`: a message (…/messages/{id}); `sent`: a send (…/sent/{id})"
    )
    from_: str | None = field(name="from", description="the From header (of a send: the inbox)")
    from_address: str | None
    to: tuple[str, ...] = field(description="the addresses it went to, the first 10")
    subject: str | None
    preview: str | None = field(description="the start of its text, at most 200 characters")
    at: datetime = field(description="when it was received, or the send was made")
    unread: bool = field(description="received mail the mail desk has not shown yet")
    status: str | None = field(description="a send's status (see SentMessage); null if received")

    @classmethod
    def of(cls, message: threads.ThreadMessage) -> ThreadMessage:
        return project(cls, message, from_=message.from_header, to=message.to_addresses)


@attrs.frozen(kw_only=True)
class ThreadSummary:
    """A conversation: the inbox's received and sent mail that answer one another."""

    id: str
    inbox_id: str
    subject: str | None = field(description="its first message's subject")
    participants: tuple[str, ...] = field(
        description="who its latest messages are from and to, the inbox itself left out, "
        f"at most {threads.PARTICIPANTS}"
    )
    message_count: int
    unread_count: int = field(description="its received messages not read yet")
    last_activity_at: datetime = field(description="when its newest message came or went")
    preview: str | None = field(description="the start of its newest message's text")
    latest: ThreadMessage

    @classmethod
    def of(cls, summary: threads.ThreadSummary) -> ThreadSummary:
        return project(cls, summary, latest=ThreadMessage.of(summary.latest))


@attrs.frozen(kw_only=True)
class Thread(ThreadSummary):
    messages: tuple[ThreadMessage, ...] = field(
        description=f"oldest first; the newest {threads.MAX_THREAD_MESSAGES} of a longer thread"
    )

    @classmethod
    def of_thread(cls, thread: threads.Thread) -> Thread:
        return project(
            cls,
            ThreadSummary.of(thread.summary),
            messages=tuple(ThreadMessage.of(m) for m in thread.messages),
        )


async def list_threads(call: Call[None]) -> Page[ThreadSummary]:
    found = await call.services.db.run_read(
        threads.list_threads,
        call.path("inbox_id"),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return Page.of(found, ThreadSummary.of)


async def get_thread(call: Call[None]) -> Thread:
    found = await call.services.db.run_read(
        threads.get_thread,
        call.path("inbox_id"),
        call.path("thread_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return Thread.of_thread(found)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/threads",
        handler=list_threads,
        summary="The inbox's threads, latest activity first",
        description="Received mail of the inbox folder and the inbox's sends, grouped by "
        "Message-ID, In-Reply-To and References (by subject only for mail without them).",
        scope=Scope.INBOX,
        permission="read",
        response=Page[ThreadSummary],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/threads/{thread_id}",
        handler=get_thread,
        summary="One thread with its received and sent messages, oldest first",
        scope=Scope.INBOX,
        permission="read",
        response=Thread,
    ),
]
