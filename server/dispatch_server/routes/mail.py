"""Reading an inbox: messages, raw MIME, artifacts, the latest OTP, and the server-side wait."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.auth import Principal, Scope
from dispatch_server.clock import parse_timestamp, utcnow
from dispatch_server.domain import messages as m
from dispatch_server.errors import bad_request
from dispatch_server.http import (
    context,
    json_response,
    keyed,
    page_response,
    query_choice,
    query_cursor,
    query_float,
    query_limit,
)
from dispatch_server.views import artifact_view, message_view, otp_view


def _cutoff(request: Request) -> datetime:
    return m.retention_cutoff(context(request).settings.message_retention_days)


def _message_with_artifacts(row: Any, artifacts: list[Any]) -> dict[str, Any]:
    return {**message_view(row), "artifacts": [artifact_view(a) for a in artifacts]}


def _folder(request: Request) -> str:
    return query_choice(request, "folder", m.FOLDERS, default="inbox")


@keyed(Scope.INBOX)
async def list_messages(request: Request, principal: Principal) -> Response:
    rows, next_cursor = await context(request).db.run_read(
        m.list_messages,
        request.path_params["inbox_id"],
        folder=_folder(request),
        limit=query_limit(request),
        cursor=query_cursor(request, "message"),
        cutoff=_cutoff(request),
    )
    return page_response([message_view(row) for row in rows], next_cursor)


@keyed(Scope.INBOX)
async def get_message(request: Request, principal: Principal) -> Response:
    inbox_id, message_id = request.path_params["inbox_id"], request.path_params["message_id"]
    row, artifacts = await context(request).db.run_read(
        m.get_message_with_artifacts, inbox_id, message_id, cutoff=_cutoff(request)
    )
    return json_response(_message_with_artifacts(row, artifacts))


@keyed(Scope.INBOX)
async def get_raw_message(request: Request, principal: Principal) -> Response:
    inbox_id, message_id = request.path_params["inbox_id"], request.path_params["message_id"]
    raw = await context(request).db.run_read(
        m.get_raw, inbox_id, message_id, cutoff=_cutoff(request)
    )
    return Response(raw, media_type="message/rfc822")


@keyed(Scope.INBOX)
async def list_artifacts(request: Request, principal: Principal) -> Response:
    rows, next_cursor = await context(request).db.run_read(
        m.list_artifacts,
        request.path_params["inbox_id"],
        kind=query_choice(request, "kind", m.ARTIFACT_KINDS, default=None),
        limit=query_limit(request),
        cursor=query_cursor(request, "artifact"),
        cutoff=_cutoff(request),
    )
    return page_response([artifact_view(row) for row in rows], next_cursor)


@keyed(Scope.INBOX)
async def latest_otp(request: Request, principal: Principal) -> Response:
    row = await context(request).db.run_read(
        m.latest_otp, request.path_params["inbox_id"], cutoff=_cutoff(request)
    )
    return json_response(
        {"otp": otp_view(row.value, row.message_id, row) if row is not None else None}
    )


def _since(raw: str) -> datetime:
    # An unencoded "+" in a query string arrives as a space: "...T09:30:00 01:00".
    try:
        return parse_timestamp(raw.replace(" ", "+"))
    except ValueError as exc:
        raise bad_request(f"since: {exc}") from None


def _wait_filter(request: Request) -> m.WaitFilter:
    params = request.query_params
    after = query_cursor(request, "message", "after")
    since_raw = params.get("since")
    if after is not None and since_raw:
        raise bad_request("give after or since, not both")
    lookback = timedelta(seconds=context(request).settings.wait_lookback_seconds)
    since = _since(since_raw) if since_raw else utcnow() - lookback
    return m.WaitFilter(
        kind=query_choice(request, "kind", m.WAIT_KINDS, default="message"),
        folder=_folder(request),
        after=after,
        since=since,
        from_contains=params.get("from") or None,
        subject_contains=params.get("subject") or None,
    )


@keyed(Scope.INBOX)
async def wait(request: Request, principal: Principal) -> Response:
    ctx = context(request)
    inbox_id = request.path_params["inbox_id"]
    wait_filter = _wait_filter(request)
    # A longer timeout than the server allows is shortened, not refused: running out of time is
    # a normal answer anyway, and clients need not know the server's limit.
    timeout = min(
        query_float(request, "timeout", default=30.0, low=0.0),
        ctx.settings.wait_max_seconds,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    cutoff = _cutoff(request)
    # Subscribe before the first look, so a message committed in between still wakes us.
    async with ctx.hub.subscribe(inbox_id) as subscription:
        while True:
            match = await ctx.db.run_read(m.find_wait_match, inbox_id, wait_filter, cutoff=cutoff)
            if match is not None:
                return json_response(_matched(*match))
            remaining = deadline - loop.time()
            if remaining <= 0 or await request.is_disconnected():
                break
            await subscription.wait(min(remaining, ctx.settings.wait_recheck_seconds))
    unmatched = await ctx.db.run_read(m.count_unmatched, inbox_id, wait_filter, cutoff=cutoff)
    resume = wait_filter.after or m.Cursor("message", wait_filter.since, "")
    return json_response(
        {
            "matched": False,
            "message": None,
            "otp": None,
            "link": None,
            "cursor": resume.encode(),
            "unmatched_count": unmatched,
        }
    )


def _matched(row: Any, artifacts: list[Any]) -> dict[str, Any]:
    otp = next((a for a in artifacts if a.kind == "otp" and a.is_primary), None)
    links = [a for a in artifacts if a.kind == "link"]
    link = next((a for a in links if a.is_primary), links[0] if links else None)
    return {
        "matched": True,
        "message": _message_with_artifacts(row, artifacts),
        "otp": otp_view(otp.value, row.id, row) if otp is not None else None,
        "link": artifact_view(link) if link is not None else None,
        "cursor": m.Cursor.of("message", row).encode(),
        "unmatched_count": 0,
    }
