"""The attachments resource: a received message's attachments listed, and each one's content
streamed (an iterator of bytes chunks) or saved to a file, never held whole in memory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self, Unpack

from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    checked,
    decoded,
    message_path,
    send_for_inbox,
)
from dispatch_client._errors import IncompleteDownloadError, InvalidArgumentError, NotFoundError
from dispatch_client._options import REQUEST_OPTION_NAMES, RequestOptions, call_options
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types.attachment import MessageAttachment


def _list(
    credentials: Credentials, inbox_id: str, message_id: str
) -> Call[list[MessageAttachment]]:
    request = Request(method="GET", path=message_path(inbox_id, message_id, "attachments"))
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return list(decoded(answer, PageData[MessageAttachment]).data)


def _check_id(attachment_id: int) -> int:
    if isinstance(attachment_id, bool) or not isinstance(attachment_id, int) or attachment_id < 0:
        raise InvalidArgumentError(
            f"attachment_id must be an attachment's position (0, 1, ...), got {attachment_id!r}",
            param="attachment_id",
        )
    return attachment_id


def _described(
    credentials: Credentials, inbox_id: str, message_id: str, attachment_id: int
) -> Call[MessageAttachment]:
    """The attachment's description. Listing first also settles which key reads the inbox
    (an account key gets an inbox key minted, as on every inbox call), so the download
    that follows is one request."""
    for attachment in (yield from _list(credentials, inbox_id, message_id)):
        if attachment.id == attachment_id:
            return attachment
    raise NotFoundError(
        f"no attachment {attachment_id} in message {message_id}",
        status_code=404,
        code="not_found",
        body=None,
        request_id=None,
    )


def _content_request(
    credentials: Credentials, inbox_id: str, message_id: str, attachment_id: int
) -> Request:
    return Request(
        method="GET",
        path=message_path(inbox_id, message_id, "attachments", str(attachment_id)),
        api_key=credentials.inbox_keys.get(inbox_id) or credentials.require_key(),
    )


def _target(path: str | os.PathLike[str], attachment: MessageAttachment) -> Path:
    """`path`, or the attachment's own (safe) file name in it when it is a directory."""
    target = Path(path)
    return target / attachment.filename if target.is_dir() else target


def _check_complete(written: int, attachment: MessageAttachment) -> None:
    """A download that ended short of the attachment's size is no file (the server ends a
    response it cannot finish by breaking it; this catches a body cut short anyway). An
    attached message's size is an estimate (it downloads serialised again): not checked."""
    if attachment.content_type.startswith("message/"):
        return
    if written != attachment.size_bytes:
        raise IncompleteDownloadError(
            f"the download ended after {written} of {attachment.size_bytes} bytes",
            received=written,
            expected=attachment.size_bytes,
        )


