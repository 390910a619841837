"""The messages resource: list summaries, get whole messages and their raw MIME, wait for
new ones, send mail and replies, and change their state and labels (read, spam, trash, user
labels; one message or a batch) and count the inbox's labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Unpack

import attrs

from dispatch_client import _mail
from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    JSON,
    Call,
    Credentials,
    PageData,
    Request,
    WaitState,
    body,
    decoded,
    inbox_path,
    message_path,
    page_params,
    segment,
    send_for_inbox,
)
from dispatch_client._errors import DispatchError
from dispatch_client._options import RequestOptions, WaitOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client._waits import WaitQuery, wait_once, wait_until_match
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.message import Folder, Label, Message, MessageSummary
from dispatch_client.types.sent import OutgoingAttachment, SentMessage
from dispatch_client.types.wait import WaitKind, WaitResult


def _list(
    credentials: Credentials,
    inbox_id: str,
    *,
    limit: int,
    cursor: str | None,
    folder: Folder,
    label: str | None = None,
    unread: bool | None = None,
) -> Call[PageData[MessageSummary]]:
    read_state = None if unread is None else "true" if unread else "false"
    params = page_params(limit, cursor, folder=folder, label=label, unread=read_state)
    request = Request(method="GET", path=inbox_path(inbox_id, "messages"), params=params)
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(answer, PageData[MessageSummary])


@attrs.frozen(kw_only=True)
class _Summaries:
    data: tuple[MessageSummary, ...]


@attrs.frozen(kw_only=True)
class _Labels:
    data: tuple[Label, ...]


def _change(
    read: bool | None,
    spam: bool | None,
    trash: bool | None,
    add_labels: Sequence[str] | None,
    remove_labels: Sequence[str] | None,
) -> dict[str, JSON]:
    labels: dict[str, JSON] = body(
        add=None if add_labels is None else list(add_labels),
        remove=None if remove_labels is None else list(remove_labels),
    )
    return body(read=read, spam=spam, trash=trash, labels=labels or None)


def _update(
    credentials: Credentials, inbox_id: str, message_id: str, change: dict[str, JSON]
) -> Call[Message]:
    request = Request(method="PATCH", path=message_path(inbox_id, message_id), json=change)
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Message)


def _batch_update(
    credentials: Credentials, inbox_id: str, ids: Sequence[str], change: dict[str, JSON]
) -> Call[tuple[MessageSummary, ...]]:
    fields: dict[str, JSON] = {"ids": list(ids), **change}
    request = Request(method="POST", path=inbox_path(inbox_id, "messages", "batch"), json=fields)
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(answer, _Summaries).data


def _labels(credentials: Credentials, inbox_id: str) -> Call[tuple[Label, ...]]:
    request = Request(method="GET", path=inbox_path(inbox_id, "labels"))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), _Labels).data


def _get(credentials: Credentials, inbox_id: str, message_id: str) -> Call[Message]:
    request = Request(method="GET", path=message_path(inbox_id, message_id))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Message)


def _raw(credentials: Credentials, inbox_id: str, message_id: str) -> Call[bytes]:
    request = Request(
        method="GET",
        path=message_path(inbox_id, message_id, "raw"),
        headers={"Accept": "message/rfc822"},
    )
    return (yield from send_for_inbox(credentials, inbox_id, request)).content


def _wait_for_message(
    credentials: Credentials, waits: WaitState, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[Message]:
    result = yield from wait_until_match(credentials, waits, inbox_id, query, timeout=timeout)
    if result.message is None:
        raise DispatchError("the server reported a match without a message")
    return result.message


def _send(
    credentials: Credentials,
    inbox_id: str,
    *,
    to: str | Sequence[str],
    subject: str | None,
    text: str | None,
    html: str | None,
    cc: str | Sequence[str] | None,
    bcc: str | Sequence[str] | None,
    reply_to: str | Sequence[str] | None,
    headers: Mapping[str, str] | None,
    attachments: Sequence[_mail.AttachmentInput] | None,
    in_reply_to: str | None,
) -> Call[SentMessage]:
    segment(inbox_id, "inbox_id")  # the same check as on every inbox route
    fields: dict[str, JSON] = body(
        inbox_id=inbox_id,
        to=_mail.addresses(to, "to"),
        cc=_mail.addresses(cc, "cc"),
        bcc=_mail.addresses(bcc, "bcc"),
        reply_to=_mail.addresses(reply_to, "reply_to"),
        subject=subject,
        text=text,
        html=html,
        headers=_mail.headers(headers),
        attachments=_mail.attachments(attachments),
        in_reply_to=in_reply_to,
    )
    # Accepted with an account key too (the inbox is named in the body); a cached inbox key
    # is used when the client holds one.
    request = Request(method="POST", path="/v1/send", json=fields, idempotent=True)
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), SentMessage)


def _reply(
    credentials: Credentials,
    inbox_id: str,
    message_id: str,
    *,
    text: str | None,
    html: str | None,
    reply_all: bool,
    cc: str | Sequence[str] | None,
    bcc: str | Sequence[str] | None,
    headers: Mapping[str, str] | None,
    attachments: Sequence[_mail.AttachmentInput] | None,
) -> Call[SentMessage]:
    fields: dict[str, JSON] = body(
        text=text,
        html=html,
        reply_all=reply_all,
        cc=_mail.addresses(cc, "cc"),
        bcc=_mail.addresses(bcc, "bcc"),
        headers=_mail.headers(headers),
        attachments=_mail.attachments(attachments),
    )
    request = Request(
        method="POST",
        path=message_path(inbox_id, message_id, "reply"),
        json=fields,
        idempotent=True,
    )
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), SentMessage)


class Messages(SyncResource):
    """The mail an inbox received and sends: `d.messages`."""

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        folder: Folder = "inbox",
        label: str | None = None,
        unread: bool | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[MessageSummary]:
        """Summaries of the inbox's messages, newest first, without their bodies.

        A page stays small whatever the mail. A summary says whether the message has an
        OTP or links (`has_otp`, `has_link`) and starts its text (`preview`);
        `get(inbox_id, summary.id)` gives the whole message, with its `otp` and `links`.

        Args:
            inbox_id: The inbox's id.
            limit: Messages per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            folder: "inbox", "spam", "quarantine" (each out of the trash), "trash"
                (the trashed mail of every folder) or "all".
            label: Only the messages with this user label (any case).
            unread: True: only unread messages; False: only read ones; None: both.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every summary, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _list(
                self._credentials,
                inbox_id,
                limit=limit,
                cursor=cursor,
                folder=folder,
                label=label,
                unread=unread,
            ),
            cursor,
            options,
        )

    def update(
        self,
        inbox_id: str,
        message_id: str,
        *,
        read: bool | None = None,
        spam: bool | None = None,
        trash: bool | None = None,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Message:
        """Change one message's state: read, spam, trash and its user labels.

        Arguments left None keep what they name; at least one must be given (see
        docs/labels.md for the label rules). Needs the `organize` permission.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            read: True: mark it read; False: unread.
            spam: True: move inbox mail to spam; False: spam to the inbox.
            trash: True: put it in the trash (its folder kept); False: take it out.
            add_labels: User labels to add (one per message whatever its case).
            remove_labels: User labels to remove (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The message as changed.

        Raises:
            BadRequestError: nothing to change, a bad label, or a spam move of
                quarantined mail.
            PermissionDeniedError: the key lacks `organize`.
            NotFoundError: no such message in this inbox (or none this key may read).
        """
        change = _change(read, spam, trash, add_labels, remove_labels)
        return self._run(_update(self._credentials, inbox_id, message_id, change), options)

    def batch_update(
        self,
        inbox_id: str,
        message_ids: Sequence[str],
        *,
        read: bool | None = None,
        spam: bool | None = None,
        trash: bool | None = None,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> tuple[MessageSummary, ...]:
        """Make one change to up to 100 messages of an inbox, all or nothing.

        Args:
            inbox_id: The inbox's id.
            message_ids: The messages' ids, each once.
            read: True: mark them read; False: unread.
            spam: True: move inbox mail to spam; False: spam to the inbox.
            trash: True: put them in the trash; False: take them out.
            add_labels: User labels to add.
            remove_labels: User labels to remove (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The messages' summaries as changed, in the order given.

        Raises:
            BadRequestError: nothing to change, a bad label, an id given twice, more
                than 100 ids.
            PermissionDeniedError: the key lacks `organize`.
            NotFoundError: an id this key cannot read (its `param` names it, `ids[3]`);
                nothing was changed.
        """
        change = _change(read, spam, trash, add_labels, remove_labels)
        call = _batch_update(self._credentials, inbox_id, message_ids, change)
        return self._run(call, options)

    def labels(self, inbox_id: str, **options: Unpack[RequestOptions]) -> tuple[Label, ...]:
        """The inbox's labels with their message and unread counts.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The system labels (inbox, spam, trash), then the user labels by name.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return self._run(_labels(self._credentials, inbox_id), options)

    def get(self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]) -> Message:
        """One message, whole: its bodies, attachments and artifacts.

        So `message.otp`, `message.links` and `message.primary_link` work.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The message.

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return self._run(_get(self._credentials, inbox_id, message_id), options)

    def raw(self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]) -> bytes:
        """A message as it was received: its RFC 5322 bytes, headers and all.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The raw message.

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return self._run(_raw(self._credentials, inbox_id, message_id), options)

    def send(
        self,
        inbox_id: str,
        *,
        to: str | Sequence[str],
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[OutgoingAttachment | tuple[str, bytes]] | None = None,
        in_reply_to: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SentMessage:
        """Send mail from the inbox; the sent message, with its delivery state.

        The server stores the message before it calls its provider, and answers with the
        state it reached: "delivered" or "sent" when the provider took it, "queued" when it
        will be retried, "rejected" when the provider refused it. The call carries an
        Idempotency-Key (the SDK's own, or `idempotency_key=`), so a retry never sends twice.
        Addresses are "a@b.example" or "Name <a@b.example>".

        Args:
            inbox_id: The inbox to send from.
            to: The recipients shown in To: one address or a list.
            subject: The Subject; None: none.
            text: The plain-text body.
            html: The HTML body.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to (Reply-To).
            headers: Extra headers: X- headers, List-Unsubscribe(-Post), List-Id,
                Auto-Submitted, Precedence, Importance, Priority, X-Priority, Keywords,
                Comments.
            attachments: Files to attach: `OutgoingAttachment`s or (filename, content)
                tuples, the content in bytes.
            in_reply_to: The id of a message this inbox received: the mail answers it, in
                its thread (In-Reply-To and References).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message (`status`, `message_id`, `events` ...).

        Raises:
            InvalidArgumentError: an address, header or attachment of the wrong kind.
            BadRequestError: the server refused a field (`param` names it).
            NotFoundError: no such inbox (or `in_reply_to` message) for this key.
            RecipientSuppressedError: a recipient is suppressed (after a bounce or a
                complaint); nothing was sent.
            QuotaExceededError: the workspace's sends or recipients for today are used up.
            PayloadTooLargeError: the attachments are over the server's limit.
            IdempotencyConflictError: `idempotency_key` was used for another request.
        """
        call = _send(
            self._credentials,
            inbox_id,
            to=to,
            subject=subject,
            text=text,
            html=html,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            headers=headers,
            attachments=attachments,
            in_reply_to=in_reply_to,
        )
        return self._run(call, options)

    def reply(
        self,
        inbox_id: str,
        message_id: str,
        *,
        text: str | None = None,
        html: str | None = None,
        reply_all: bool = False,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[OutgoingAttachment | tuple[str, bytes]] | None = None,
        **options: Unpack[RequestOptions],
    ) -> SentMessage:
        """Reply to a received message, in its thread; the sent message.

        The reply goes to the message's Reply-To (else its From), with the subject
        "Re: ..." and In-Reply-To and References set. Idempotent like `send`.

        Args:
            inbox_id: The inbox that received the message.
            message_id: The received message's id.
            text: The plain-text body.
            html: The HTML body.
            reply_all: Also to the message's other To and Cc recipients (in Cc).
            cc: More recipients shown in Cc.
            bcc: Recipients no header shows.
            headers: Extra headers, as for `send`.
            attachments: Files to attach: `OutgoingAttachment`s or (filename, content)
                tuples, the content in bytes.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent reply.

        Raises:
            InvalidArgumentError: an address, header or attachment of the wrong kind.
            BadRequestError: the server refused a field, or the message names no address
                to reply to.
            NotFoundError: no such message in this inbox.
            RecipientSuppressedError: a recipient is suppressed; nothing was sent.
            QuotaExceededError: the workspace's sends or recipients for today are used up.
            PayloadTooLargeError: the attachments are over the server's limit.
            IdempotencyConflictError: `idempotency_key` was used for another request.
        """
        call = _reply(
            self._credentials,
            inbox_id,
            message_id,
            text=text,
            html=html,
            reply_all=reply_all,
            cc=cc,
            bcc=bcc,
            headers=headers,
            attachments=attachments,
        )
        return self._run(call, options)

    def wait(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        kind: WaitKind = "message",
        folder: Folder = "inbox",
        consume: bool = False,
        lease_seconds: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> WaitResult:
        """One server-side wait round: the next matching message, or none after `timeout`.

        Remembers nothing between calls (unlike `wait_for_message`): pass
        `after=result.cursor` to continue where a round ended.

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait, 0 or more; the server caps it (by default at 60).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose sender's address contains this (case-insensitive;
                the display name, which a sender chooses freely, is not searched).
            subject: Only messages whose Subject contains this (case-insensitive).
            kind: "message" (any), "otp" (with a code) or "link" (with a link).
            folder: "inbox", "spam", "quarantine" or "all".
            consume: With kind "otp", take the code (see `otp.wait_for_otp`): no other
                consuming wait gets it again.
            lease_seconds: With consume, the code goes back to the pool after this many
                seconds unless confirmed (`otp.confirm`, with `result.otp.id` and
                `result.otp.lease_id`).
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The round's result; `matched` is False if nothing matched in time.

        Raises:
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(
            kind=kind,
            after=after,
            since=since,
            from_=from_,
            subject=subject,
            folder=folder,
            consume=consume,
            lease_seconds=lease_seconds,
        )
        return self._run_wait(
            wait_once(self._credentials, inbox_id, query, timeout=timeout), options
        )

    def wait_for_message(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
        **options: Unpack[WaitOptions],
    ) -> Message:
        """The next matching message, with its artifacts, waiting on the server.

        Which message: without `since` or `after`, the newest match of the last minutes
        (the server's lookback), or, once a wait_for_* call of this client returned a
        message of this inbox, the first match after that one.

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait in all, 0 or more (made of rounds of at most 25 s).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose sender's address contains this (case-insensitive;
                the display name, which a sender chooses freely, is not searched).
            subject: Only messages whose Subject contains this (case-insensitive).
            folder: "inbox", "spam", "quarantine" or "all".
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The message; `message.otp`, `message.links` and `message.primary_link` work.

        Raises:
            WaitTimeoutError: nothing matched within `timeout` (also a TimeoutError).
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        call = _wait_for_message(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return self._run_wait(call, options)


class AsyncMessages(AsyncResource):
    """The mail an inbox received and sends: `d.messages`."""

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        folder: Folder = "inbox",
        label: str | None = None,
        unread: bool | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[MessageSummary]:
        """Summaries of the inbox's messages, newest first, without their bodies.

        A page stays small whatever the mail. A summary says whether the message has an
        OTP or links (`has_otp`, `has_link`) and starts its text (`preview`);
        `get(inbox_id, summary.id)` gives the whole message, with its `otp` and `links`.

        Args:
            inbox_id: The inbox's id.
            limit: Messages per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            folder: "inbox", "spam", "quarantine" (each out of the trash), "trash"
                (the trashed mail of every folder) or "all".
            label: Only the messages with this user label (any case).
            unread: True: only unread messages; False: only read ones; None: both.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every summary, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _list(
                self._credentials,
                inbox_id,
                limit=limit,
                cursor=cursor,
                folder=folder,
                label=label,
                unread=unread,
            ),
            cursor,
            options,
        )

    async def update(
        self,
        inbox_id: str,
        message_id: str,
        *,
        read: bool | None = None,
        spam: bool | None = None,
        trash: bool | None = None,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Message:
        """Change one message's state: read, spam, trash and its user labels.

        Arguments left None keep what they name; at least one must be given (see
        docs/labels.md for the label rules). Needs the `organize` permission.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            read: True: mark it read; False: unread.
            spam: True: move inbox mail to spam; False: spam to the inbox.
            trash: True: put it in the trash (its folder kept); False: take it out.
            add_labels: User labels to add (one per message whatever its case).
            remove_labels: User labels to remove (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The message as changed.

        Raises:
            BadRequestError: nothing to change, a bad label, or a spam move of
                quarantined mail.
            PermissionDeniedError: the key lacks `organize`.
            NotFoundError: no such message in this inbox (or none this key may read).
        """
        change = _change(read, spam, trash, add_labels, remove_labels)
        return await self._run(_update(self._credentials, inbox_id, message_id, change), options)

    async def batch_update(
        self,
        inbox_id: str,
        message_ids: Sequence[str],
        *,
        read: bool | None = None,
        spam: bool | None = None,
        trash: bool | None = None,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> tuple[MessageSummary, ...]:
        """Make one change to up to 100 messages of an inbox, all or nothing.

        Args:
            inbox_id: The inbox's id.
            message_ids: The messages' ids, each once.
            read: True: mark them read; False: unread.
            spam: True: move inbox mail to spam; False: spam to the inbox.
            trash: True: put them in the trash; False: take them out.
            add_labels: User labels to add.
            remove_labels: User labels to remove (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The messages' summaries as changed, in the order given.

        Raises:
            BadRequestError: nothing to change, a bad label, an id given twice, more
                than 100 ids.
            PermissionDeniedError: the key lacks `organize`.
            NotFoundError: an id this key cannot read (its `param` names it, `ids[3]`);
                nothing was changed.
        """
        change = _change(read, spam, trash, add_labels, remove_labels)
        call = _batch_update(self._credentials, inbox_id, message_ids, change)
        return await self._run(call, options)

    async def labels(self, inbox_id: str, **options: Unpack[RequestOptions]) -> tuple[Label, ...]:
        """The inbox's labels with their message and unread counts.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The system labels (inbox, spam, trash), then the user labels by name.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return await self._run(_labels(self._credentials, inbox_id), options)

    async def get(
        self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]
    ) -> Message:
        """One message, whole: its bodies, attachments and artifacts.

        So `message.otp`, `message.links` and `message.primary_link` work.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The message.

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return await self._run(_get(self._credentials, inbox_id, message_id), options)

    async def raw(self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]) -> bytes:
        """A message as it was received: its RFC 5322 bytes, headers and all.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The raw message.

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return await self._run(_raw(self._credentials, inbox_id, message_id), options)

    async def send(
        self,
        inbox_id: str,
        *,
        to: str | Sequence[str],
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[OutgoingAttachment | tuple[str, bytes]] | None = None,
        in_reply_to: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SentMessage:
        """Send mail from the inbox; the sent message, with its delivery state.

        The server stores the message before it calls its provider, and answers with the
        state it reached: "delivered" or "sent" when the provider took it, "queued" when it
        will be retried, "rejected" when the provider refused it. The call carries an
        Idempotency-Key (the SDK's own, or `idempotency_key=`), so a retry never sends twice.
        Addresses are "a@b.example" or "Name <a@b.example>".

        Args:
            inbox_id: The inbox to send from.
            to: The recipients shown in To: one address or a list.
            subject: The Subject; None: none.
            text: The plain-text body.
            html: The HTML body.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to (Reply-To).
            headers: Extra headers: X- headers, List-Unsubscribe(-Post), List-Id,
                Auto-Submitted, Precedence, Importance, Priority, X-Priority, Keywords,
                Comments.
            attachments: Files to attach: `OutgoingAttachment`s or (filename, content)
                tuples, the content in bytes.
            in_reply_to: The id of a message this inbox received: the mail answers it, in
                its thread (In-Reply-To and References).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message (`status`, `message_id`, `events` ...).

        Raises:
            InvalidArgumentError: an address, header or attachment of the wrong kind.
            BadRequestError: the server refused a field (`param` names it).
            NotFoundError: no such inbox (or `in_reply_to` message) for this key.
            RecipientSuppressedError: a recipient is suppressed (after a bounce or a
                complaint); nothing was sent.
            QuotaExceededError: the workspace's sends or recipients for today are used up.
            PayloadTooLargeError: the attachments are over the server's limit.
            IdempotencyConflictError: `idempotency_key` was used for another request.
        """
        call = _send(
            self._credentials,
            inbox_id,
            to=to,
            subject=subject,
            text=text,
            html=html,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            headers=headers,
            attachments=attachments,
            in_reply_to=in_reply_to,
        )
        return await self._run(call, options)

    async def reply(
        self,
        inbox_id: str,
        message_id: str,
        *,
        text: str | None = None,
        html: str | None = None,
        reply_all: bool = False,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[OutgoingAttachment | tuple[str, bytes]] | None = None,
        **options: Unpack[RequestOptions],
    ) -> SentMessage:
        """Reply to a received message, in its thread; the sent message.

        The reply goes to the message's Reply-To (else its From), with the subject
        "Re: ..." and In-Reply-To and References set. Idempotent like `send`.

        Args:
            inbox_id: The inbox that received the message.
            message_id: The received message's id.
            text: The plain-text body.
            html: The HTML body.
            reply_all: Also to the message's other To and Cc recipients (in Cc).
            cc: More recipients shown in Cc.
            bcc: Recipients no header shows.
            headers: Extra headers, as for `send`.
            attachments: Files to attach: `OutgoingAttachment`s or (filename, content)
                tuples, the content in bytes.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent reply.

        Raises:
            InvalidArgumentError: an address, header or attachment of the wrong kind.
            BadRequestError: the server refused a field, or the message names no address
                to reply to.
            NotFoundError: no such message in this inbox.
            RecipientSuppressedError: a recipient is suppressed; nothing was sent.
            QuotaExceededError: the workspace's sends or recipients for today are used up.
            PayloadTooLargeError: the attachments are over the server's limit.
            IdempotencyConflictError: `idempotency_key` was used for another request.
        """
        call = _reply(
            self._credentials,
            inbox_id,
            message_id,
            text=text,
            html=html,
            reply_all=reply_all,
            cc=cc,
            bcc=bcc,
            headers=headers,
            attachments=attachments,
        )
        return await self._run(call, options)

    async def wait(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        kind: WaitKind = "message",
        folder: Folder = "inbox",
        consume: bool = False,
        lease_seconds: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> WaitResult:
        """One server-side wait round: the next matching message, or none after `timeout`.

        Remembers nothing between calls (unlike `wait_for_message`): pass
        `after=result.cursor` to continue where a round ended.

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait, 0 or more; the server caps it (by default at 60).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose sender's address contains this (case-insensitive;
                the display name, which a sender chooses freely, is not searched).
            subject: Only messages whose Subject contains this (case-insensitive).
            kind: "message" (any), "otp" (with a code) or "link" (with a link).
            folder: "inbox", "spam", "quarantine" or "all".
            consume: With kind "otp", take the code (see `otp.wait_for_otp`): no other
                consuming wait gets it again.
            lease_seconds: With consume, the code goes back to the pool after this many
                seconds unless confirmed (`otp.confirm`, with `result.otp.id` and
                `result.otp.lease_id`).
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The round's result; `matched` is False if nothing matched in time.

        Raises:
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(
            kind=kind,
            after=after,
            since=since,
            from_=from_,
            subject=subject,
            folder=folder,
            consume=consume,
            lease_seconds=lease_seconds,
        )
        return await self._run_wait(
            wait_once(self._credentials, inbox_id, query, timeout=timeout), options
        )

    async def wait_for_message(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
        **options: Unpack[WaitOptions],
    ) -> Message:
        """The next matching message, with its artifacts, waiting on the server.

        Which message: without `since` or `after`, the newest match of the last minutes
        (the server's lookback), or, once a wait_for_* call of this client returned a
        message of this inbox, the first match after that one.

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait in all, 0 or more (made of rounds of at most 25 s).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose sender's address contains this (case-insensitive;
                the display name, which a sender chooses freely, is not searched).
            subject: Only messages whose Subject contains this (case-insensitive).
            folder: "inbox", "spam", "quarantine" or "all".
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The message; `message.otp`, `message.links` and `message.primary_link` work.

        Raises:
            WaitTimeoutError: nothing matched within `timeout` (also a TimeoutError).
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        call = _wait_for_message(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return await self._run_wait(call, options)
