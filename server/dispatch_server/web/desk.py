"""The console's mail desk at /mail: an inbox's messages (unread in bold), search, a reader
(HTML mail in a sandboxed frame of its own, see `mail_html`; attachments as downloads, as
the API serves them), reply, the latest OTP, new mail shown live from the workspace's event
stream, the inbox's mail by thread (`?view=threads`, one thread's messages with
`&thread=`), and its drafts (`?view=drafts`, one opened to edit, send or delete with
`&draft=`; a reply can be saved as one), posted to /mail/drafts and sent through the API's
one send path (`api.drafts.send_saved`).

It acts for the operator's active agent (`acting`): every inbox is found through
`acting.inbox`, so another workspace's inbox or message is a 404.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dispatch_server.api import attachments as attachments_api
from dispatch_server.api import drafts as drafts_api
from dispatch_server.api import events, sends
from dispatch_server.auth import policy
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, NotFound
from dispatch_server.core.ids import is_id
from dispatch_server.domain import (
    attachments,
    drafts,
    form_nonces,
    inboxes,
    labels,
    messages,
    threads,
)
from dispatch_server.http.errors import STATUS
from dispatch_server.web import acting as acting_
from dispatch_server.web import agent_console, mail_html
from dispatch_server.web.common import (
    HEADERS,
    FormRefused,
    console_operator,
    read_form,
    redirect,
    render,
    services_of,
    text_field,
)

LIST_LIMIT = 50
MAX_INBOXES = 100  # the picker's; more are reached by ?inbox=
MAX_REPLY_CHARS = 100_000
BODY_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:{remote}; "
    "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)


class _Refused(Exception):
    """The page cannot be shown: answer this response instead."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def _acting(request: Request) -> acting_.Acting:
    operator = await console_operator(request)
    if operator is None:
        raise _Refused(redirect("/signup"))
    found = await acting_.acting_for(services_of(request), operator)
    if found is None:
        raise _Refused(render(request, "mail_no_agent.html", operator=operator))
    return found


async def _inbox(request: Request, acting: acting_.Acting, inbox_id: str) -> inboxes.Inbox:
    try:
        return await acting_.inbox(services_of(request), acting, inbox_id)
    except NotFound:
        raise _Refused(render(request, "mail_not_found.html", status=404)) from None


def _cutoff(request: Request) -> datetime:
    """Mail older than this is no longer shown (the API's rule)."""
    return messages.retention_cutoff(services_of(request).settings.storage.message_retention_days)


def _folder(request: Request) -> messages.FolderFilter:
    """The desk's list: the inbox folder, or with `?folder=trash` the trash."""
    return "trash" if request.query_params.get("folder") == "trash" else "inbox"


async def _summaries(request: Request, inbox_id: str, query: str) -> list[messages.MessageSummary]:
    return await services_of(request).db.run_read(
        messages.search,
        inbox_id,
        query,
        limit=LIST_LIMIT,
        cutoff=_cutoff(request),
        folder=_folder(request),
    )


