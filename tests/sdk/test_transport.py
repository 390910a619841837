"""The drivers: the retry policy and Retry-After, deadlines, calls closed however they end,
and single-flight locks that do not pile up."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from time import monotonic

import attrs
import httpx
import pytest

from dispatch_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    Dispatch,
    InternalServerError,
    RateLimitError,
    WaitTimeoutError,
)
from dispatch_client._constants import MAX_DELAY
from dispatch_client._core import Call, Exclusive, Request, Response, Step, http
from dispatch_client._errors import DispatchError
from dispatch_client._options import CallOptions
from dispatch_client._transport import next_delay, retry_delay
from tests.sdk.helpers import (
    ACCOUNT,
    CONCURRENT_CALLS,
    CREATED_KEY,
    INBOX,
    INBOX_ID,
    KEYS,
    MINTED,
    NewInbox,
    Recorder,
    async_client,
    error,
    matched_otp,
    page,
    raising,
    sync_client,
)

OPTIONS = CallOptions(timeout=None, max_retries=2)


def test_retries_503_then_429_honouring_retry_after() -> None:
    recorder = Recorder(
        error(503, "unavailable", {"retry-after": "3"}),
        error(429, "rate_limited"),
        page(INBOX),
    )
    client = sync_client(recorder)
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert [i.id for i in client.inboxes.list()] == [INBOX_ID]
    assert len(recorder.requests) == 3
    assert slept[0] == 3.0
    assert 0.75 <= slept[1] <= 1.0  # the second backoff step, 1 s, minus jitter


def test_retry_after_as_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    recorder = Recorder(
        error(429, "rate_limited", {"retry-after": later}),
        error(503, "unavailable", {"retry-after": "60"}),
        httpx.Response(201, json=INBOX),
    )
    client = sync_client(recorder, max_retries=3)
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert client.inboxes.create().id == INBOX_ID  # POSTs are retried on 429/503
    assert 15 <= slept[0] <= 20
    assert slept[1] == 60.0


@pytest.mark.parametrize(
    "value",
    [
        "-5",
        "inf",  # unreadable, as "nan"
        "nan",
        format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True),  # past
        "soon",
    ],
)
def test_unreasonable_retry_after_falls_back_to_backoff(value: str) -> None:
    response = Response(status=503, headers={"retry-after": value}, content=b"")
    delays = [
        retry_delay(attempt, 9, Request(method="GET", path="/"), response=response)
        for attempt in (0, 2)
    ]
    assert delays[0] is not None and 0.375 <= delays[0] <= 0.5
    assert delays[1] is not None and 1.5 <= delays[1] <= 2.0


@pytest.mark.parametrize("value", ["61", "3600", "40000"])
def test_a_retry_after_too_far_away_is_not_waited_for(value: str) -> None:
    """A daily quota used up says hours: the error is raised at once, never slept on."""
    for status in (429, 503):
        response = Response(status=status, headers={"retry-after": value}, content=b"")
        assert retry_delay(0, 9, Request(method="GET", path="/"), response=response) is None
    later = format_datetime(datetime.now(UTC) + timedelta(hours=5), usegmt=True)
    response = Response(status=429, headers={"retry-after": later}, content=b"")
    assert retry_delay(0, 9, Request(method="POST", path="/"), response=response) is None


def test_a_quota_exceeded_send_is_raised_without_sleeping() -> None:
    answer = error(429, "quota_exceeded", {"retry-after": "40000"}, param="daily_sends")
    recorder = Recorder(answer)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    slept: list[float] = []
    client._driver.sleep = slept.append
    with pytest.raises(RateLimitError) as caught:
        client.messages.send(INBOX_ID, to="a@b.test", text="hi")
    assert len(recorder.requests) == 1 and slept == []
    assert getattr(caught.value, "retry_after", None) == 40000.0


def test_retry_after_zero_means_now() -> None:
    response = Response(status=429, headers={"retry-after": "0"}, content=b"")
    assert retry_delay(0, 2, Request(method="GET", path="/"), response=response) == 0


def test_gives_up_after_max_retries() -> None:
    recorder = Recorder(*[error(503, "unavailable") for _ in range(3)])
    with pytest.raises(InternalServerError):
        sync_client(recorder, max_retries=2).inboxes.list()
    assert len(recorder.requests) == 3


def test_max_retries_zero_sends_once() -> None:
    recorder = Recorder(error(502, "bad_gateway"))
    with pytest.raises(InternalServerError):
        sync_client(recorder, max_retries=0).inboxes.list()
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("status", "code"), [(409, "address_taken"), (500, "internal_error")])
def test_does_not_retry_other_statuses(status: int, code: str) -> None:
    recorder = Recorder(error(status, code))
    with pytest.raises(APIStatusError):
        sync_client(recorder).inboxes.create(local_part="x")
    assert len(recorder.requests) == 1


def test_retry_policy() -> None:
    get = Request(method="GET", path="/")
    post = Request(method="POST", path="/")
    delete = Request(method="DELETE", path="/")
    long_poll = Request(method="GET", path="/wait", long_poll=True)

    def delay(request: Request, error: Exception, attempt: int = 0) -> float | None:
        return retry_delay(attempt, 2, request, error=error)

    assert delay(post, httpx.ConnectError("refused")) is not None  # never reached the server
    assert delay(post, httpx.ConnectTimeout("slow")) is not None
    assert delay(get, httpx.ReadTimeout("slow")) is not None
    assert delay(get, httpx.RemoteProtocolError("closed")) is not None
    assert delay(post, httpx.ReadTimeout("slow")) is None  # may have been processed
    assert delay(post, httpx.RemoteProtocolError("closed")) is None
    answered_once = Request(method="POST", path="/", idempotent=True)
    assert delay(answered_once, httpx.ReadTimeout("slow")) is not None
    assert delay(answered_once, httpx.RemoteProtocolError("closed")) is not None
    assert delay(delete, httpx.ReadTimeout("slow")) is None
    assert delay(long_poll, httpx.ReadTimeout("slow")) is None  # would overrun the wait
    assert delay(get, httpx.UnsupportedProtocol("ftp")) is None
    assert delay(get, httpx.ConnectError("refused"), attempt=2) is None
    backoffs = [retry_delay(n, 99, get, error=httpx.ConnectError("x")) for n in range(8)]
    assert all(b is not None and b <= MAX_DELAY for b in backoffs)
    assert backoffs[-1] is not None and backoffs[-1] >= MAX_DELAY * 0.75


def test_connection_errors_are_wrapped_after_retries() -> None:
    recorder = Recorder(*[raising(httpx.ConnectError)] * 3)
    with pytest.raises(APIConnectionError) as caught:
        sync_client(recorder).inboxes.create()
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.original, httpx.ConnectError)
    assert caught.value.__cause__ is None  # kept on .original, not chained
    assert len(recorder.requests) == 3


def test_timeouts_retry_for_get_not_post() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout), page())
    client = sync_client(recorder)
    assert client.inboxes.list().data == ()
    assert len(recorder.requests) == 2
    recorder = Recorder(raising(httpx.ReadTimeout))
    with pytest.raises(APITimeoutError):
        sync_client(recorder).inboxes.keys.create(INBOX_ID)  # minting is not answered once
    assert len(recorder.requests) == 1


def test_a_post_the_server_answers_once_is_retried_with_its_key() -> None:
    """Creating an inbox after a timeout, a broken connection, or while the first attempt
    is still being answered: retried with the same Idempotency-Key, which gets the first
    answer, so one inbox is created."""
    recorder = Recorder(
        raising(httpx.ReadTimeout),
        raising(httpx.RemoteProtocolError),
        error(409, "idempotency_key_in_use"),
        httpx.Response(201, json=INBOX, headers={"Idempotent-Replayed": "true"}),
    )
    client = sync_client(recorder).with_options(max_retries=3)
    assert client.inboxes.create(local_part="bot").id == INBOX_ID
    keys = {r.headers["idempotency-key"] for r in recorder.requests}
    assert len(recorder.requests) == 4 and len(keys) == 1
    reused = Recorder(error(409, "idempotency_key_reused"))  # another request: not retried
    with pytest.raises(APIStatusError):
        sync_client(reused).inboxes.create(local_part="bot")
    assert len(reused.requests) == 1


def test_long_poll_read_timeout_is_not_retried() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(APITimeoutError):
        client.messages.wait(INBOX_ID, timeout=5)
    assert len(recorder.requests) == 1


def test_real_sleep_is_used_by_default() -> None:
    recorder = Recorder(error(503, "unavailable", {"retry-after": "0"}), page())
    client = Dispatch(
        api_key=ACCOUNT,
        inbox_keys={INBOX_ID: MINTED},
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
    )
    assert client.messages.list(INBOX_ID).data == ()
    assert len(recorder.requests) == 2


def test_retries_stop_at_the_deadline_of_a_wait() -> None:
    recorder = Recorder(error(503, "unavailable", {"retry-after": "10"}))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    slept: list[float] = []
    client._driver.sleep = slept.append
    with pytest.raises(InternalServerError, match="503 unavailable") as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=2)
    assert (slept, len(recorder.requests)) == ([], 1)  # no 10 s sleep for a 2 s wait
    assert not isinstance(caught.value, WaitTimeoutError)  # it is not known that no mail came


def test_a_server_that_is_down_during_a_wait_is_a_connection_error_whatever_the_timeout() -> None:
    for timeout in (0.5, 5):
        client = Dispatch(ACCOUNT, base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=2)
        client._driver.sleep = lambda seconds: None
        with pytest.raises(APIConnectionError) as caught:
            client.otp.wait_for_otp(INBOX_ID, timeout=timeout)
        assert "no message" not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chain
        client.close()


def test_retries_that_fit_before_the_deadline_still_happen() -> None:
    recorder = Recorder(raising(httpx.ConnectError), matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert client.otp.wait_for_otp(INBOX_ID, timeout=30) == "482913"
    assert len(slept) == 1 and len(recorder.requests) == 2


def test_the_deadline_covers_minting_during_a_wait() -> None:
    recorder = Recorder(error(403, "forbidden"), error(503, "unavailable", {"retry-after": "10"}))
    client = sync_client(recorder)
    slept: list[float] = []
    client._driver.sleep = slept.append
    with pytest.raises(InternalServerError):  # not a wait request: its last error stands
        client.messages.wait_for_message(INBOX_ID, timeout=2)
    assert slept == [] and recorder.paths == [f"/v1/inboxes/{INBOX_ID}/wait", KEYS]


def test_deadline_policy() -> None:
    busy = Response(status=503, headers={"retry-after": "10"}, content=b"")
    soon = Request(method="POST", path="/", deadline=monotonic() + 2)
    later = attrs.evolve(soon, deadline=monotonic() + 60)
    assert next_delay(0, 2, later, response=busy) == 10
    assert next_delay(0, 2, soon, response=busy) is None  # give up: the 503 is raised
    assert next_delay(0, 2, attrs.evolve(soon, deadline=None), response=busy) == 10
    # A wait gives up the same way: its caller gets the 503, or the connection error, which
    # say what went wrong; a WaitTimeoutError would claim that no mail arrived.
    assert next_delay(0, 2, attrs.evolve(soon, long_poll=True), response=busy) is None
    polling = attrs.evolve(soon, long_poll=True, deadline=0.0)
    assert next_delay(0, 2, polling, error=httpx.ConnectError("x")) is None


@pytest.mark.anyio
async def test_async_errors_retries_and_timeouts() -> None:
    async with async_client(Recorder(error(429, "quota_exceeded")), max_retries=0) as client:
        with pytest.raises(RateLimitError):
            await client.inboxes.create()

    recorder = Recorder(
        raising(httpx.ConnectError), error(502, "bad"), httpx.Response(201, json=INBOX)
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with async_client(recorder) as client:
        client._driver.sleep = record_sleep
        assert (await client.inboxes.create()).id == INBOX_ID
    assert len(recorder.requests) == 3 and len(slept) == 2


# --- calls are closed however they end -------------------------------------------------


class Watched:
    """A call that records how it ended: returned, raised, or closed while suspended."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    def call(self, steps: int = 2) -> Call[str]:
        try:
            for _ in range(steps):
                yield from http(Request(method="GET", path="/v1/inboxes"))
            return "done"
        except GeneratorExit:
            self.ended.append("closed")
            raise
        finally:
            self.ended.append("finally")


