"""The legacy domains over real HTTP on both databases: `/user` (profile, picture upload and
removal), `/device` (CRUD, batch updates all or nothing) and `/file` (served and deleted only
for its owner). Hostile input as classes: tokens, other operators' ids, oversized and
mistyped uploads, bytes that lie about their type, path-traversal attempts in every field,
big and duplicated batches, and bytes gone from disk."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server import api
from dispatch_server.assets.store import AssetStore
from dispatch_server.auth.operators import issue_token
from dispatch_server.db import tables as t
from tests.conftest import BACKENDS, LiveServer
from tests.helpers import bearer, error_code
from tests.server.api.operator_helpers import JWT_SECRET, Mailbox, operator, serve

MAX_UPLOAD = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
GIF = b"GIF89a" + bytes(64)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(64)
STORED = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")
PLATFORMS = ("ios", "android", "web", "macos", "windows", "linux")


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(
        request,
        tmp_path_factory,
        DISPATCH_ASSETS_PATH=tmp_path_factory.mktemp("legacy") / "assets",
        DISPATCH_MAX_UPLOAD_BYTES=MAX_UPLOAD,
    )


@pytest.fixture
def assets(server: LiveServer) -> Path:
    return Path(server.settings.assets.path)


def token_for(server: LiveServer) -> str:
    """A new operator's token (unverified: the legacy routes do not ask)."""
    token: str = operator(server, Mailbox(server))["access_token"]
    return token


@pytest.fixture
def token(server: LiveServer) -> str:
    return token_for(server)


def call(
    server: LiveServer, method: str, path: str, token: str | None, **kwargs: Any
) -> httpx.Response:
    headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, timeout=30, **kwargs)


def upload(
    server: LiveServer,
    token: str,
    data: Any,
    content_type: str | bytes | None = "image/png",
    **headers: str | bytes,
) -> httpx.Response:
    if content_type is not None:
        headers["content-type"] = content_type
    return call(server, "PUT", "/user/picture", token, content=data, headers=headers)


def refused(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"].get("param") == param


def stored(assets: Path) -> set[str]:
    """The files on disk, relative to the assets path; each must be a name the server made."""
    if not assets.exists():
        return set()
    names = {str(path.relative_to(assets)) for path in assets.rglob("*") if path.is_file()}
    assert all(STORED.fullmatch(name) for name in names), names
    return names


def on_disk(server: LiveServer, file_id: str) -> Path:
    """Where a file's bytes are, by its record's storage name (the API does not show it)."""

    async def read() -> str:
        engine = create_async_engine(server.database_url)
        try:
            async with engine.connect() as conn:
                name = await conn.scalar(
                    sa.select(t.files.c.storage_name).where(t.files.c.id == file_id)
                )
        finally:
            await engine.dispose()
        assert isinstance(name, str)
        return name

    return AssetStore(server.settings.assets.path).path_of(asyncio.run(read()))


# --- /user -------------------------------------------------------------------------------


def test_a_profile_starts_empty_and_changes_field_by_field(server: LiveServer, token: str) -> None:
    profile = call(server, "GET", "/user", token).json()
    assert (profile["display_name"], profile["timezone"], profile["picture"]) == (None, None, None)
    assert profile["updated_at"] is None and profile["email_verified"] is False
    changed = call(
        server,
        "PATCH",
        "/user",
        token,
        json={"display_name": "  Ada  ", "timezone": "Europe/Paris"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["display_name"], changed.json()["timezone"]) == ("Ada", "Europe/Paris")
    kept = call(server, "PATCH", "/user", token, json={}).json()
    assert (kept["display_name"], kept["timezone"]) == ("Ada", "Europe/Paris")
    cleared = call(server, "PATCH", "/user", token, json={"display_name": ""}).json()
    assert (cleared["display_name"], cleared["timezone"]) == (None, "Europe/Paris")
    assert call(server, "GET", "/user", token).json() == cleared


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"display_name": "x" * 101}, "display_name"),
        ({"display_name": "a\x07b"}, "display_name"),
        ({"display_name": 5}, "display_name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../../../etc/passwd"}, "timezone"),
        ({"timezone": "/etc/localtime"}, "timezone"),
        ({"timezone": "Europe\u2215Paris"}, "timezone"),
        ({"timezone": ["Europe/Paris"]}, "timezone"),
    ],
)
def test_bad_profile_fields_are_400_naming_them(
    server: LiveServer, token: str, body: dict[str, Any], param: str
) -> None:
    refused(call(server, "PATCH", "/user", token, json=body), 400, "invalid_request", param)