class AttachmentStream:
    """An attachment's content as it downloads: iterate it for chunks of bytes; `close()`
    it (or leave its `with` block) to close the connection. `attachment` describes it."""

    def __init__(self, attachment: MessageAttachment, chunks: Iterator[bytes], stack: ExitStack):
        self.attachment = attachment
        self._chunks = chunks
        self._stack = stack

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """Close the connection (what is not read yet is not downloaded)."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncAttachmentStream:
    """`AttachmentStream` for asyncio: `async for chunk in stream`; `await stream.aclose()`
    (or `async with`) closes the connection."""

    def __init__(
        self, attachment: MessageAttachment, chunks: AsyncIterator[bytes], stack: AsyncExitStack
    ):
        self.attachment = attachment
        self._chunks = chunks
        self._stack = stack

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Close the connection (what is not read yet is not downloaded)."""
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Attachments(SyncResource):
    """A received message's attachments: `d.attachments.save(inbox_id, message_id, 0, ".")`."""

    def list(
        self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]
    ) -> list[MessageAttachment]:
        """The message's attachments, in the order of the message.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            Their descriptions (empty for a message without any).

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return self._run(_list(self._credentials, inbox_id, message_id), options)

    def download(
        self,
        inbox_id: str,
        message_id: str,
        attachment_id: int,
        **options: Unpack[RequestOptions],
    ) -> AttachmentStream:
        """Open an attachment's content for reading as it downloads.

        `with d.attachments.download(inbox_id, message_id, 0) as stream:` then
        `for chunk in stream: ...`. The stream is not retried once open.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            attachment_id: The attachment's `id` (its position, from 0).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The stream, with the attachment's description as `stream.attachment`.

        Raises:
            NotFoundError: no such message, or no such attachment in it.
        """
        _check_id(attachment_id)
        found = self._run(
            _described(self._credentials, inbox_id, message_id, attachment_id), options
        )
        resolved = call_options(self._client._options, options, REQUEST_OPTION_NAMES)
        request = _content_request(self._credentials, inbox_id, message_id, attachment_id)
        stack = ExitStack()
        try:
            opened = stack.enter_context(self._client._driver.stream(request, resolved))
            checked(opened.response)
        except BaseException:
            stack.close()
            raise
        return AttachmentStream(found, opened.chunks, stack)

    def save(
        self,
        inbox_id: str,
        message_id: str,
        attachment_id: int,
        path: str | os.PathLike[str],
        **options: Unpack[RequestOptions],
    ) -> Path:
        """Download an attachment into a file, a chunk at a time.

        The content goes to `<path>.part` first and replaces `path` once complete, so a
        failed download leaves no partial file under the name.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            attachment_id: The attachment's `id` (its position, from 0).
            path: The file to write, or a directory to write the attachment's own (safe)
                `filename` in.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The path written.

        Raises:
            NotFoundError: no such message, or no such attachment in it.
            IncompleteDownloadError: the content ended short of its size; no file is kept.
        """
        with self.download(inbox_id, message_id, attachment_id, **options) as stream:
            target = _target(path, stream.attachment)
            partial = target.with_name(target.name + ".part")
            try:
                written = 0
                with partial.open("wb") as file:
                    for chunk in stream:
                        file.write(chunk)
                        written += len(chunk)
                _check_complete(written, stream.attachment)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
        return target


class AsyncAttachments(AsyncResource):
    """`Attachments` for asyncio."""

    async def list(
        self, inbox_id: str, message_id: str, **options: Unpack[RequestOptions]
    ) -> list[MessageAttachment]:
        """The message's attachments, in the order of the message.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            Their descriptions (empty for a message without any).

        Raises:
            NotFoundError: no such message in this inbox.
        """
        return await self._run(_list(self._credentials, inbox_id, message_id), options)

    async def download(
        self,
        inbox_id: str,
        message_id: str,
        attachment_id: int,
        **options: Unpack[RequestOptions],
    ) -> AsyncAttachmentStream:
        """Open an attachment's content for reading as it downloads.

        `with d.attachments.download(inbox_id, message_id, 0) as stream:` then
        `for chunk in stream: ...`. The stream is not retried once open.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            attachment_id: The attachment's `id` (its position, from 0).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The stream, with the attachment's description as `stream.attachment`.

        Raises:
            NotFoundError: no such message, or no such attachment in it.
        """
        _check_id(attachment_id)
        found = await self._run(
            _described(self._credentials, inbox_id, message_id, attachment_id), options
        )
        resolved = call_options(self._client._options, options, REQUEST_OPTION_NAMES)
        request = _content_request(self._credentials, inbox_id, message_id, attachment_id)
        stack = AsyncExitStack()
        try:
            opened = await stack.enter_async_context(self._client._driver.stream(request, resolved))
            checked(opened.response)
        except BaseException:
            await stack.aclose()
            raise
        return AsyncAttachmentStream(found, opened.chunks, stack)

    async def save(
        self,
        inbox_id: str,
        message_id: str,
        attachment_id: int,
        path: str | os.PathLike[str],
        **options: Unpack[RequestOptions],
    ) -> Path:
        """Download an attachment into a file, a chunk at a time.

        The content goes to `<path>.part` first and replaces `path` once complete, so a
        failed download leaves no partial file under the name.

        Args:
            inbox_id: The inbox's id.
            message_id: The message's id.
            attachment_id: The attachment's `id` (its position, from 0).
            path: The file to write, or a directory to write the attachment's own (safe)
                `filename` in.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The path written.

        Raises:
            NotFoundError: no such message, or no such attachment in it.
            IncompleteDownloadError: the content ended short of its size; no file is kept.
        """
        async with await self.download(inbox_id, message_id, attachment_id, **options) as stream:
            target = _target(path, stream.attachment)
            partial = target.with_name(target.name + ".part")
            try:  # the file's calls in a thread, off the event loop
                file = await asyncio.to_thread(partial.open, "wb")
                written = 0
                with file:
                    async for chunk in stream:
                        await asyncio.to_thread(file.write, chunk)
                        written += len(chunk)
                _check_complete(written, stream.attachment)
                await asyncio.to_thread(partial.replace, target)
            finally:
                await asyncio.to_thread(partial.unlink, missing_ok=True)
        return target
