"""Signup, inboxes and inbox keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.auth import Principal, Scope
from dispatch_server.domain import workspaces
from dispatch_server.http import (
    context,
    json_body,
    json_response,
    keyed,
    optional_str,
    page_response,
    query_cursor,
    query_limit,
)
from dispatch_server.views import agent_view, inbox_view, key_view, workspace_view


async def agent_signup(request: Request) -> Response:
    body = await json_body(request)
    name = optional_str(body, "name")
    local_part = optional_str(body, "local_part", max_length=64)
    ctx = context(request)
    result = await ctx.db.run_write(
        workspaces.signup, domain=ctx.settings.inbox_domain, name=name, local_part=local_part
    )
    return json_response(
        {
            "workspace": workspace_view(result.workspace),
            "agent": agent_view(result.agent),
            "inbox": inbox_view(result.inbox),
            "account_key": result.account_key,
            "inbox_key": result.inbox_key,
        },
        status=201,
    )


@keyed(Scope.ACCOUNT)
async def list_inboxes(request: Request, principal: Principal) -> Response:
    rows, next_cursor = await context(request).db.run_read(
        workspaces.list_inboxes,
        principal.workspace_id,
        limit=query_limit(request),
        cursor=query_cursor(request, "inbox"),
    )
    return page_response([inbox_view(row) for row in rows], next_cursor)


@keyed(Scope.ACCOUNT)
async def create_inbox(request: Request, principal: Principal) -> Response:
    body = await json_body(request)
    local_part = optional_str(body, "local_part", max_length=64)
    display_name = optional_str(body, "display_name")
    ctx = context(request)
    inbox = await ctx.db.run_write(
        workspaces.create_inbox,
        workspace_id=principal.workspace_id,
        agent_id=principal.agent_id,
        domain=ctx.settings.inbox_domain,
        local_part=local_part,
        display_name=display_name,
        enforce_multi_inbox_upgrade=ctx.settings.enforce_multi_inbox_upgrade,
    )
    return json_response(inbox_view(inbox), status=201)


@keyed(Scope.INBOX_OR_ACCOUNT)
async def get_inbox(request: Request, principal: Principal) -> Response:
    inbox = await context(request).db.run_read(
        workspaces.get_inbox, principal.workspace_id, request.path_params["inbox_id"]
    )
    return json_response(inbox_view(inbox))


@keyed(Scope.ACCOUNT)
async def create_inbox_key(request: Request, principal: Principal) -> Response:
    body = await json_body(request)
    label = optional_str(body, "label")
    key = await context(request).db.run_write(
        workspaces.mint_inbox_key,
        workspace_id=principal.workspace_id,
        inbox_id=request.path_params["inbox_id"],
        label=label,
    )
    return json_response(key_view(key), status=201)


@keyed(Scope.ACCOUNT)
async def list_inbox_keys(request: Request, principal: Principal) -> Response:
    rows, next_cursor = await context(request).db.run_read(
        workspaces.list_inbox_keys,
        principal.workspace_id,
        request.path_params["inbox_id"],
        limit=query_limit(request),
        cursor=query_cursor(request, "key"),
    )
    return page_response([key_view(row) for row in rows], next_cursor)


@keyed(Scope.ACCOUNT)
async def revoke_inbox_key(request: Request, principal: Principal) -> Response:
    key = await context(request).db.run_write(
        workspaces.revoke_inbox_key,
        principal.workspace_id,
        request.path_params["inbox_id"],
        request.path_params["key_id"],
    )
    return json_response(key_view(key))