class Interrupted(Exception):
    """Not a DispatchError: the driver does not throw it into the call."""


def test_the_sync_driver_closes_a_call_abandoned_by_an_exception() -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise Interrupted  # e.g. KeyboardInterrupt in the middle of sending

    client = sync_client(Recorder(page(), interrupt))
    watched = Watched()
    with pytest.raises(Interrupted):
        client._driver.run(watched.call(), OPTIONS)
    assert watched.ended == ["closed", "finally"]
    finished = Watched()
    assert sync_client(Recorder(page(), page()))._driver.run(finished.call(), OPTIONS) == "done"
    assert finished.ended == ["finally"]


@pytest.mark.anyio
async def test_the_async_driver_closes_a_call_when_its_task_is_cancelled() -> None:
    sent = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        sent.set()
        await asyncio.sleep(60)
        raise AssertionError("not cancelled")

    client = async_client(hang)
    watched = Watched()
    task = asyncio.create_task(client._driver.run(watched.call(), OPTIONS))
    await asyncio.wait_for(sent.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert watched.ended == ["closed", "finally"]


def test_a_call_that_catches_an_error_continues() -> None:
    def tolerant() -> Generator[Step, object, str]:
        try:
            yield Request(method="GET", path="/v1/inboxes")
        except DispatchError as caught:
            return f"caught {type(caught).__name__}"
        return "no error"

    client = sync_client(Recorder(raising(httpx.ConnectError)))
    no_retries = attrs.evolve(OPTIONS, max_retries=0)
    assert client._driver.run(tolerant(), no_retries) == "caught APIConnectionError"


# --- single-flight locks ---------------------------------------------------------------

INBOXES = [f"inbox-{number}" for number in range(40)]


def test_the_sync_mint_locks_are_dropped_once_nobody_needs_them() -> None:
    server = NewInbox()
    guard = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with guard:
            answer = server.answer(request)
        return answer if answer is not None else error(403, "forbidden")

    client = sync_client(handler)
    calls = [inbox for inbox in INBOXES for _ in range(3)]
    with ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        list(pool.map(client.messages.list, calls))
    assert len(server.minted) == len(INBOXES)  # one key per inbox, however many callers
    assert sorted(client.inbox_keys) == sorted(INBOXES)
    assert len(client._driver.locks) == 0


def test_a_sync_lock_is_kept_while_someone_waits_for_it() -> None:
    locks = sync_client(Recorder())._driver.locks
    waiting = threading.Event()
    released = threading.Event()

    def second() -> None:
        waiting.set()
        with locks.hold("mint a"):
            pass
        released.set()

    with locks.hold("mint a"):
        thread = threading.Thread(target=second)
        thread.start()
        waiting.wait(5)
        with locks.hold("mint b"):
            assert len(locks) == 2
        assert len(locks) == 1  # "mint a": held by us, waited for by the thread
    thread.join(5)
    assert released.is_set() and len(locks) == 0


@pytest.mark.anyio
async def test_the_async_mint_locks_are_dropped_once_nobody_needs_them() -> None:
    server = NewInbox()

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other tasks run: they meet at the locks
        answer = server.answer(request)
        return answer if answer is not None else error(403, "forbidden")

    async with async_client(handler) as client:
        await asyncio.gather(*(client.messages.list(inbox) for inbox in INBOXES for _ in range(3)))
        assert len(server.minted) == len(INBOXES)
        assert sorted(client.inbox_keys) == sorted(INBOXES)
        assert len(client._driver.locks) == 0


@pytest.mark.anyio
async def test_an_async_lock_is_dropped_when_its_waiter_is_cancelled() -> None:
    locks = async_client(Recorder())._driver.locks
    entered = asyncio.Event()

    async def wait_for_it() -> None:
        entered.set()
        async with locks.hold("mint a"):
            raise AssertionError("the lock was held by the test")

    async with locks.hold("mint a"):
        waiter = asyncio.create_task(wait_for_it())
        await entered.wait()
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert len(locks) == 1
    assert len(locks) == 0


def test_minting_runs_with_its_own_idempotency_key() -> None:
    recorder = Recorder(error(403, "forbidden"), httpx.Response(201, json=CREATED_KEY), page())
    client = sync_client(recorder)
    client.messages.list(INBOX_ID, idempotency_key="mine")
    mint = recorder.requests[1]
    assert mint.method == "POST" and mint.headers["idempotency-key"] not in ("", "mine")


def test_exclusive_steps_run_their_sub_call_under_the_lock() -> None:
    driver = sync_client(Recorder(page()))._driver

    def inner() -> Call[int]:
        assert len(driver.locks) == 1
        yield from http(Request(method="GET", path="/v1/inboxes"))
        return 7

    def outer() -> Generator[Step, object, object]:
        result = yield Exclusive("mint x", inner())
        return result

    assert driver.run(outer(), OPTIONS) == 7
    assert len(driver.locks) == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
