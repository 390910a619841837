"""What the MCP tools answer: typed, so each tool publishes an output schema and its answer
is structured content a model (or a program) reads field by field."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dispatch_client.extract.html import html_to_text
from dispatch_client.types.draft import Draft
from dispatch_client.types.inbox import Inbox
from dispatch_client.types.list_entry import ListEntry
from dispatch_client.types.memory import MemoryEntry
from dispatch_client.types.message import Message, MessageSummary
from dispatch_client.types.operator import ClaimToken
from dispatch_client.types.sent import SentMessage


class InboxOut(BaseModel):
    """An inbox: `address` receives mail; `id` names it in every other tool."""

    id: str
    address: str = Field(description="The email address; give it to services to sign up.")
    display_name: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, inbox: Inbox) -> InboxOut:
        return cls(
            id=inbox.id,
            address=inbox.address,
            display_name=inbox.display_name,
            created_at=inbox.created_at,
        )


class InboxList(BaseModel):
    inboxes: list[InboxOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null: no more."
    )


class WhoAmI(BaseModel):
    """The key this server acts with."""

    kind: str = Field(description='"account" (every inbox of the workspace) or "inbox" (one).')
    key_id: str = Field(description="The key's public id (never the secret).")
    workspace_id: str
    inbox_id: str | None = Field(description="An inbox key's inbox; null for an account key.")
    inbox_address: str | None
    permissions: list[str] = Field(
        description="What the key may do: read, wait, send, memory, organize."
    )
    restricted: bool = Field(
        default=False, description="Minted with restrictions (permissions, senders, expiry)."
    )
    allowed_senders: list[str] | None = Field(
        default=None, description="Only mail from these senders is readable; null: anyone's."
    )
    expires_at: datetime | None = Field(default=None, description="When the key stops working.")


class WaitOut(BaseModel):
    """The answer of wait_for_otp / wait_for_link. Check `found` first."""

    found: bool = Field(description="True: `code` (or `link`) is set. False: nothing came yet.")
    code: str | None = Field(default=None, description="The one-time code, typed as given.")
    code_kind: str | None = Field(
        default=None, description='"digits", "letters" or "mixed" (letters are case-sensitive).'
    )
    link: str | None = Field(default=None, description="The message's sign-in/verify link.")
    inbox_id: str
    message_id: str | None = Field(default=None, description="For read_message or reply.")
    sender: str | None = Field(default=None, description="The From header.")
    subject: str | None = None
    received_at: datetime | None = None
    cursor: str = Field(
        description="Where this wait ended: pass as `after` to wait for the next one only."
    )
    unmatched_count: int = Field(
        default=0, description="On no match: messages that arrived but did not match."
    )
    otp_id: str | None = Field(
        default=None, description="The code's id: with lease_id, what confirm_code takes."
    )
    lease_id: str | None = Field(
        default=None, description="With consume and lease_seconds: pass to confirm_code."
    )
    lease_expires_at: datetime | None = Field(
        default=None, description="When a leased code goes back to the pool unless confirmed."
    )
    next_step: str = Field(description="What to do now, in one sentence.")


class ConfirmOut(BaseModel):
    """A leased code kept for good."""

    code: str
    otp_id: str
    consumed_at: datetime | None = Field(description="When the code was taken.")


class MessageSummaryOut(BaseModel):
    id: str
    sender: str | None = Field(description="The From header.")
    to: list[str]
    subject: str | None
    preview: str | None = Field(description="The start of the text.")
    folder: str
    received_at: datetime
    has_otp: bool
    has_link: bool
    attachment_count: int

    @classmethod
    def of(cls, message: MessageSummary) -> MessageSummaryOut:
        return cls(
            id=message.id,
            sender=message.from_,
            to=list(message.to),
            subject=message.subject,
            preview=message.preview,
            folder=message.folder,
            received_at=message.received_at,
            has_otp=message.has_otp,
            has_link=message.has_link,
            attachment_count=message.attachment_count,
        )


class MessageList(BaseModel):
    inbox_id: str
    messages: list[MessageSummaryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for older messages; null: no more."
    )


class AttachmentOut(BaseModel):
    filename: str | None
    content_type: str
    size_bytes: int


class MessageOut(BaseModel):
    """A received message, whole (its text cut to `max_chars`)."""

    id: str
    inbox_id: str
    sender: str | None = Field(description="The From header.")
    from_address: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    received_at: datetime
    folder: str
    text: str | None = Field(description="The plain text (or the HTML's, when it has none).")
    text_truncated: bool = Field(description="True: `text` was cut to max_chars.")
    otp: str | None = Field(description="The one-time code found in it, if any.")
    primary_link: str | None = Field(description="Its call-to-action link, if any.")
    links: list[str]
    attachments: list[AttachmentOut]

    @classmethod
    def of(cls, message: Message, *, max_chars: int) -> MessageOut:
        text = message.text
        if not text and message.html:
            text = html_to_text(message.html)
        truncated = text is not None and len(text) > max_chars
        return cls(
            id=message.id,
            inbox_id=message.inbox_id,
            sender=message.from_,
            from_address=message.from_address,
            to=list(message.to),
            cc=list(message.cc),
            subject=message.subject,
            received_at=message.received_at,
            folder=message.folder,
            text=text[:max_chars] if text is not None else None,
            text_truncated=truncated,
            otp=message.otp,
            primary_link=message.primary_link,
            links=list(message.links),
            attachments=[
                AttachmentOut(
                    filename=a.filename, content_type=a.content_type, size_bytes=a.size_bytes
                )
                for a in message.attachments
            ],
        )


class SentOut(BaseModel):
    """A message the inbox sent, with its delivery state."""

    id: str = Field(description="The sent message's id.")
    inbox_id: str
    to: list[str]
    cc: list[str]
    subject: str
    status: str = Field(
        description='"queued", "sent", "delivered", or a failure: "rejected", "bounced", '
        '"failed", "suppressed", "blocked".'
    )
    message_id: str = Field(description="Its Message-ID header.")
    in_reply_to: str | None = Field(description="The received message it answers, if any.")

    @classmethod
    def of(cls, sent: SentMessage) -> SentOut:
        return cls(
            id=sent.id,
            inbox_id=sent.inbox_id,
            to=list(sent.to),
            cc=list(sent.cc),
            subject=sent.subject,
            status=sent.status,
            message_id=sent.message_id,
            in_reply_to=sent.in_reply_to,
        )


class DraftOut(BaseModel):
    """A draft the inbox saved, to send later with send_draft."""

    id: str = Field(description="The draft's id (for send_draft).")
    inbox_id: str
    to: list[str]
    cc: list[str]
    subject: str
    in_reply_to: str | None = Field(description="The received message it answers, if any.")
    version: int = Field(description="1 when created, one more at each update.")

    @classmethod
    def of(cls, draft: Draft) -> DraftOut:
        return cls(
            id=draft.id,
            inbox_id=draft.inbox_id,
            to=list(draft.to),
            cc=list(draft.cc),
            subject=draft.subject,
            in_reply_to=draft.in_reply_to,
            version=draft.version,
        )


class MemoryOut(BaseModel):
    """A memory key's value. Check `found` first."""

    found: bool = Field(description="False: the key was never written (value is null).")
    inbox_id: str
    key: str
    value: str | None
    written_at: datetime | None = None

    @classmethod
    def of(cls, inbox_id: str, key: str, entry: MemoryEntry | None) -> MemoryOut:
        if entry is None:
            return cls(found=False, inbox_id=inbox_id, key=key, value=None)
        return cls(
            found=True,
            inbox_id=inbox_id,
            key=entry.key,
            value=entry.value,
            written_at=entry.written_at,
        )


