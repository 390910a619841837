"""`dispatch-server loadtest` as an operator runs it: its own process, against a real
`dispatch-server dev`, its report checked against what the server stored."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch_server.cli import main
from dispatch_server.cli.loadtest import is_loopback
from tests.hostile.test_smtp_tls import make_certificate
from tests.server.cli.test_commands import DevProcess, command, free_port, server_env


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(tmp_path_factory.mktemp("dev"), DISPATCH_LOG_LEVEL="WARNING") as process:
        yield process


def loadtest(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command("loadtest", *args),
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def against(dev: DevProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return loadtest(
        "--api-url",
        dev.base_url,
        "--smtp",
        f"127.0.0.1:{dev.smtp_port}",
        "--json",
        *args,
        DISPATCH_API_KEY=dev.account_key,
    )


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def stored_codes(dev: DevProcess, addresses: list[str]) -> dict[str, list[str]]:
    """Each run inbox's stored messages, as the codes in their subjects, read with a key of
    its own (not the load test's)."""
    account = {"authorization": f"Bearer {dev.account_key}"}
    found: dict[str, list[str]] = {}
    with httpx.Client(base_url=dev.base_url, timeout=30) as client:
        inboxes: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = client.get(
                "/v1/inboxes",
                params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                headers=account,
            ).json()
            inboxes += page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        for inbox in inboxes:
            if inbox["address"] not in addresses:
                continue
            key = client.post(f"/v1/inboxes/{inbox['id']}/keys", json={}, headers=account)
            mine = {"authorization": f"Bearer {key.json()['key']}"}
            listed = client.get(
                f"/v1/inboxes/{inbox['id']}/messages",
                params={"folder": "all", "limit": 100},
                headers=mine,
            ).json()["data"]
            found[inbox["address"]] = [m["subject"].split()[0] for m in listed]
    return found


def test_a_run_reports_what_the_server_stored(dev: DevProcess) -> None:
    report = report_of(against(dev, "--inboxes", "3", "--connections", "2", "--messages", "24"))
    assert report["stopped_by"] == "messages"
    assert report["messages"] == {"sent": 24, "accepted": 24, "refused": 0, "failed": 0}
    assert report["refused"] == {} and report["errors"] == {}
    assert report["otp"]["returned"] == 24
    assert report["stored"]["listed"] == 24 and report["stored"]["missing"] == 0
    for figures in (report["smtp_250_ms"], report["otp_after_250_ms"]):
        assert figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]
    addresses = report["target"]["inboxes"]
    assert len(addresses) == 3
    assert all(a.startswith(f"loadtest-{report['run']}-") for a in addresses)
    stored = stored_codes(dev, addresses)
    assert sum(len(codes) for codes in stored.values()) == 24
    assert sorted(c for codes in stored.values() for c in codes) == [
        str(100_000 + n) for n in range(24)
    ]