def test_a_picture_is_uploaded_served_replaced_and_removed(
    server: LiveServer, token: str, assets: Path
) -> None:
    before = stored(assets)
    response = upload(server, token, PNG)
    assert response.status_code == 200, response.text
    picture = response.json()["picture"]
    assert (picture["content_type"], picture["size_bytes"]) == ("image/png", len(PNG))
    assert picture["url"] == f"/file/{picture['id']}"
    served = call(server, "GET", picture["url"], token)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    first_path = on_disk(server, picture["id"])
    assert len(stored(assets) - before) == 1

    replaced = upload(server, token, JPEG, "image/jpeg; charset=binary").json()["picture"]
    assert replaced["id"] != picture["id"] and replaced["content_type"] == "image/jpeg"
    refused(call(server, "GET", picture["url"], token), 404, "not_found")
    assert not first_path.exists() and len(stored(assets) - before) == 1
    assert call(server, "GET", replaced["url"], token).content == JPEG

    removed = call(server, "DELETE", "/user/picture", token)
    assert removed.status_code == 200 and removed.json()["picture"] is None
    refused(call(server, "GET", replaced["url"], token), 404, "not_found")
    assert stored(assets) == before
    again = call(server, "DELETE", "/user/picture", token)
    assert again.status_code == 200 and again.json()["picture"] is None


@pytest.mark.parametrize(("data", "content_type"), [(GIF, "image/gif"), (WEBP, "image/webp")])
def test_every_allowed_type_is_taken(
    server: LiveServer, token: str, data: bytes, content_type: str
) -> None:
    response = upload(server, token, data, content_type)
    assert response.status_code == 200, response.text
    assert call(server, "GET", response.json()["picture"]["url"], token).content == data


# --- /file -------------------------------------------------------------------------------


def test_deleting_a_file_deletes_its_record_and_its_bytes(
    server: LiveServer, token: str, assets: Path
) -> None:
    picture = upload(server, token, PNG).json()["picture"]
    path = on_disk(server, picture["id"])
    deleted = call(server, "DELETE", f"/file/{picture['id']}", token)
    assert deleted.status_code == 200 and deleted.json()["id"] == picture["id"]
    assert not path.exists()
    assert call(server, "GET", "/user", token).json()["picture"] is None
    refused(call(server, "GET", f"/file/{picture['id']}", token), 404, "not_found")
    refused(call(server, "DELETE", f"/file/{picture['id']}", token), 404, "not_found")


def test_bytes_gone_from_disk_are_a_404_and_the_record_can_still_be_deleted(
    server: LiveServer, token: str, assets: Path
) -> None:
    picture = upload(server, token, PNG).json()["picture"]
    on_disk(server, picture["id"]).unlink()
    refused(call(server, "GET", f"/file/{picture['id']}", token), 404, "not_found")
    assert call(server, "GET", "/user", token).json()["picture"]["id"] == picture["id"]
    assert call(server, "DELETE", f"/file/{picture['id']}", token).status_code == 200
    assert call(server, "GET", "/user", token).json()["picture"] is None


def test_another_operators_file_is_a_404_like_an_unknown_one(
    server: LiveServer, token: str
) -> None:
    picture = upload(server, token, PNG).json()["picture"]
    other = token_for(server)
    unknown = call(server, "GET", "/file/00000000-0000-4000-8000-000000000000", other)
    for method in ("GET", "DELETE"):
        foreign = call(server, method, picture["url"], other)
        refused(foreign, 404, "not_found")
        assert foreign.json() == unknown.json()
    assert call(server, "GET", picture["url"], token).content == PNG


# --- upload refusals ---------------------------------------------------------------------


