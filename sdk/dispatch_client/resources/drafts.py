"""The drafts resource: messages an inbox is writing, saved (any field still missing),
listed latest updated first, updated in part, deleted, and sent as `messages.send()` sends
(the same checks, send lists, quotas), the draft deleted as its send is queued. Needs the
inbox's key with the `send` permission (an account key client mints one, as for messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Unpack

from dispatch_client import _mail
from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    JSON,
    Call,
    Credentials,
    PageData,
    Request,
    body,
    decoded,
    inbox_path,
    page_params,
    segment,
    send_for_inbox,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.draft import Draft
from dispatch_client.types.sent import SentMessage

Addresses = str | Sequence[str] | None


def _fields(
    *,
    to: Addresses,
    cc: Addresses,
    bcc: Addresses,
    reply_to: Addresses,
    subject: str | None,
    text: str | None,
    html: str | None,
    headers: Mapping[str, str] | None,
    in_reply_to: str | None,
) -> dict[str, JSON]:
    return body(
        to=_mail.addresses(to, "to"),
        cc=_mail.addresses(cc, "cc"),
        bcc=_mail.addresses(bcc, "bcc"),
        reply_to=_mail.addresses(reply_to, "reply_to"),
        subject=subject,
        text=text,
        html=html,
        headers=_mail.headers(headers),
        in_reply_to=in_reply_to,
    )


def _create(credentials: Credentials, inbox_id: str, fields: dict[str, JSON]) -> Call[Draft]:
    request = Request(
        method="POST", path=inbox_path(inbox_id, "drafts"), json=fields, idempotent=True
    )
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Draft)


def _list(
    credentials: Credentials, inbox_id: str, *, limit: int, cursor: str | None
) -> Call[PageData[Draft]]:
    request = Request(
        method="GET", path=inbox_path(inbox_id, "drafts"), params=page_params(limit, cursor)
    )
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(answer, PageData[Draft])


def _one(inbox_id: str, draft_id: str, *rest: str) -> str:
    return inbox_path(inbox_id, "drafts", segment(draft_id, "draft_id"), *rest)


def _get(credentials: Credentials, inbox_id: str, draft_id: str) -> Call[Draft]:
    request = Request(method="GET", path=_one(inbox_id, draft_id))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Draft)


def _update(
    credentials: Credentials, inbox_id: str, draft_id: str, fields: dict[str, JSON]
) -> Call[Draft]:
    request = Request(method="PATCH", path=_one(inbox_id, draft_id), json=fields)
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Draft)


def _delete(credentials: Credentials, inbox_id: str, draft_id: str) -> Call[Draft]:
    request = Request(method="DELETE", path=_one(inbox_id, draft_id))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Draft)


def _send(credentials: Credentials, inbox_id: str, draft_id: str) -> Call[SentMessage]:
    request = Request(method="POST", path=_one(inbox_id, draft_id, "send"), idempotent=True)
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), SentMessage)


class Drafts(SyncResource):
    """An inbox's drafts, saved before they are sent: `d.drafts`."""

    def create(
        self,
        inbox_id: str,
        *,
        to: str | Sequence[str] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        in_reply_to: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Draft:
        """Save a draft; any field may be missing until it is sent.

        Each field has the caps of a send (lengths, recipient count); addresses and the
        rest are checked when the draft is sent.

        Args:
            inbox_id: The inbox's id.
            to: Recipients shown in To: one address or a list.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to.
            subject: The subject.
            text: The plain-text body.
            html: The HTML body.
            headers: Extra headers, as for `messages.send()`.
            in_reply_to: The id of a message the inbox received: the send replies to it, in
                its thread.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft, at version 1.

        Raises:
            BadRequestError: a field is over its cap, or `in_reply_to` names no message of
                the inbox.
            NotFoundError: no such inbox for this key.
        """
        fields = _fields(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            in_reply_to=in_reply_to,
        )
        return self._run(_create(self._credentials, inbox_id, fields), options)

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[Draft]:
        """The inbox's drafts, latest updated first.

        Args:
            inbox_id: The inbox's id.
            limit: Drafts per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the latest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every draft, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def get(self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]) -> Draft:
        """One draft.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft.

        Raises:
            NotFoundError: no such draft in this inbox (sent or deleted).
        """
        return self._run(_get(self._credentials, inbox_id, draft_id), options)

    def update(
        self,
        inbox_id: str,
        draft_id: str,
        *,
        to: str | Sequence[str] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        in_reply_to: str | None = None,
        version: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> Draft:
        """Change some of a draft's fields; those left None are kept.

        `""` clears `text`, `html` or `in_reply_to`, `[]` an address list.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            to: Recipients shown in To: one address or a list.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to.
            subject: The subject.
            text: The plain-text body.
            html: The HTML body.
            headers: Extra headers, as for `messages.send()`.
            in_reply_to: The id of a message the inbox received: the send replies to it, in
                its thread.
            version: The version the change is based on: if the draft has changed since,
                nothing is changed and ConflictError (`draft_changed`) is raised.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft, its version one more.

        Raises:
            BadRequestError: a field is over its cap.
            ConflictError: `version` is not the draft's (`draft_changed`).
            NotFoundError: no such draft in this inbox.
        """
        fields = _fields(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            in_reply_to=in_reply_to,
        )
        if version is not None:
            fields["version"] = version
        return self._run(_update(self._credentials, inbox_id, draft_id, fields), options)

    def delete(self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]) -> Draft:
        """Delete a draft.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft as it was.

        Raises:
            NotFoundError: no such draft in this inbox.
        """
        return self._run(_delete(self._credentials, inbox_id, draft_id), options)

    def send(self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]) -> SentMessage:
        """Send a draft as `messages.send()` sends, and delete it.

        The draft is checked in full (recipients, a body, headers) with the errors of a
        send, and deleted as its send is queued: it is sent once. The call carries an
        Idempotency-Key, so a retry gets the first answer.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message with its delivery state.

        Raises:
            BadRequestError: the draft is incomplete or a field is invalid (as for a send).
            RecipientBlockedError: the send lists refuse a recipient.
            RecipientSuppressedError: a recipient is suppressed.
            QuotaExceededError: a daily quota of the workspace is used up.
            ConflictError: the draft was updated while it was being sent (`draft_changed`).
            NotFoundError: no such draft in this inbox (sent already, or deleted).
        """
        return self._run(_send(self._credentials, inbox_id, draft_id), options)


class AsyncDrafts(AsyncResource):
    """An inbox's drafts, saved before they are sent: `d.drafts`."""

    async def create(
        self,
        inbox_id: str,
        *,
        to: str | Sequence[str] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        in_reply_to: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Draft:
        """Save a draft; any field may be missing until it is sent.

        Each field has the caps of a send (lengths, recipient count); addresses and the
        rest are checked when the draft is sent.

        Args:
            inbox_id: The inbox's id.
            to: Recipients shown in To: one address or a list.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to.
            subject: The subject.
            text: The plain-text body.
            html: The HTML body.
            headers: Extra headers, as for `messages.send()`.
            in_reply_to: The id of a message the inbox received: the send replies to it, in
                its thread.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft, at version 1.

        Raises:
            BadRequestError: a field is over its cap, or `in_reply_to` names no message of
                the inbox.
            NotFoundError: no such inbox for this key.
        """
        fields = _fields(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            in_reply_to=in_reply_to,
        )
        return await self._run(_create(self._credentials, inbox_id, fields), options)

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[Draft]:
        """The inbox's drafts, latest updated first.

        Args:
            inbox_id: The inbox's id.
            limit: Drafts per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the latest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every draft, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def get(self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]) -> Draft:
        """One draft.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft.

        Raises:
            NotFoundError: no such draft in this inbox (sent or deleted).
        """
        return await self._run(_get(self._credentials, inbox_id, draft_id), options)

    async def update(
        self,
        inbox_id: str,
        draft_id: str,
        *,
        to: str | Sequence[str] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        in_reply_to: str | None = None,
        version: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> Draft:
        """Change some of a draft's fields; those left None are kept.

        `""` clears `text`, `html` or `in_reply_to`, `[]` an address list.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            to: Recipients shown in To: one address or a list.
            cc: Recipients shown in Cc.
            bcc: Recipients no header shows.
            reply_to: Addresses replies should go to.
            subject: The subject.
            text: The plain-text body.
            html: The HTML body.
            headers: Extra headers, as for `messages.send()`.
            in_reply_to: The id of a message the inbox received: the send replies to it, in
                its thread.
            version: The version the change is based on: if the draft has changed since,
                nothing is changed and ConflictError (`draft_changed`) is raised.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft, its version one more.

        Raises:
            BadRequestError: a field is over its cap.
            ConflictError: `version` is not the draft's (`draft_changed`).
            NotFoundError: no such draft in this inbox.
        """
        fields = _fields(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            in_reply_to=in_reply_to,
        )
        if version is not None:
            fields["version"] = version
        return await self._run(_update(self._credentials, inbox_id, draft_id, fields), options)

    async def delete(
        self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]
    ) -> Draft:
        """Delete a draft.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The draft as it was.

        Raises:
            NotFoundError: no such draft in this inbox.
        """
        return await self._run(_delete(self._credentials, inbox_id, draft_id), options)

    async def send(
        self, inbox_id: str, draft_id: str, **options: Unpack[RequestOptions]
    ) -> SentMessage:
        """Send a draft as `messages.send()` sends, and delete it.

        The draft is checked in full (recipients, a body, headers) with the errors of a
        send, and deleted as its send is queued: it is sent once. The call carries an
        Idempotency-Key, so a retry gets the first answer.

        Args:
            inbox_id: The inbox's id.
            draft_id: The draft's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message with its delivery state.

        Raises:
            BadRequestError: the draft is incomplete or a field is invalid (as for a send).
            RecipientBlockedError: the send lists refuse a recipient.
            RecipientSuppressedError: a recipient is suppressed.
            QuotaExceededError: a daily quota of the workspace is used up.
            ConflictError: the draft was updated while it was being sent (`draft_changed`).
            NotFoundError: no such draft in this inbox (sent already, or deleted).
        """
        return await self._run(_send(self._credentials, inbox_id, draft_id), options)
