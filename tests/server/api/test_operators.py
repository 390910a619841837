"""Operator accounts over real HTTP on both databases: signup with the code mailed through
Dispatch itself, login alike for unknown users and wrong passwords, verification codes
(wrong, spent, expired, replaced), tokens (forged, expired, foreign), hostile input, the
waitlist, and admins (invite codes, ops status)."""

from __future__ import annotations

import concurrent.futures
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from dispatch_server.db import tables as t
from tests.conftest import BACKENDS, LiveServer
from tests.helpers import error_code
from tests.server.api.operator_helpers import (
    ADMIN_LOCAL_PART,
    JWT_SECRET,
    PASSWORD,
    Mailbox,
    execute,
    get,
    login,
    operator,
    past,
    post,
    serve,
    verified_operator,
)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory)


def refusal(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"].get("param") == param


def test_signup_mails_a_code_that_verifies_the_email(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    session = operator(server, mailbox)
    assert session["token_type"] == "bearer"
    assert session["verification_sent"] is True
    assert session["operator"]["email"] == mailbox.address
    assert session["operator"]["email_verified"] is False
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    assert claims["sub"] == session["operator"]["id"]
    assert claims["email_verified"] is False
    assert (claims["iss"], claims["aud"]) == ("dispatch", "dispatch-operators")
    assert claims["exp"] - claims["iat"] == 43200
    code = mailbox.code()
    verified = post(server, "/auth/verify-email", {"code": code}, token=session["access_token"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["operator"]["email_verified"] is True
    fresh = jwt.decode(verified.json()["access_token"], options={"verify_signature": False})
    assert fresh["email_verified"] is True
    deadline = time.monotonic() + 10
    while "Welcome to Dispatch" not in mailbox.subjects() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Welcome to Dispatch" in mailbox.subjects()
    # The code was single use; verifying again is answered with the account as it is.
    again = post(server, "/auth/verify-email", {"code": code}, token=session["access_token"])
    assert again.status_code == 200 and again.json()["operator"]["email_verified"] is True


def test_signup_succeeds_when_its_mail_fails(server: LiveServer) -> None:
    # No inbox at this address: the local provider refuses the mail.
    response = post(
        server, "/auth/signup", {"email": "nobody-here@dispatch.test", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    assert response.json()["verification_sent"] is False
    assert login(server, "nobody-here@dispatch.test")


def test_login_does_not_block_unverified_operators_but_says_so(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    operator(server, mailbox)
    response = post(server, "/auth/login", {"email": mailbox.address.upper(), "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["operator"]["email_verified"] is False
    me = get(server, "/auth/me", token=response.json()["access_token"])
    assert me.json()["operator"]["email"] == mailbox.address


def test_login_answers_alike_for_unknown_user_and_wrong_password(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    operator(server, mailbox)
    wrong = post(server, "/auth/login", {"email": mailbox.address, "password": "x" * 12})
    unknown = post(server, "/auth/login", {"email": "ghost@dispatch.test", "password": "x" * 12})
    not_email = post(server, "/auth/login", {"email": "not an email", "password": "x" * 12})
    for response in (wrong, unknown, not_email):
        refusal(response, 401, "invalid_credentials", None)
    assert wrong.json() == unknown.json() == not_email.json()

    def timed(email: str) -> float:
        started = time.perf_counter()
        post(server, "/auth/login", {"email": email, "password": "y" * 12})
        return time.perf_counter() - started

    for _ in range(2):  # warm up connections and caches
        timed(mailbox.address), timed("ghost@dispatch.test")
    # Interleaved, so a busy machine slows both alike; each costs one Argon2id verification,
    # where skipping it would make the unknown email many times faster.
    known_times, ghost_times = [], []
    for _ in range(11):
        known_times.append(timed(mailbox.address))
        ghost_times.append(timed("ghost@dispatch.test"))
    known, ghost = statistics.median(known_times), statistics.median(ghost_times)
    assert 1 / 3 < known / ghost < 3, (known, ghost)


def test_a_second_account_for_an_email_is_409_in_any_case(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    operator(server, mailbox)
    response = post(
        server, "/auth/signup", {"email": mailbox.address.upper(), "password": PASSWORD}
    )
    refusal(response, 409, "email_taken", "email")


HOSTILE_EMAILS: list[Any] = [
    "a" * 250 + "@x.test",  # over-long
    "a" * 65 + "@x.test",  # a local part over 64
    "no-at-sign",
    "a@@x.test",
    "a@x",  # no dot in the domain
    "a@-x.test",
    "a..b@x.test",
    "a b@x.test",
    "a@x.123",
    "a\u0000b@x.test",  # NUL
    "a\uff20x.test",  # fullwidth @
    "\u0430dmin@x.test",  # Cyrillic a
    "ad\u200bmin@x.test",  # zero-width space
    "\u202emoc.x@a",  # right-to-left override
    "a@b\u00fccher.test",  # an IDN not in its xn-- form
    "a\n@x.test",  # a line break, which a regex's `$` lets through before the end
    "a@x.test\nb",
    "a@x.test\n.evil",
    "a\r@x.test",
    "",
    7,
    ["a@x.test"],
    None,
    {"email": "a@x.test"},
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS, ids=range(len(HOSTILE_EMAILS)))
def test_hostile_emails_are_400_naming_email(server: LiveServer, email: Any) -> None:
    for path in ("/auth/signup", "/auth/beta-interest"):
        response = post(server, path, {"email": email, "password": PASSWORD})
        refusal(response, 400, "invalid_request", "email")


@pytest.mark.parametrize(
    "password", ["short", "x" * 1025, " " * 12, 1234567890123, None, ["x" * 12], True]
)
def test_hostile_passwords_are_400_naming_password(server: LiveServer, password: Any) -> None:
    response = post(server, "/auth/signup", {"email": "pw@dispatch.test", "password": password})
    refusal(response, 400, "invalid_request", "password")


def test_wrong_codes_count_until_the_code_is_spent(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    token = operator(server, mailbox)["access_token"]
    code = mailbox.code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):  # DISPATCH_VERIFICATION_MAX_ATTEMPTS
        refusal(
            post(server, "/auth/verify-email", {"code": wrong}, token=token),
            400,
            "verification_code_invalid",
            "code",
        )
    # Spent: even the right code no longer works.
    refusal(
        post(server, "/auth/verify-email", {"code": code}, token=token),
        429,
        "verification_attempts_exceeded",
        "code",
    )
    resent = post(server, "/auth/verify-email/resend", token=token)
    assert resent.json()["verification_sent"] is True
    fresh = mailbox.code(after=code)
    assert post(server, "/auth/verify-email", {"code": fresh}, token=token).status_code == 200


def test_parallel_guesses_cannot_pass_the_limit(server: LiveServer) -> None:
    """Each guess takes its attempt atomically before it is checked: of 16 wrong guesses sent
    at once, 5 are wrong-code answers and the rest find the code spent."""
    mailbox = Mailbox(server)
    token = operator(server, mailbox)["access_token"]
    code = mailbox.code()
    wrong = "000000" if code != "000000" else "111111"
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda _: post(server, "/auth/verify-email", {"code": wrong}, token=token),
                range(16),
            )
        )
    codes = sorted(a.json()["error"]["code"] for a in answers)
    assert codes == ["verification_attempts_exceeded"] * 11 + ["verification_code_invalid"] * 5
    assert post(server, "/auth/verify-email", {"code": code}, token=token).status_code == 429


def test_asking_for_new_codes_gives_no_new_budget_of_guesses(server: LiveServer) -> None:
    """Three codes' worth of wrong guesses an hour, however many codes are sent."""
    mailbox = Mailbox(server)
    token = operator(server, mailbox)["access_token"]
    code = mailbox.code()
    for _ in range(3):
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            post(server, "/auth/verify-email", {"code": wrong}, token=token)
        post(server, "/auth/verify-email/resend", token=token)
        code = mailbox.code(after=code)
    refusal(
        post(server, "/auth/verify-email", {"code": code}, token=token),
        429,
        "verification_attempts_exceeded",
        "code",
    )


def test_racing_signups_for_one_email_make_one_account(server: LiveServer) -> None:
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: post(server, "/auth/signup", {"email": email, "password": PASSWORD}),
                range(8),
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 7, [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"email_taken"}


def test_a_resent_code_replaces_the_old_one(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    token = operator(server, mailbox)["access_token"]
    first = mailbox.code()
    post(server, "/auth/verify-email/resend", token=token)
    second = mailbox.code(after=first)
    refusal(
        post(server, "/auth/verify-email", {"code": first}, token=token),
        400,
        "verification_code_invalid",
        "code",
    )
    assert post(server, "/auth/verify-email", {"code": second}, token=token).status_code == 200


def test_an_expired_code_is_refused(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    session = operator(server, mailbox)
    code = mailbox.code()
    codes = t.user_email_verification_codes
    execute(
        server,
        codes.update()
        .where(codes.c.user_id == session["operator"]["id"])
        .values(expires_at=past()),
    )
    response = post(server, "/auth/verify-email", {"code": code}, token=session["access_token"])
    refusal(response, 400, "verification_code_invalid", "code")
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize("code", [7, None, "1" * 21, ["123456"]])
def test_hostile_codes_are_400_naming_code(server: LiveServer, code: Any) -> None:
    mailbox = Mailbox(server)
    token = operator(server, mailbox)["access_token"]
    refusal(
        post(server, "/auth/verify-email", {"code": code}, token=token),
        400,
        "invalid_request",
        "code",
    )


def _forged(**changes: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "x",
        "email": "a@x.test",
        "email_verified": True,
        "iss": "dispatch",
        "aud": "dispatch-operators",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    claims.update(changes)
    signed = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(signed, "another-key-of-at-least-32-bytes-long", "HS256")


def test_bad_operator_tokens_are_401(server: LiveServer) -> None:
    mailbox = Mailbox(server)
    real = operator(server, mailbox)["access_token"]
    header, payload, signature = real.split(".")
    tampered = ".".join(
        (header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature)
    )
    unsigned = jwt.encode(jwt.decode(real, options={"verify_signature": False}), "", "none")
    for token in (
        _forged(),  # another key
        tampered,
        unsigned,
        mailbox.account_key,  # an API key is not an operator token
        "a.b.c",
        "x" * 5000,
    ):
        response = post(server, "/auth/verify-email", {"code": "123456"}, token=token)
        refusal(response, 401, "unauthorized", None)
    response = httpx.post(f"{server.base_url}/auth/verify-email", json={"code": "1"})
    refusal(response, 401, "unauthorized", None)


def test_expired_or_foreign_audience_tokens_are_401(server: LiveServer) -> None:
    from dispatch_server.auth.operators import issue_token

    settings = server.settings.operators
    expired = issue_token(
        settings,
        operator_id="x",
        email="a@x.test",
        email_verified=True,
        now=datetime.now(UTC) - timedelta(days=2),
    ).token
    foreign = jwt.encode(
        {**jwt.decode(expired, options={"verify_signature": False}), "aud": "other", "exp": 2**40},
        JWT_SECRET,
        "HS256",
    )
    claims = jwt.decode(expired, options={"verify_signature": False})
    # Signed with our key, valid in every way but an exp no datetime can hold.
    far = [
        jwt.encode({**claims, "exp": exp}, JWT_SECRET, "HS256") for exp in (2**40, 2**62, 10**20)
    ]
    for token in (expired, foreign, *far):
        refusal(get(server, "/auth/me", token=token), 401, "unauthorized", None)


def test_beta_interest_answers_the_same_twice(server: LiveServer) -> None:
    first = post(server, "/auth/beta-interest", {"email": "Waiting@Example.com", "note": "hi"})
    second = post(server, "/auth/beta-interest", {"email": "waiting@example.com"})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json() == {"status": "recorded"}


def test_only_verified_admins_manage_codes_and_read_ops(server: LiveServer) -> None:
    admin_box = Mailbox(server, ADMIN_LOCAL_PART)
    unverified = operator(server, admin_box)["access_token"]
    refusal(get(server, "/auth/beta-codes", token=unverified), 403, "forbidden", None)
    refusal(get(server, "/v1/ops/status", token=unverified), 403, "forbidden", None)
    response = post(server, "/auth/verify-email", {"code": admin_box.code()}, token=unverified)
    admin = response.json()["access_token"]
    assert response.json()["operator"]["is_admin"] is True
    created = post(server, "/auth/beta-codes", {"label": "friends", "max_redemptions": 3}, admin)
    assert created.status_code == 201, created.text
    invite = created.json()["invite"]
    assert created.json()["code"].startswith(invite["hint"])
    listed = get(server, "/auth/beta-codes", token=admin).json()["data"]
    assert invite["id"] in [code["id"] for code in listed]
    assert "code" not in listed[0]
    revoked = httpx.delete(
        f"{server.base_url}/auth/beta-codes/{invite['id']}",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert revoked.json()["revoked_at"] is not None
    status = get(server, "/v1/ops/status", token=admin)
    assert status.status_code == 200 and "workers" in status.json()
    ops = httpx.get(
        f"{server.base_url}/v1/ops/status", headers={"x-dispatch-ops-token": "ops-token"}
    )
    assert ops.status_code == 200
    someone = verified_operator(server, Mailbox(server))
    for response in (
        get(server, "/auth/beta-codes", token=someone),
        post(server, "/auth/beta-codes", {}, someone),
        get(server, "/v1/ops/status", token=someone),
    ):
        refusal(response, 403, "forbidden", None)


@pytest.mark.parametrize(
    "body, param",
    [
        ({"max_redemptions": 0}, "max_redemptions"),
        ({"max_redemptions": 10**7}, "max_redemptions"),
        ({"max_redemptions": "3"}, "max_redemptions"),
        ({"max_redemptions": True}, "max_redemptions"),
        ({"max_redemptions": 1.5}, "max_redemptions"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 10**6}, "expires_in_days"),
        ({"label": "x" * 201}, "label"),
    ],
)
def test_hostile_invite_codes_are_400(server: LiveServer, body: dict[str, Any], param: str) -> None:
    admin = login(server, f"{ADMIN_LOCAL_PART}@dispatch.test")
    refusal(post(server, "/auth/beta-codes", body, admin), 400, "invalid_request", param)


def test_revoking_an_unknown_code_is_404(server: LiveServer) -> None:
    admin = login(server, f"{ADMIN_LOCAL_PART}@dispatch.test")
    for code_id in ("00000000-0000-0000-0000-000000000000", "not-an-id"):
        response = httpx.delete(
            f"{server.base_url}/auth/beta-codes/{code_id}",
            headers={"Authorization": f"Bearer {admin}"},
        )
        refusal(response, 404, "not_found", None)