def test_oversized_uploads_are_413_declared_or_streamed(
    server: LiveServer, token: str, assets: Path
) -> None:
    before = stored(assets)
    big = PNG + bytes(MAX_UPLOAD)
    refused(upload(server, token, big), 413, "file_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while it streams
        yield PNG
        for _ in range(MAX_UPLOAD // 512 + 2):
            yield bytes(512)

    refused(upload(server, token, chunked()), 413, "file_too_large")
    assert upload(server, token, PNG + bytes(MAX_UPLOAD - len(PNG))).status_code == 200
    assert call(server, "DELETE", "/user/picture", token).status_code == 200
    assert stored(assets) == before


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/html",
        "image/svg+xml",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "image/png/../../../etc/passwd",
        "image/*",
        "image/png\u2215x",
    ],
)
def test_content_types_outside_the_allow_list_are_415(
    server: LiveServer, token: str, content_type: str | None
) -> None:
    headers: dict[str, bytes] = {}
    if content_type is not None:
        headers["content-type"] = content_type.encode()
    response = call(server, "PUT", "/user/picture", token, content=PNG, headers=headers)
    refused(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (JPEG, "image/png"),
        (PNG, "image/jpeg"),
        (GIF, "image/webp"),
        (b"<html><script>alert(1)</script></html>", "image/png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/gif"),
        (b"", "image/png"),
        (PNG[:7], "image/png"),
        (b"RIFF\x10\x00\x00\x00WAVE" + bytes(16), "image/webp"),
    ],
)
def test_bytes_that_are_not_the_declared_type_are_422(
    server: LiveServer, token: str, assets: Path, data: bytes, content_type: str
) -> None:
    before = stored(assets)
    refused(upload(server, token, data, content_type), 422, "file_content_mismatch")
    assert stored(assets) == before
    assert call(server, "GET", "/user", token).json()["picture"] is None


# --- path traversal, as a class --------------------------------------------------------------

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..",
    ".",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "C:\\Windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2F..%2Fetc%2Fpasswd",
    "%252e%252e%252f",
    "a\x00b",
    "..\u2215..\u2215etc\u2215passwd",  # division slash
    "..\uff0f..\uff0fetc",  # fullwidth solidus
    "\u2025/\u2024/",  # two- and one-dot leaders
    "~/.ssh/id_rsa",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_no_field_reaches_a_path(
    server: LiveServer, token: str, assets: Path, hostile: str
) -> None:
    """Every field that could name a file (the id in /file's URL, the upload's headers, the
    profile's and devices' text) is refused or stored as text; the bytes on disk are only
    ever under names the server made, inside the assets path."""
    outside = set(assets.parent.iterdir()) - {assets}
    for method in ("GET", "DELETE"):
        for safe in ("", "/"):
            response = call(server, method, f"/file/{quote(hostile, safe=safe)}", token)
            if response.request.url.path.startswith("/file/"):
                assert response.status_code in (400, 404, 405), response.text
            else:  # the client resolved the dots ("/file/.." is "/"): another page, no file
                assert response.status_code in (200, 404, 405), response.text
                assert not response.headers.get("content-type", "").startswith("image/")
    header = hostile.replace("\x00", "").encode()
    response = upload(
        server,
        token,
        PNG,
        b"image/png; name=" + header,
        **{"content-disposition": b'attachment; filename="' + header + b'"', "x-file-name": header},
    )
    assert response.status_code == 200, response.text
    assert response.json()["picture"]["url"] == f"/file/{response.json()['picture']['id']}"
    for body in ({"display_name": hostile}, {"timezone": hostile}):
        assert call(server, "PATCH", "/user", token, json=body).status_code in (200, 400)
    created = call(
        server,
        "POST",
        "/device",
        token,
        json={"name": hostile, "platform": "ios", "push_token": hostile},
    )
    assert created.status_code in (201, 400), created.text
    refused(
        call(server, "POST", "/device", token, json={"name": "x", "platform": hostile}),
        400,
        "invalid_request",
        "platform",
    )
    assert call(server, "DELETE", "/user/picture", token).status_code == 200
    stored(assets)  # only server-made names
    assert set(assets.parent.iterdir()) - {assets} == outside


# --- /device -----------------------------------------------------------------------------


def new_device(server: LiveServer, token: str, **body: Any) -> dict[str, Any]:
    response = call(
        server, "POST", "/device", token, json={"name": "phone", "platform": "ios", **body}
    )
    assert response.status_code == 201, response.text
    device: dict[str, Any] = response.json()
    return device


