"""A received message's attachment, as `d.attachments.list()` describes it."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class MessageAttachment:
    """One attachment of a received message. `id` is its position among the message's
    attachments (from 0): pass it to `d.attachments.download()` or `save()`. `filename` is
    safe to save under (no path, control or bidi characters; `attachment-<n>` when the
    mail names none); `size_bytes` is the decoded size; `content_id` the part's Content-ID
    without angle brackets (what `cid:` URLs in the HTML name), or None."""

    id: int
    filename: str
    content_type: str
    size_bytes: int
    content_id: str | None = None