def test_the_duration_bounds_a_run(dev: DevProcess) -> None:
    began = time.monotonic()
    report = report_of(
        against(dev, "--inboxes", "2", "--duration", "2", "--rate", "4", "--messages", "1000")
    )
    assert report["stopped_by"] == "duration"
    assert 2 <= report["messages"]["sent"] <= 10
    assert report["stored"]["missing"] == 0
    assert report["stored"]["listed"] == report["messages"]["accepted"]
    assert time.monotonic() - began < 30


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit status and stderr of a command line refused before it touches the network (in
    this process: the flags are checked before anything is started)."""
    with pytest.raises(SystemExit) as exited:
        main(["loadtest", *args])
    code = exited.value.code
    if isinstance(code, str):  # a one-line CliError, as sys.exit prints it
        return 1, code
    assert isinstance(code, int)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("::1", True),
        # Names are not resolved: a search domain could make any of these a real host.
        ("x.localhost", False),
        ("localhost.example.com", False),
        ("localhost.localdomain", False),
        ("127.0.0.1.nip.io", False),
        # Not loopback, whatever they reach on some systems.
        ("0.0.0.0", False),
        ("127.1", False),
        ("", False),
    ],
)
def test_only_a_loopback_address_or_localhost_as_written_is_this_machine(
    host: str, loopback: bool
) -> None:
    assert is_loopback(host) is loopback


def test_a_remote_target_needs_yes(capsys: pytest.CaptureFixture[str]) -> None:
    code, said = refused(
        capsys,
        *("--api-url", "https://dispatch.example.com", "--smtp", "mx.example.com:25"),
        *("--key", "k"),
    )
    assert code == 1
    assert "dispatch.example.com, mx.example.com is not this machine" in said
    assert "--yes" in said
    code, said = refused(
        capsys, "--api-url", "http://127.0.0.1:1", "--smtp", "10.0.0.1:25", "--key", "k"
    )
    assert code == 1 and "10.0.0.1 is not this machine" in said


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--messages", "0"], "--messages: must be between 1 and 100000"),
        (["--duration", "100000"], "--duration: must be between 1 and 3600"),
        (["--inboxes", "many"], "--inboxes: not a number"),
        (["--rate", "nan"], "--rate: must be between 0.1 and 10000"),
        (["--smtp", "localhost"], "--smtp: expected HOST:PORT"),
        (["--smtp", "127.0.0.1:70000"], "--smtp: port must be 1-65535"),
        (["--api-url", "ftp://x"], "--api-url: expected an http:// or https:// URL"),
    ],
)
def test_bad_flags_are_refused_by_name(
    capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    args = ["--api-url", "http://127.0.0.1:1", "--smtp", "127.0.0.1:1", "--key", "k", *flags]
    code, stderr = refused(capsys, *args)
    assert code == 2
    assert said in stderr


def test_no_key_and_a_lone_tls_ca_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    base = ("--api-url", "http://127.0.0.1:1", "--smtp", "127.0.0.1:1")
    assert refused(capsys, *base) == (
        1,
        "dispatch-server: no account key: pass --key or set DISPATCH_API_KEY",
    )
    code, said = refused(capsys, *base, "--key", "k", "--tls-ca", "x")
    assert code == 1 and "--tls-ca goes with --starttls" in said


@pytest.fixture
def refusing_door() -> Iterator[int]:
    """An SMTP door that answers every connection `554` and closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 5.7.1 no mail today\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_refusals_are_reported_not_raised(dev: DevProcess, refusing_door: int) -> None:
    done = loadtest(
        "--api-url",
        dev.base_url,
        "--smtp",
        f"127.0.0.1:{refusing_door}",
        "--inboxes",
        "2",
        "--messages",
        "5",
        "--json",
        DISPATCH_API_KEY=dev.account_key,
    )
    report = report_of(done)
    assert report["messages"] == {"sent": 5, "accepted": 0, "refused": 5, "failed": 0}
    assert report["refused"] == {"greeting 554": 5}
    assert report["stored"] == {
        "accepted": 0,
        "listed": 0,
        "missing": 0,
        "missing_messages": [],
        "listed_not_accepted": 0,
    }
    assert report["smtp_250_ms"]["p50"] is None


def test_a_door_past_its_quota_refuses_and_the_rest_is_stored(tmp_path: Path) -> None:
    with DevProcess(
        tmp_path, DISPATCH_LOG_LEVEL="WARNING", DISPATCH_DAILY_INBOUND_QUOTA="4"
    ) as quota_dev:
        report = report_of(against(quota_dev, "--inboxes", "2", "--messages", "10"))
    assert report["messages"]["accepted"] == 4
    assert report["messages"]["refused"] == 6
    assert sum(report["refused"].values()) == 6
    assert all(kind.endswith(" 452") for kind in report["refused"]), report["refused"]
    assert report["stored"]["listed"] == 4 and report["stored"]["missing"] == 0


def test_a_closed_port_is_an_error_kind(dev: DevProcess) -> None:
    done = loadtest(
        "--api-url",
        dev.base_url,
        "--smtp",
        f"127.0.0.1:{free_port()}",
        "--inboxes",
        "1",
        "--messages",
        "3",
        "--json",
        DISPATCH_API_KEY=dev.account_key,
    )
    report = report_of(done)
    assert report["messages"] == {"sent": 3, "accepted": 0, "refused": 0, "failed": 3}
    assert report["errors"] == {"connect: Connection refused": 3}


def test_starttls_to_a_door_that_requires_it(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path / "tls", "door")
    with DevProcess(
        tmp_path,
        DISPATCH_LOG_LEVEL="WARNING",
        DISPATCH_SMTP_TLS_CERT=str(cert),
        DISPATCH_SMTP_TLS_KEY=str(key),
        DISPATCH_SMTP_REQUIRE_TLS="true",
    ) as tls_dev:
        over_tls = report_of(
            against(
                tls_dev, "--inboxes", "2", "--messages", "6", "--starttls", "--tls-ca", str(cert)
            )
        )
        plain = report_of(against(tls_dev, "--inboxes", "1", "--messages", "3"))
        untrusted = report_of(against(tls_dev, "--inboxes", "1", "--messages", "2", "--starttls"))
    assert over_tls["target"]["starttls"] is True
    assert over_tls["messages"] == {"sent": 6, "accepted": 6, "refused": 0, "failed": 0}
    assert over_tls["stored"]["listed"] == 6
    assert plain["refused"] == {"MAIL 530": 3}
    assert untrusted["messages"]["failed"] == 2
    assert all(kind.startswith("TLS: ") for kind in untrusted["errors"]), untrusted["errors"]
