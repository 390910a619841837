"""The console's mail desk at /mail: an inbox's messages (unread in bold), search, a reader
(HTML mail in a sandboxed frame of its own, see `mail_html`; attachments as downloads, as
the API serves them), reply, the latest OTP, new mail shown live from the workspace's event
stream, and the inbox's mail by thread (`?view=threads`, one thread's messages with
`&thread=`).

It acts for the operator's active agent (`acting`): every inbox is found through
`acting.inbox`, so another workspace's inbox or message is a 404.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dispatch_server.api import attachments as attachments_api
from dispatch_server.api import events, sends
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, NotFound
from dispatch_server.core.ids import is_id
from dispatch_server.domain import attachments, form_nonces, inboxes, labels, messages, threads
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


NOTICES = {
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
