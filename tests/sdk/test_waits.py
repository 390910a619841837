"""Waiting for mail: rounds and deadlines, the remembered position per inbox, what a wait
sends, and a timeout that says what happened."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from dispatch_client import (
    BadRequestError,
    DispatchError,
    InternalServerError,
    InvalidArgumentError,
    WaitTimeoutError,
)
from dispatch_client import _transport as transport
from dispatch_client import _waits as waits
from tests.sdk.helpers import (
    INBOX_ID,
    MINTED,
    Recorder,
    async_client,
    error,
    matched_otp,
    matched_otp_at,
    refuse_long_rounds,
    sync_client,
    unmatched,
    unmatched_with,
)


def test_wait_for_otp_polls_until_a_match() -> None:
    recorder = Recorder(unmatched, unmatched, matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    since = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    got = client.otp.wait_for_otp(INBOX_ID, timeout=30, since=since, from_="acme", subject="code")
    assert got == "482913"
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        params = request.url.params
        assert request.url.path == f"/v1/inboxes/{INBOX_ID}/wait"
        assert (params["kind"], params["from"], params["subject"]) == ("otp", "acme", "code")
        assert params["since"] == "2026-11-24T09:00:00Z"
        assert "after" not in params
        assert 0 < float(params["timeout"]) <= 30
        # the read timeout leaves room for the server-side wait
        assert request.extensions["timeout"]["read"] > float(params["timeout"])


def test_wait_rounds_are_capped_and_end_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(waits, "monotonic", lambda: clock[0])
    monkeypatch.setattr(transport, "monotonic", lambda: clock[0])

    def slow_unmatched(request: httpx.Request) -> httpx.Response:
        clock[0] += float(request.url.params["timeout"])  # the server waits the full round
        return unmatched(request)

    recorder = Recorder(*[slow_unmatched] * 3)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.messages.wait_for_message(INBOX_ID, timeout=70, subject="hi")
    assert [float(r.url.params["timeout"]) for r in recorder.requests] == [25, 25, 20]
    assert all(r.url.params["kind"] == "message" for r in recorder.requests)
    assert str(caught.value) == (
        f"no matching message arrived in inbox {INBOX_ID} within 70 s "
        "(filters: subject contains 'hi'); no message arrived"
    )


def test_wait_for_otp_times_out_with_a_clear_error() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError, match=INBOX_ID) as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=0)
    assert isinstance(caught.value, TimeoutError)
    assert "OTP" in str(caught.value) and "0 s" in str(caught.value)
    assert recorder.requests[0].url.params["timeout"] == "0.0"


def test_wait_for_message_returns_the_message() -> None:
    recorder = Recorder(matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    got = client.messages.wait_for_message(INBOX_ID, after="cur1")
    assert (got.id, got.otp) == ("m9", "482913")
    params = recorder.requests[0].url.params
    assert (params["after"], params["kind"], params["folder"]) == ("cur1", "message", "inbox")


def test_one_wait_round_can_be_unmatched() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    result = client.messages.wait(INBOX_ID, timeout=5, kind="link", folder="all")
    assert (result.matched, result.message, result.cursor) == (False, None, "cur")
    params = recorder.requests[0].url.params
    assert (params["kind"], params["folder"], params["timeout"]) == ("link", "all", "5")
    assert recorder.requests[0].extensions["timeout"]["read"] == 15


@pytest.mark.parametrize(
    ("since", "sent"),
    [
        (
            datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-24T09:00:00Z",
        ),
        ("2026-11-24T09:00:00+00:00", "2026-11-24T09:00:00+00:00"),
    ],
)
def test_since_is_sent_as_rfc3339_utc(since: datetime | str, sent: str) -> None:
    recorder = Recorder(unmatched)
    sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.wait(INBOX_ID, since=since)
    assert recorder.requests[0].url.params["since"] == sent


def test_wait_rejects_after_and_since_together() -> None:
    recorder = Recorder()
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(InvalidArgumentError, match="not both"):
        client.messages.wait(INBOX_ID, after="c", since="2026-11-24T00:00:00Z")
    assert recorder.requests == []


def test_rounds_are_halved_for_an_older_server_that_refuses_them() -> None:
    recorder = Recorder(*[refuse_long_rounds] * 4)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.otp.wait_for_otp(INBOX_ID, timeout=60) == "482913"
    assert client.otp.wait_for_otp(INBOX_ID, timeout=60) == "482913"
    # The second wait starts with the round length the server accepted.
    assert [float(r.url.params["timeout"]) for r in recorder.requests] == [25, 12.5, 6.25, 6.25]


def test_rounds_are_not_halved_below_the_floor() -> None:
    def refuse_all(request: httpx.Request) -> httpx.Response:
        message = "timeout must be between 0 and 0.5"
        return httpx.Response(400, json={"error": {"code": "invalid_request", "message": message}})

    recorder = Recorder(*[refuse_all] * 6)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(BadRequestError, match="timeout"):
        client.otp.wait_for_otp(INBOX_ID, timeout=60)
    sent = [float(r.url.params["timeout"]) for r in recorder.requests]
    assert sent == [25, 12.5, 6.25, 3.125, 1.562, 1.0]


def test_other_bad_requests_are_not_retried_as_rounds() -> None:
    recorder = Recorder(error(400, "invalid_cursor"))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(BadRequestError):
        client.otp.wait_for_otp(INBOX_ID, after="bogus")
    assert len(recorder.requests) == 1


@pytest.fixture
def local_time_utc_plus_5_30(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: UTC+5:30, no tz database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_utc_plus_5_30")
def test_a_naive_since_is_local_time() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    client.messages.wait(INBOX_ID, since=datetime(2026, 11, 24, 14, 30))
    assert recorder.requests[0].url.params["since"] == "2026-11-24T09:00:00Z"


def test_wait_helpers_continue_after_the_message_they_returned() -> None:
    recorder = Recorder(
        matched_otp_at("c1"),
        unmatched,
        matched_otp_at("c2"),
        matched_otp_at("c3"),
        matched_otp_at("c4"),
        matched_otp_at("c5"),
        unmatched,
        matched_otp_at("c6"),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED, "other": MINTED})
    since = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    client.otp.wait_for_otp(INBOX_ID)  # the newest recent code
    with pytest.raises(WaitTimeoutError, match="pass since= to look back"):
        client.otp.wait_for_otp(INBOX_ID, timeout=0)  # the same code again? no: only a newer one
    client.otp.wait_for_otp(INBOX_ID)  # e.g. after "resend code"
    client.messages.wait_for_message(INBOX_ID)  # one position per inbox, for both helpers
    client.otp.wait_for_otp(INBOX_ID, since=since)  # since=: looks back, ignores the position
    client.otp.wait_for_otp(INBOX_ID, after="mine")  # an explicit cursor wins
    client.messages.wait(INBOX_ID)  # a single round neither uses nor moves the position
    client.otp.wait_for_otp("other")  # positions are per inbox
    sent = [(r.url.params.get("after"), r.url.params.get("since")) for r in recorder.requests]
    assert sent == [
        (None, None),
        ("c1", None),
        ("c1", None),
        ("c2", None),
        (None, "2026-11-24T09:00:00Z"),
        ("mine", None),
        (None, None),
        (None, None),
    ]
    assert client._waits.cursors == {INBOX_ID: "c5", "other": "c6"}
    again = Recorder(matched_otp)
    sync_client(again, inbox_keys={INBOX_ID: MINTED}).otp.wait_for_otp(INBOX_ID)
    assert "after" not in again.requests[0].url.params  # a new client starts with no position


def test_wait_for_otp_takes_after_and_rejects_it_with_since() -> None:
    recorder = Recorder(matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.otp.wait_for_otp(INBOX_ID, after="c0") == "482913"
    assert recorder.requests[0].url.params["after"] == "c0"
    with pytest.raises(DispatchError, match="not both"):
        client.otp.wait_for_otp(INBOX_ID, after="c0", since="2026-11-24T00:00:00Z")
    with pytest.raises(DispatchError, match="not both"):
        client.messages.wait_for_message(INBOX_ID, after="c0", since="2026-11-24T00:00:00Z")
    assert len(recorder.requests) == 1


def test_wait_helpers_pass_the_folder() -> None:
    recorder = Recorder(matched_otp, matched_otp, matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    client.otp.wait_for_otp(INBOX_ID, folder="spam")
    client.messages.wait_for_message(INBOX_ID, folder="all")
    client.otp.wait_for_otp(INBOX_ID)
    assert [r.url.params["folder"] for r in recorder.requests] == ["spam", "all", "inbox"]


@pytest.mark.anyio
async def test_async_waits_remember_stop_at_deadlines_and_halve_rounds() -> None:
    recorder = Recorder(
        matched_otp_at("c1"),
        error(503, "unavailable", {"retry-after": "10"}),
        refuse_long_rounds,
        refuse_long_rounds,
        refuse_long_rounds,
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        client._driver.sleep = record_sleep
        assert await client.otp.wait_for_otp(INBOX_ID, folder="spam") == "482913"
        with pytest.raises(InternalServerError, match="503 unavailable"):
            await client.otp.wait_for_otp(INBOX_ID, timeout=2)
        message = await client.messages.wait_for_message(INBOX_ID, timeout=60)
        assert message.id == "m9"
    assert slept == []
    assert [r.url.params.get("after") for r in recorder.requests] == [None] + ["c1"] * 4
    assert [float(r.url.params["timeout"]) for r in recorder.requests[2:]] == [25, 12.5, 6.25]
    assert recorder.requests[0].url.params["folder"] == "spam"


# --- what a timeout says ---------------------------------------------------------------


def test_a_timeout_names_the_filters_and_counts_the_mail_that_did_not_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(waits, "monotonic", lambda: clock[0])
    monkeypatch.setattr(transport, "monotonic", lambda: clock[0])

    def round_with(count: int) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            clock[0] += float(request.url.params["timeout"])
            return unmatched(request, count)

        return answer

    recorder = Recorder(round_with(1), round_with(2), round_with(2))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=60, from_="github", subject="code")
    assert str(caught.value) == (
        f"no message with an OTP arrived in inbox {INBOX_ID} within 60 s (filters: from "
        "contains 'github', subject contains 'code'); 2 messages arrived that did not match"
    )
    assert caught.value.inbox_id == INBOX_ID
    assert caught.value.timeout == 60
    assert caught.value.filters == {"from_": "github", "subject": "code"}
    assert caught.value.unmatched_count == 2  # rounds share the window: not 1 + 2 + 2


@pytest.mark.parametrize(
    ("kwargs", "count", "expected"),
    [
        (
            {},
            0,
            "no message with an OTP arrived in inbox {} within 0 s; no message arrived",
        ),
        (
            {},
            1,
            "no message with an OTP arrived in inbox {} within 0 s; "
            "1 message arrived that did not match",
        ),
        (
            {"folder": "spam"},
            3,
            "no message with an OTP arrived in the spam folder of inbox {} "
            "within 0 s; 3 messages arrived that did not match",
        ),
        (
            {"folder": "all", "subject": "x"},
            0,
            "no message with an OTP arrived in inbox {} "
            "(any folder) within 0 s (filters: subject contains 'x'); "
            "no message arrived",
        ),
    ],
)
def test_what_a_timeout_says(kwargs: dict[str, str], count: int, expected: str) -> None:
    client = sync_client(Recorder(unmatched_with(count)), inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=0, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == expected.format(INBOX_ID)
    assert caught.value.unmatched_count == count


def test_waiting_for_any_message_does_not_count_unmatched_mail() -> None:
    client = sync_client(Recorder(unmatched), inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.messages.wait_for_message(INBOX_ID, timeout=0)
    assert str(caught.value) == f"no matching message arrived in inbox {INBOX_ID} within 0 s"
    assert (caught.value.filters, caught.value.unmatched_count) == ({}, 0)


def test_a_timeout_after_a_remembered_position_says_how_to_look_back() -> None:
    recorder = Recorder(matched_otp_at("c1"), unmatched_with(1))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    client.otp.wait_for_otp(INBOX_ID)
    with pytest.raises(WaitTimeoutError) as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=0)
    assert str(caught.value) == (
        f"no message with an OTP arrived in inbox {INBOX_ID} within 0 s after the one this "
        "client's previous wait returned (pass since= to look back); 1 message arrived that "
        "did not match"
    )


@pytest.mark.anyio
async def test_async_timeouts_say_the_same() -> None:
    recorder = Recorder(unmatched_with(2))
    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.otp.wait_for_otp(INBOX_ID, timeout=0, subject="code")
    assert str(caught.value) == (
        f"no message with an OTP arrived in inbox {INBOX_ID} within 0 s (filters: subject "
        "contains 'code'); 2 messages arrived that did not match"
    )
    assert caught.value.filters == {"subject": "code"}