async def _desk(
    request: Request,
    *,
    inbox_id: str | None,
    message_id: str | None,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    services = services_of(request)
    acting = await _acting(request)
    notice = notice or NOTICES.get(request.query_params.get("notice", ""))
    found = await services.db.run_read(
        inboxes.list_inboxes, acting.principal.workspace_id, limit=MAX_INBOXES, cursor=None
    )
    workspace_inboxes = list(found.items)
    if inbox_id is None:
        if not workspace_inboxes:
            return render(request, "mail_no_agent.html", operator=acting.operator)
        inbox = workspace_inboxes[0]
    else:
        inbox = await _inbox(request, acting, inbox_id)
    query = messages.search_text(request.query_params.get("q", ""))
    opened: messages.MessageWithArtifacts | None = None
    if message_id is not None:
        try:
            if not is_id(message_id):
                raise NotFound("message")
            opened = await services.db.run_read(
                messages.get_message, inbox.id, message_id, cutoff=_cutoff(request)
            )
        except NotFound:
            return render(request, "mail_not_found.html", status=404)
        await services.db.run_write(messages.mark_read, inbox.id, message_id, utcnow())
    listed = await _summaries(request, inbox.id, query)
    thread_id = request.query_params.get("thread")
    by_thread = request.query_params.get("view") == "threads" or thread_id is not None
    thread_list = thread = None
    if by_thread:
        cutoff = _cutoff(request)
        found_threads = await services.db.run_read(
            threads.list_threads, inbox.id, limit=LIST_LIMIT, cursor=None, cutoff=cutoff
        )
        thread_list = list(found_threads.items)
        if thread_id is not None:
            try:
                thread = await services.db.run_read(
                    threads.get_thread, inbox.id, thread_id, cutoff=cutoff
                )
            except NotFound:
                return render(request, "mail_not_found.html", status=404)
    draft_id = request.query_params.get("draft")
    draft_list = draft = None
    if request.query_params.get("view") == "drafts" or draft_id is not None:
        senders = policy.senders_of(acting.principal)
        found_drafts = await services.db.run_read(
            drafts.list_drafts, inbox.id, limit=LIST_LIMIT, cursor=None, senders=senders
        )
        draft_list = list(found_drafts.items)
        if draft_id is not None:
            try:
                if not is_id(draft_id):
                    raise NotFound("draft")
                draft = await services.db.run_read(
                    drafts.get_draft, inbox.id, draft_id, senders=senders
                )
            except NotFound:
                return render(request, "mail_not_found.html", status=404)
    otp_asked = request.query_params.get("otp") == "1"
    otp = await agent_console.latest_otp(services, acting, inbox.id) if otp_asked else None
    body = None
    if opened is not None and opened.message.html_body:
        body = mail_html.sanitise(opened.message.html_body, remote=False)
    files = []
    if opened is not None:
        m = opened.message
        files = [attachments.Attachment.of(m.id, i, a) for i, a in enumerate(m.attachments)]
    return render(
        request,
        "mail.html",
        status=status,
        error=error,
        notice=notice,
        operator=acting.operator,
        inboxes=workspace_inboxes,
        inbox=inbox,
        query=query,
        folder=_folder(request),
        summaries=listed,
        threads=thread_list,
        thread=thread,
        drafts=draft_list,
        draft=draft,
        opened=opened,
        body=body,
        attachments=files,
        remote=request.query_params.get("remote") == "1",
        otp=otp,
        otp_asked=otp_asked,
        nonce=form_nonces.new_nonce(),
    )


async def mail_page(request: Request) -> Response:
    try:
        return await _desk(
            request,
            inbox_id=request.query_params.get("inbox"),
            message_id=request.query_params.get("message"),
        )
    except _Refused as refused:
        return refused.response


async def mail_list(request: Request) -> Response:
    """The message list alone, which the desk's script fetches when new mail comes."""
    try:
        acting = await _acting(request)
        inbox = await _inbox(request, acting, request.query_params.get("inbox", ""))
    except _Refused:
        return HTMLResponse("", status_code=404, headers=HEADERS)
    query = messages.search_text(request.query_params.get("q", ""))
    listed = await _summaries(request, inbox.id, query)
    return render(
        request,
        "_mail_list.html",
        inbox=inbox,
        query=query,
        folder=_folder(request),
        summaries=listed,
        opened=None,
    )


async def message_body(request: Request) -> Response:
    """The opened mail's sanitised HTML alone, for the reader's sandboxed frame, with a
    policy of its own: no script, nothing remote unless `?remote=1`, framed only here."""
    try:
        acting = await _acting(request)
        inbox = await _inbox(request, acting, request.path_params["inbox_id"])
        message_id = request.path_params["message_id"]
        if not is_id(message_id):
            raise NotFound("message")
        found = await services_of(request).db.run_read(
            messages.get_message, inbox.id, message_id, cutoff=_cutoff(request)
        )
    except (_Refused, NotFound):
        return HTMLResponse("", status_code=404, headers=HEADERS)
    remote = request.query_params.get("remote") == "1"
    safe = mail_html.sanitise(found.message.html_body or "", remote=remote)
    document = f'<!doctype html><meta charset="utf-8">{safe.html}'
    return HTMLResponse(document, headers=body_headers(remote=remote))


async def attachment(request: Request) -> Response:
    """One attachment of an opened message, as the API serves it (always a download), for
    the operator's session: another workspace's inbox or message, or a bad id, is a 404."""
    services = services_of(request)
    try:
        acting = await _acting(request)
        inbox = await _inbox(request, acting, request.path_params["inbox_id"])
        message_id = request.path_params["message_id"]
        if not is_id(message_id):
            raise NotFound("message")
        try:
            position = attachments_api.attachment_id(request.path_params["attachment_id"])
        except DomainError:
            raise NotFound("attachment") from None
        found = await services.db.run_read(
            attachments.get_attachment, inbox.id, message_id, position, cutoff=_cutoff(request)
        )
    except (_Refused, NotFound):
        return HTMLResponse("", status_code=404, headers=HEADERS)
    return await attachments_api.download(services, inbox.id, found)


def body_headers(*, remote: bool) -> dict[str, str]:
    return {
        "content-security-policy": BODY_CSP.format(remote=" https: http:" if remote else ""),
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
    }


async def mail_events(request: Request) -> Response:
    """The inbox's `message.received` events, for the desk's script (session cookie)."""
    try:
        acting = await _acting(request)
        inbox = await _inbox(request, acting, request.query_params.get("inbox", ""))
    except _Refused:
        return HTMLResponse("", status_code=404, headers=HEADERS)
    services = services_of(request)
    try:
        resume = events.resume_point(request, -1)
        return await events.open_stream(
            services,
            acting.principal.workspace_id,
            inbox.id,
            types=("message.received",),
            resume=resume,
            access=_SessionAccess(),
        )
    except DomainError as error:
        return HTMLResponse(str(error), status_code=STATUS[error.code], headers=HEADERS)


class _SessionAccess:
    """The console's stream: it was allowed when opened; a session that signs out closes
    the page, and with it the stream."""

    def held(self) -> AbstractContextManager[object]:
        return nullcontext()

    async def still_allowed(self) -> bool:
        return True


async def mail_post(request: Request) -> Response:
    """The reader's forms: reply (once per rendered form), mark unread, trash and untrash,
    spam and not spam, add and remove a label (the rules are domain.labels'), the latest
    OTP."""
    services = services_of(request)
    try:
        acting = await _acting(request)
    except _Refused as refused:
        return refused.response
    inbox_id = request.query_params.get("inbox", "")
    message_id = request.query_params.get("message")
    try:
        form = await read_form(request)
        inbox_id = text_field(form, "inbox_id") or inbox_id
        message_id = text_field(form, "message_id") or message_id
        inbox = await _inbox(request, acting, inbox_id)
        action = text_field(form, "action")
        back = f"/mail?inbox={inbox.id}" + (f"&message={message_id}" if message_id else "")
        if message_id is None or not is_id(message_id):
            raise NotFound("message")
        if action == "mark_unread":
            await services.db.run_write(messages.mark_unread, inbox.id, message_id)
            return redirect(f"/mail?inbox={inbox.id}&notice=unread")
        if action in _CHANGES:
            await _organize(request, inbox.id, message_id, action, form)
            return redirect(back + f"&notice={action}")
        if action == "reply":
            return await _reply(request, acting, inbox, message_id, form, back)
        raise FormRefused(400, "unknown form")
    except _Refused as refused:
        return refused.response
    except NotFound:
        return render(request, "mail_not_found.html", status=404)
    except FormRefused as refused:
        return await _desk(
            request,
            inbox_id=inbox_id or None,
            message_id=message_id,
            status=refused.status,
            error=str(refused),
        )
    except DomainError as error:
        return await _desk(
            request,
            inbox_id=inbox_id or None,
            message_id=message_id,
            status=STATUS[error.code],
            error=str(error),
        )


_CHANGES = ("trash", "untrash", "spam", "not_spam", "label_add", "label_remove")


async def _organize(
    request: Request, inbox_id: str, message_id: str, action: str, form: dict[str, str]
) -> None:
    """One of the reader's state forms (`_CHANGES`), as the API's PATCH would make it."""
    name = text_field(form, "label")
    change = {
        "trash": lambda: labels.change(trash=True),
        "untrash": lambda: labels.change(trash=False),
        "spam": lambda: labels.change(spam=True),
        "not_spam": lambda: labels.change(spam=False),
        "label_add": lambda: labels.change(add=[name]),
        "label_remove": lambda: labels.change(remove=[name]),
    }[action]()
    await services_of(request).db.run_write(
        labels.apply,
        inbox_id,
        [message_id],
        change,
        now=utcnow(),
        cutoff=_cutoff(request),
        senders=None,
        memory=True,
        ids_param=None,
    )


async def _reply(
    request: Request,
    acting: acting_.Acting,
    inbox: inboxes.Inbox,
    message_id: str,
    form: dict[str, str],
    back: str,
) -> Response:
    services = services_of(request)
    text = text_field(form, "text")
    nonce = text_field(form, "nonce")
    if not text.strip():
        raise FormRefused(400, "write the reply first")
    if len(text) > MAX_REPLY_CHARS:
        raise FormRefused(400, f"a reply is at most {MAX_REPLY_CHARS} characters")
    if not form_nonces.is_nonce(nonce):
        raise FormRefused(400, "the form is incomplete: reload the page")
    operator_id = acting.operator.id
    if not await services.db.run_write(form_nonces.use, nonce, operator_id, now=utcnow()):
        return redirect(back + "&notice=already_sent")
    try:
        await sends.reply_to(
            services,
            acting.principal,
            inbox.id,
            message_id,
            text=text,
            reply_all=form.get("reply_all") == "on",
        )
    except DomainError:
        await services.db.run_write(form_nonces.give_back, nonce, operator_id)
        raise
    return redirect(back + "&notice=sent")


async def _save_reply(
    request: Request,
    acting: acting_.Acting,
    inbox: inboxes.Inbox,
    message_id: str,
    form: dict[str, str],
) -> Response:
    """The reply form's text saved as a draft of the reply (to, subject and thread as
    `sends.reply_fields` makes them), opened in the drafts view."""
    services = services_of(request)
    text = text_field(form, "text")
    if len(text) > MAX_REPLY_CHARS:
        raise FormRefused(400, f"a reply is at most {MAX_REPLY_CHARS} characters")
    reply = await sends.reply_fields(
        services,
        acting.principal,
        inbox.id,
        message_id,
        text=text,
        reply_all=form.get("reply_all") == "on",
    )
    fields = drafts.DraftFields(
        to=reply.to,
        cc=reply.cc,
        subject=reply.subject,
        text=reply.text,
        in_reply_to=reply.in_reply_to,
    )
    draft = await _create_draft(request, acting, inbox, fields)
    return redirect(f"/mail?inbox={inbox.id}&view=drafts&draft={draft.id}&notice=draft_saved")


async def _create_draft(
    request: Request, acting: acting_.Acting, inbox: inboxes.Inbox, fields: drafts.DraftFields
) -> drafts.Draft:
    services = services_of(request)
    created: drafts.Draft = await services.db.run_write(
        drafts.create_draft,
        acting.principal.workspace_id,
        inbox.id,
        fields,
        now=utcnow(),
        max_recipients=services.settings.outbound.max_recipients,
        senders=policy.senders_of(acting.principal),
    )
    return created


def _addresses(value: str) -> tuple[str, ...]:
    """A form's address field: addresses separated by commas."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _draft_fields(form: dict[str, str]) -> drafts.DraftFields:
    text = text_field(form, "text")
    if len(text) > MAX_REPLY_CHARS:
        raise FormRefused(400, f"a draft's text is at most {MAX_REPLY_CHARS} characters")
    return drafts.DraftFields(
        to=_addresses(text_field(form, "to")),
        cc=_addresses(text_field(form, "cc")),
        subject=text_field(form, "subject"),
        text=text or None,
    )


async def drafts_post(request: Request) -> Response:
    """The drafts' forms: a new draft, a reply saved as one, and an opened one saved, sent
    (once per rendered form) or deleted."""
    services = services_of(request)
    try:
        acting = await _acting(request)
    except _Refused as refused:
        return refused.response
    inbox_id = request.query_params.get("inbox", "")
    try:
        form = await read_form(request)
        inbox = await _inbox(request, acting, text_field(form, "inbox_id") or inbox_id)
        inbox_id = inbox.id
        # The button's own action (`?do=`): a form has one `action` field for its buttons.
        action = request.query_params.get("do", "")
        back = f"/mail?inbox={inbox.id}&view=drafts"
        if action == "save_reply":
            message_id = text_field(form, "message_id")
            if not is_id(message_id):
                raise NotFound("message")
            return await _save_reply(request, acting, inbox, message_id, form)
        if action == "create":
            draft = await _create_draft(request, acting, inbox, _draft_fields(form))
            return redirect(f"{back}&draft={draft.id}&notice=draft_saved")
        draft_id = text_field(form, "draft_id")
        if not is_id(draft_id):
            raise NotFound("draft")
        senders = policy.senders_of(acting.principal)
        if action == "delete":
            await services.db.run_write(drafts.delete_draft, inbox.id, draft_id, senders=senders)
            return redirect(f"{back}&notice=draft_deleted")
        if action not in ("save", "send"):
            raise FormRefused(400, "unknown form")
        version = text_field(form, "version")
        if not version.isdigit() or len(version) > 12:
            raise FormRefused(400, "the form is incomplete: reload the page")
        nonce = text_field(form, "nonce")
        operator_id = acting.operator.id
        if action == "send":
            if not form_nonces.is_nonce(nonce):
                raise FormRefused(400, "the form is incomplete: reload the page")
            if not await services.db.run_write(form_nonces.use, nonce, operator_id, now=utcnow()):
                return redirect(f"{back}&notice=already_sent")
        try:
            edited = _draft_fields(form)  # the fields the form shows; the others are kept
            changes = {
                "to": edited.to,
                "cc": edited.cc,
                "subject": edited.subject,
                "text": edited.text,
            }
            await services.db.run_write(
                drafts.update_draft,
                inbox.id,
                draft_id,
                changes,
                version=int(version),
                now=utcnow(),
                max_recipients=services.settings.outbound.max_recipients,
                senders=senders,
            )
            if action == "save":
                return redirect(f"{back}&draft={draft_id}&notice=draft_saved")
            await drafts_api.send_saved(services, acting.principal, inbox.id, draft_id)
        except (DomainError, FormRefused):
            if action == "send":
                await services.db.run_write(form_nonces.give_back, nonce, operator_id)
            raise
        return redirect(f"{back}&notice=draft_sent")
    except _Refused as refused:
        return refused.response
    except NotFound:
        return render(request, "mail_not_found.html", status=404)
    except (FormRefused, DomainError) as error:
        status = error.status if isinstance(error, FormRefused) else STATUS[error.code]
        return await _desk(
            request,
            inbox_id=inbox_id or None,
            message_id=request.query_params.get("message"),
            status=status,
            error=str(error),
        )


NOTICES = {
    "draft_saved": "Draft saved.",
    "draft_sent": "Draft sent.",
    "draft_deleted": "Draft deleted.",
    "sent": "Reply sent.",
    "already_sent": "This reply was already sent: it was not sent again.",
    "unread": "Marked unread.",
    "trash": "Moved to the trash.",
    "untrash": "Taken out of the trash.",
    "spam": "Moved to spam.",
    "not_spam": "Moved to the inbox.",
    "label_add": "Label added.",
    "label_remove": "Label removed.",
}
