"""The console's allow and block lists page (/console/lists): the active agent's
workspace-wide entries and each inbox's own, added and removed by the operator.

Each form calls what the API's routes call (dispatch_server.domain.lists, in the agent's
workspace), so a bad pattern is refused with the API's own message; a change answers with a
redirect (POST, then redirect, then GET), so reloading the page does not do it again.
Adding is safe to repeat (the same entry again is `list_entry_exists`) and removing too (a
second time is a 404), so these forms carry no nonce.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.api import auth
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, InvalidInput, NotFound
from dispatch_server.core.ids import is_id
from dispatch_server.domain import lists
from dispatch_server.http.errors import STATUS
from dispatch_server.web import agent_console
from dispatch_server.web.acting import Acting, acting_for
from dispatch_server.web.common import (
    FormRefused,
    console_operator,
    read_form,
    redirect,
    render,
    services_of,
    text_field,
)

PATH = "/console/lists"
MAX_SHOWN = 500  # the newest entries the page shows; the API and the CLI list them all


async def _page(
    request: Request,
    acting: Acting | None,
    *,
    status: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    services = services_of(request)
    operator = await console_operator(request)
    context: dict[str, Any] = {}
    if acting is not None:
        found = await services.db.run_read(
            lists.list_entries,
            acting.principal.workspace_id,
            inbox_id=None,
            direction=None,
            limit=MAX_SHOWN,
            cursor=None,
        )
        boxes = await agent_console.listed_inboxes(services, acting)
        entries = list(found.items)
        context = {
            "inboxes": boxes.items,
            "workspace_entries": [e for e in entries if e.inbox_id is None],
            "inbox_entries": {
                box.id: [e for e in entries if e.inbox_id == box.id] for box in boxes.items
            },
            "more": found.next_cursor is not None,
            "notice": _notice(request.query_params, entries),
        }
    return render(
        request,
        "lists.html",
        status=status,
        operator=operator,
        acting=acting,
        is_admin=operator is not None and auth.is_admin_operator(services, operator),
        error=error,
        typed=typed or {},
        directions=lists.DIRECTIONS,
        actions=lists.ACTIONS,
        **context,
    )


def _notice(query: Any, entries: list[lists.Entry]) -> str | None:
    """What the redirect after a change says: the entry added is looked up among the
    workspace's (nothing the URL says is shown as given)."""
    if "removed" in query:
        return "removed the entry"
    added = query.get("added", "")
    entry = next((e for e in entries if e.id == added), None)
    if entry is None:
        return None
    return f"{entry.action}ed {entry.pattern} ({entry.direction})"


async def lists_page(request: Request) -> Response:
    operator = await console_operator(request)
    if operator is None:
        return redirect("/signup")
    return await _page(request, await acting_for(services_of(request), operator))


async def lists_post(request: Request) -> Response:
    """Add an entry (`add`) or remove one (`remove`) for the active agent's workspace."""
    services = services_of(request)
    operator = await console_operator(request)
    if operator is None:
        return redirect("/signup")
    acting = await acting_for(services, operator)
    try:
        form = await read_form(request)
    except FormRefused as refused:
        return await _page(request, acting, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _page(request, acting, status=STATUS[error.code], error=str(error))
    if acting is None:
        return await _page(request, None, status=409, error="claim an agent first")
    action = text_field(form, "action")
    workspace_id = acting.principal.workspace_id
    try:
        if action == "add":
            entry = await services.db.run_write(
                lists.add,
                workspace_id,
                inbox_id=_scope(form),
                direction=_choice(form, "direction", lists.DIRECTIONS),
                action=_choice(form, "list_action", lists.ACTIONS),
                raw_pattern=text_field(form, "pattern"),
                now=utcnow(),
            )
            return redirect(f"{PATH}?added={entry.id}")
        if action == "remove":
            entry_id = text_field(form, "entry_id")
            if not is_id(entry_id):
                raise NotFound("list entry")
            await services.db.run_write(lists.delete, workspace_id, entry_id)
            return redirect(f"{PATH}?removed=1")
        raise FormRefused(400, "unknown form")
    except FormRefused as refused:
        return await _page(request, acting, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _page(request, acting, status=STATUS[error.code], error=str(error), typed=form)


def _scope(form: dict[str, str]) -> str | None:
    """The inbox the entry is for (an id of the workspace, checked by lists.add), or None
    for every inbox."""
    value = text_field(form, "scope")
    if value in ("", lists.WORKSPACE_SCOPE):
        return None
    if not is_id(value):
        raise InvalidInput("inbox_id names no inbox of this workspace", param="inbox_id")
    return value


def _choice(form: dict[str, str], name: str, allowed: tuple[Any, ...]) -> Any:
    value = text_field(form, name)
    if value not in allowed:
        raise InvalidInput(f"{name} is one of {', '.join(allowed)}", param=name)
    return value