def test_devices_are_created_read_changed_and_deleted(server: LiveServer, token: str) -> None:
    assert call(server, "GET", "/device", token).json() == {"data": []}
    phone = new_device(server, token, push_token="apns-abc123")
    laptop = new_device(server, token, name="laptop", platform="macos")
    assert (phone["name"], phone["platform"], phone["push_token"]) == (
        "phone",
        "ios",
        "apns-abc123",
    )
    assert laptop["push_token"] is None
    listed = call(server, "GET", "/device", token).json()["data"]
    assert [device["id"] for device in listed] == [phone["id"], laptop["id"]]
    assert call(server, "GET", f"/device/{phone['id']}", token).json() == phone
    changed = call(
        server,
        "PATCH",
        f"/device/{phone['id']}",
        token,
        json={"name": "my phone", "push_token": ""},
    ).json()
    assert (changed["name"], changed["platform"], changed["push_token"]) == (
        "my phone",
        "ios",
        None,
    )
    deleted = call(server, "DELETE", f"/device/{phone['id']}", token)
    assert deleted.status_code == 200 and deleted.json()["id"] == phone["id"]
    refused(call(server, "GET", f"/device/{phone['id']}", token), 404, "not_found")
    assert [d["id"] for d in call(server, "GET", "/device", token).json()["data"]] == [laptop["id"]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"platform": "ios"}, "name"),
        ({"name": "   ", "platform": "ios"}, "name"),
        ({"name": "x" * 101, "platform": "ios"}, "name"),
        ({"name": "a\nb", "platform": "ios"}, "name"),
        ({"name": "x"}, "platform"),
        ({"name": "x", "platform": "symbian"}, "platform"),
        ({"name": "x", "platform": "IOS"}, "platform"),
        ({"name": "x", "platform": 1}, "platform"),
        ({"name": "x", "platform": "ios", "push_token": "a b"}, "push_token"),
        ({"name": "x", "platform": "ios", "push_token": "t" * 513}, "push_token"),
        ({"name": "x", "platform": "ios", "push_token": "tok\u00e9n"}, "push_token"),
    ],
)
def test_bad_device_fields_are_400_naming_them(
    server: LiveServer, token: str, body: dict[str, Any], param: str
) -> None:
    refused(call(server, "POST", "/device", token, json=body), 400, "invalid_request", param)


def test_a_batch_changes_every_device_at_once(server: LiveServer, token: str) -> None:
    devices = [new_device(server, token, name=f"d{index}") for index in range(3)]
    batch = [
        {"id": devices[0]["id"], "name": "first"},
        {"id": devices[2]["id"], "platform": "android", "push_token": "fcm-1"},
    ]
    response = call(server, "PATCH", "/device", token, json={"devices": batch})
    assert response.status_code == 200, response.text
    answered = response.json()["data"]
    assert [d["id"] for d in answered] == [devices[0]["id"], devices[2]["id"]]
    now = {d["id"]: d for d in call(server, "GET", "/device", token).json()["data"]}
    assert now[devices[0]["id"]]["name"] == "first"
    assert (now[devices[2]["id"]]["platform"], now[devices[2]["id"]]["push_token"]) == (
        "android",
        "fcm-1",
    )
    assert now[devices[1]["id"]] == devices[1]


