"""The console's form handlers under hostile input, as classes: bodies too large, unframed,
of the wrong type, not UTF-8 or with too many fields; fields missing, oversized or with
control characters; forged and expired session cookies. Each is a 4xx page or a redirect,
never a 500, and nothing is signed in by it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.server.cli.test_commands import DevProcess

SECRET = "a jwt secret for the tests, long enough for HS256"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(tmp_path_factory.mktemp("forms-dev"), JWT_SECRET_KEY=SECRET) as process:
        yield process


@pytest.fixture
def browser_like(dev: DevProcess) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=dev.base_url, timeout=30) as client:
        found = re.search(r'name="csrf" value="([^"]+)"', client.get("/signup").text)
        assert found is not None
        yield client, found.group(1)


def _post(client: httpx.Client, content: bytes, **headers: str) -> httpx.Response:
    return client.post(
        "/signup",
        content=content,
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )


def test_bodies_a_form_never_makes_are_refused(browser_like: tuple[httpx.Client, str]) -> None:
    client, csrf = browser_like
    cases = [
        (b"csrf=" + csrf.encode() + b"&action=login&email=" + b"a" * 20_000, {}, 413),
        (b"csrf=" + csrf.encode() + b"&action=login", {"content-type": "application/json"}, 415),
        (b"csrf=" + csrf.encode() + b"&action=login", {"content-type": "multipart/form-data"}, 415),
        (b"csrf=" + csrf.encode() + b"&email=\xff\xfe&action=login", {}, 400),
        (b"csrf=" + csrf.encode() + b"&" + b"&".join(b"f%d=1" % i for i in range(40)), {}, 400),
    ]
    for content, headers, status in cases:
        answer = _post(client, content, **headers)
        assert answer.status_code == status, (content[:60], answer.text[:200])
        assert answer.headers["content-type"].startswith("text/html")
        assert "dispatch_session" not in answer.headers.get("set-cookie", "")

    def chunks() -> Iterator[bytes]:
        yield b"csrf=" + csrf.encode() + b"&action=login"

    unframed = client.post(
        "/signup",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert unframed.status_code == 413


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "signup"},
        {"action": "signup", "email": "x" * 300 + "@dispatch.localhost", "password": "p" * 12},
        {"action": "signup", "email": "a\x00b@dispatch.localhost", "password": "p" * 12},
        {"action": "signup", "email": "ok@dispatch.localhost", "password": "short"},
        {"action": "signup", "email": "ok2@dispatch.localhost", "password": "p" * 2000},
        {"action": "login", "email": "\r\nBcc: x@evil.test", "password": "p" * 12},
        {"action": "verify", "code": "123456"},  # not signed in
        {"action": "nothing-like-it"},
        {},
    ],
)
def test_odd_fields_are_answered_on_the_page(
    browser_like: tuple[httpx.Client, str], fields: dict[str, str]
) -> None:
    client, csrf = browser_like
    answer = client.post("/signup", data={"csrf": csrf, **fields})
    assert answer.status_code in (303, 400, 401, 413, 422), answer.text[:300]
    assert "dispatch_session" not in answer.headers.get("set-cookie", "")
    if answer.status_code != 303:
        assert answer.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in answer.text


@pytest.mark.parametrize(
    ("submitted", "cookie"),
    [("é", None), ("x", "é"), ("", None), ("a" * 5000, None), ("\x00", None)],
)
def test_csrf_tokens_of_every_shape_are_a_403_not_a_500(
    dev: DevProcess, submitted: str, cookie: str | None
) -> None:
    with httpx.Client(base_url=dev.base_url) as client:
        client.get("/signup")
        headers = {}
        if cookie is not None:  # raw UTF-8, as a browser may send it
            client.cookies.clear()
            headers = {b"cookie": f"dispatch_csrf={cookie}".encode()}
        answer = client.post(
            "/signup", data={"csrf": submitted, "action": "login"}, headers=headers
        )
    assert answer.status_code in (403, 413), answer.text[:200]
    assert answer.headers["content-type"].startswith("text/html")


def test_a_form_from_another_site_is_refused_with_the_right_token(
    browser_like: tuple[httpx.Client, str],
) -> None:
    client, csrf = browser_like
    form = {"csrf": csrf, "action": "login", "email": "a@b.test", "password": "p" * 12}
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        assert client.post("/signup", data=form, headers=headers).status_code == 403
    own = f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"
    same = client.post("/signup", data=form, headers={"origin": own})
    assert same.status_code == 401, same.text[:300]


def test_a_session_whose_operator_is_gone_counts_as_signed_out(dev: DevProcess) -> None:
    now = int(time.time())
    claims = {"sub": "0" * 32, "email": "gone@dispatch.localhost", "email_verified": True}
    token = jwt.encode(
        {**claims, "iat": now, "exp": now + 600, "iss": "dispatch", "aud": "dispatch-operators"},
        SECRET,
        algorithm="HS256",
    )
    cookies = {"dispatch_session": token}
    assert httpx.get(f"{dev.base_url}/console", cookies=cookies).status_code == 303
    page = httpx.get(f"{dev.base_url}/signup", cookies=cookies)
    assert page.status_code == 200 and "Create an account" in page.text


def test_forged_and_expired_sessions_are_signed_out(dev: DevProcess) -> None:
    forged = jwt.encode(
        {"sub": "x", "email": "a@b.test", "email_verified": True, "exp": 4_000_000_000},
        "not the server's secret, but long enough",
        algorithm="HS256",
    )
    for cookie in [forged, "garbage", "a.b.c", "x" * 5000]:
        answer = httpx.get(f"{dev.base_url}/console", cookies={"dispatch_session": cookie})
        assert answer.status_code == 303 and answer.headers["location"] == "/signup"
        posted = httpx.post(
            f"{dev.base_url}/console",
            data={"action": "claim", "api_key": "k"},
            cookies={"dispatch_session": cookie},
        )
        assert posted.status_code == 303 and posted.headers["location"] == "/signup"