class MemoryKeyOut(BaseModel):
    key: str
    updated_at: datetime


class MemoryKeys(BaseModel):
    inbox_id: str
    keys: list[MemoryKeyOut] = Field(description="Most recently written first.")


class ClaimTokenOut(BaseModel):
    """What a human needs to claim (own) this agent."""

    claim_email: str = Field(description="The inbox address the human claims with.")
    claim_token: str = Field(description="The single-use token; give it to the human.")
    expires_at: datetime
    inbox_id: str
    agent_id: str
    instructions: str

    @classmethod
    def of(cls, token: ClaimToken) -> ClaimTokenOut:
        return cls(
            claim_email=token.claim_email,
            claim_token=token.claim_token,
            expires_at=token.expires_at,
            inbox_id=token.inbox_id,
            agent_id=token.agent_id,
            instructions=(
                "Give claim_email and claim_token to your human operator before expires_at. "
                "Signed in to Dispatch, they claim you in the web console (/console) or with "
                "`POST /v1/agent/claim`. The token works once."
            ),
        )


class ListEntryOut(BaseModel):
    """An allow or block entry: whose mail an inbox takes (`receive`) or to whom it may send
    (`send`). A block entry wins; once any allow entry applies to an inbox and direction,
    every address no allow entry matches is refused."""

    id: str = Field(description="The entry's id: pass it to remove_from_list.")
    inbox_id: str | None = Field(
        description="The inbox it applies to; null: every inbox of the workspace."
    )
    direction: str = Field(
        description='"receive" (matched against the sender of incoming mail) or "send" '
        "(against each recipient of a send)."
    )
    action: str = Field(description='"allow" or "block".')
    pattern: str = Field(
        description="a@x.com (that address), x.com (any address at x.com, not its "
        "subdomains) or *.x.com (its subdomains); lowercased, domains in punycode."
    )
    created_at: datetime

    @classmethod
    def of(cls, entry: ListEntry) -> ListEntryOut:
        return cls(
            id=entry.id,
            inbox_id=entry.inbox_id,
            direction=entry.direction,
            action=entry.action,
            pattern=entry.pattern,
            created_at=entry.created_at,
        )


class ListEntries(BaseModel):
    entries: list[ListEntryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null: no more."
    )