def test_a_bad_item_refuses_the_whole_batch_naming_it(server: LiveServer, token: str) -> None:
    devices = [new_device(server, token, name=f"d{index}") for index in range(3)]
    ids = [device["id"] for device in devices]
    other = new_device(server, token_for(server))
    cases: list[tuple[list[dict[str, Any]], int, str, str]] = [
        (
            [{"id": ids[0], "name": "x"}, {"id": ids[1], "platform": "bb10"}],
            400,
            "invalid_request",
            "devices[1].platform",
        ),
        (
            [{"id": ids[0], "name": "x"}, {"id": ids[1]}, {"id": ids[2], "name": ""}],
            400,
            "invalid_request",
            "devices[2].name",
        ),
        (
            [{"id": ids[0], "name": "x"}, {"id": ids[0], "name": "y"}],
            400,
            "invalid_request",
            "devices[1].id",
        ),
        (
            [{"id": ids[0], "name": "x"}, {"id": "00000000-0000-4000-8000-000000000000"}],
            404,
            "not_found",
            "devices[1].id",
        ),
        (
            [{"id": ids[0], "name": "x"}, {"id": other["id"], "name": "mine now"}],
            404,
            "not_found",
            "devices[1].id",
        ),
        (
            [{"id": ids[0], "push_token": "p" * 513}],
            400,
            "invalid_request",
            "devices[0].push_token",
        ),
    ]
    for batch, status, code, param in cases:
        response = call(server, "PATCH", "/device", token, json={"devices": batch})
        refused(response, status, code, param)
    assert call(server, "GET", "/device", token).json()["data"] == devices
    owner_view = call(server, "GET", "/device", token_for(server)).json()
    assert owner_view == {"data": []}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"devices": []},
        {"devices": {"id": "x"}},
        {"devices": [{"id": "x"}] * 101},
        {"devices": "all"},
    ],
)
def test_malformed_batches_are_400_naming_devices(
    server: LiveServer, token: str, body: dict[str, Any]
) -> None:
    refused(call(server, "PATCH", "/device", token, json=body), 400, "invalid_request", "devices")


def test_a_batch_of_the_most_devices_is_taken_and_one_more_device_is_409(
    server: LiveServer, token: str
) -> None:
    devices = [new_device(server, token, name=f"d{index}") for index in range(100)]
    refused(
        call(server, "POST", "/device", token, json={"name": "one more", "platform": "web"}),
        409,
        "device_limit_reached",
    )
    batch = [
        {"id": device["id"], "name": f"renamed {index}"} for index, device in enumerate(devices)
    ]
    response = call(server, "PATCH", "/device", token, json={"devices": batch})
    assert response.status_code == 200, response.text
    assert [d["name"] for d in response.json()["data"]] == [f"renamed {i}" for i in range(100)]


def test_another_operators_device_is_a_404_like_an_unknown_one(
    server: LiveServer, token: str
) -> None:
    device = new_device(server, token)
    other = token_for(server)
    path = f"/device/{device['id']}"
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        refused(call(server, method, path, other, json=body), 404, "not_found")
    assert call(server, "GET", "/device", other).json() == {"data": []}
    assert call(server, "GET", path, token).json() == device


# --- tokens ------------------------------------------------------------------------------

LEGACY_ROUTES = [
    (endpoint.method, endpoint.path)
    for endpoint in api.endpoints()
    if endpoint.path.split("/")[1] in ("user", "device", "file")
]


def test_every_legacy_route_needs_an_operator_token(server: LiveServer) -> None:
    assert len(LEGACY_ROUTES) == 12
    mailbox = Mailbox(server)
    expired = issue_token(
        server.settings.operators,
        operator_id="x",
        email="a@x.test",
        email_verified=True,
        now=datetime.now(UTC) - timedelta(days=2),
    ).token
    claims = jwt.decode(expired, options={"verify_signature": False})
    claims["exp"] = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    forged = jwt.encode(claims, "another-key-of-at-least-32-bytes-long", "HS256")
    unsigned = jwt.encode(claims, "", "none")
    tokens = [None, "garbage", "a.b.c", expired, forged, unsigned, mailbox.account_key]
    for method, path in LEGACY_ROUTES:
        url = path.replace("{file_id}", "x").replace("{device_id}", "x")
        for token in tokens:
            refused(call(server, method, url, token, content=PNG), 401, "unauthorized")


def test_a_valid_token_for_an_account_that_is_gone_is_a_404(server: LiveServer) -> None:
    claims = {
        "sub": "00000000-0000-4000-8000-000000000000",
        "email": "gone@x.test",
        "email_verified": True,
        "iss": "dispatch",
        "aud": "dispatch-operators",
        "iat": int(datetime.now(UTC).timestamp()),
        "exp": int((datetime.now(UTC) + timedelta(hours=1)).timestamp()),
    }
    token = jwt.encode(claims, JWT_SECRET, "HS256")
    refused(call(server, "GET", "/user", token), 404, "not_found")
    refused(
        call(server, "POST", "/device", token, json={"name": "x", "platform": "ios"}),
        404,
        "not_found",
    )
    refused(upload(server, token, PNG), 404, "not_found")
