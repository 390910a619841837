"""The server itself over real HTTP: health, readiness, the OpenAPI document, request ids,
unknown routes, and the error catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from starlette.routing import Route

from tests.conftest import LiveServer
from tests.helpers import error_code


def test_health_and_ready(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.base_url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.base_url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_unknown_route_and_method_are_json(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/v1/nope")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = httpx.delete(f"{live_server.base_url}/v1/agent/signup")
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")


def test_openapi_document_lists_exactly_the_served_routes(live_server: LiveServer) -> None:
    from dispatch_server import web
    from dispatch_server.app import create_app
    from dispatch_server.http.endpoints import documented_path
    from tests.conftest import make_settings

    app = create_app(make_settings(live_server.database_url))
    document = httpx.get(f"{live_server.base_url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    from dispatch_server.http import mcp

    # The console's pages, and the MCP endpoint (JSON-RPC, described by its own tools/list).
    console = {route.path for route in web.routes() if isinstance(route, Route)} | {mcp.PATH}
    served = {
        (documented_path(route.path), method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path not in console
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
    text = str(document)
    for ref in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert ref in document["components"]["schemas"], ref


def test_every_response_has_a_request_id(live_server: LiveServer) -> None:
    base = live_server.base_url
    responses = [
        httpx.get(f"{base}/health"),
        httpx.get(f"{base}/v1/nope"),
        httpx.get(f"{base}/v1/inboxes"),
        httpx.get(f"{base}/v1/inboxes/a%00b"),
        httpx.post(f"{base}/v1/agent/signup", content=b"{"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    echoed = httpx.get(f"{base}/health", headers={"x-request-id": "client-7f3a"})
    assert echoed.headers["x-request-id"] == "client-7f3a"


def _documented_error_codes() -> list[tuple[int, str, str]]:
    """The rows of the error table in docs/api.md: (status, code, when)."""
    docs = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \| (.*) \|$", docs, flags=re.M)
    return [(int(status), code, when) for status, code, when in rows]


def test_the_error_table_is_the_catalogue() -> None:
    """docs/api.md lists every code of the catalogue once, with its status and sentence."""
    from dispatch_server.core.errors import ErrorCode
    from dispatch_server.http.errors import STATUS

    catalogue = [(STATUS[code], str(code), code.description) for code in ErrorCode]
    assert sorted(_documented_error_codes()) == sorted(catalogue)


def test_every_error_code_has_an_http_status_and_the_smtp_door_maps_its_own() -> None:
    from dispatch_server.core.errors import ErrorCode
    from dispatch_server.http.errors import STATUS
    from dispatch_server.ingest.doors.smtp import REPLIES

    assert set(STATUS) == set(ErrorCode)
    assert all(400 <= status < 600 for status in STATUS.values())
    assert all(reply[0] in "45" for reply in REPLIES.values())
