"""`dispatch mail ...` against the dev server: reading, raw bytes, waits for codes, links and
messages, the event stream, extraction, and sending from flags, files and stdin."""

from __future__ import annotations

import json
import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path

from tests.cli.conftest import DISPATCH, Shell
from tests.server.cli.test_commands import DevProcess


def test_show_and_raw(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(
        address,
        subject="Confirm your account",
        text="Confirm: https://acme.test/confirm?token=abc123def456",
        html='<p><a href="https://acme.test/confirm?token=abc123def456">Confirm</a></p>',
    )
    message_id = shell.run("mail", "wait", "--timeout", "30").json()["id"]
    shown = shell.run("mail", "show", message_id).json()
    assert shown["subject"] == "Confirm your account"
    assert shown["link"] == "https://acme.test/confirm?token=abc123def456"
    assert shown["otp"] is None and shown["from"] == "Acme <no-reply@acme.test>"
    assert "abc123def456" in shown["text"]
    table = shell.run("mail", "show", message_id, "-o", "table")
    assert "Confirm your account" in table.stdout and "abc123def456" in table.stdout

    raw = subprocess.run(
        [DISPATCH, "mail", "raw", message_id], env=shell.env(), capture_output=True, timeout=30
    )
    assert raw.returncode == 0
    parsed = message_from_bytes(raw.stdout, policy=policy.default)
    assert parsed["Subject"] == "Confirm your account"
    assert raw.stdout.startswith(b"Received: ") or b"\r\n" in raw.stdout


def test_link_prints_only_the_link_and_wait_times_out_with_status_4(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    waited = shell.run("mail", "wait", "--timeout", "1")
    assert waited.status == 4 and waited.stdout == ""
    assert "hint: wait longer with --timeout" in waited.stderr
    shell.deliver(
        address,
        subject="Sign in to Acme",
        html='<a href="https://acme.test/magic?code=Zk3Jq9Wm2Lp8">Sign in</a>',
        text=None,
    )
    link = shell.bash('LINK=$(dispatch mail link --timeout 30)\necho "$LINK"')
    assert link.stdout == "https://acme.test/magic?code=Zk3Jq9Wm2Lp8\n"
    detail = shell.run("mail", "link", "--since", "1h", "-o", "json", "--timeout", "5").json()
    assert detail["link"] == "https://acme.test/magic?code=Zk3Jq9Wm2Lp8"
    assert detail["subject"] == "Sign in to Acme"


def test_code_filters_by_sender_and_subject(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Your code", text="Code: 111222", sender="a@other.test")
    shell.deliver(address, subject="Your Acme code", text="Code: 333444")
    assert shell.run("mail", "code", "--from", "acme.test", "--timeout", "30").stdout == (
        "333444\n"
    )
    found = shell.run("mail", "code", "--from", "other.test", "-o", "json", "--timeout", "30")
    assert found.json()["code"] == "111222"
    bad = shell.run("mail", "code", "--since", "yesterday-ish")
    assert bad.status == 2 and "--since" in bad.stderr


def test_watch_follows_new_mail_as_json_lines(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    watcher = subprocess.Popen(
        [DISPATCH, "mail", "watch", "--type", "message.received", "--count", "2", "-o", "json"],
        env=shell.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stderr is not None
        assert "watching" in watcher.stderr.readline()  # connected: what comes next is live
        shell.deliver(address, subject="First", text="Your code is 246810")
        time.sleep(0.2)
        shell.deliver(address, subject="Second", text="no code here")
        out, _ = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert watcher.returncode == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["message.received"] * 2
    assert [e["data"]["subject"] for e in events] == ["First", "Second"]
    assert events[0]["data"]["otp"]["code"] == "246810"
    assert events[0]["id"] < events[1]["id"]
    # Resuming after the first replays exactly the second.
    replay = shell.run("mail", "watch", "--after", str(events[0]["id"]), "--count", "1")
    (again,) = [json.loads(line) for line in replay.stdout.splitlines()]
    assert again["id"] == events[1]["id"]
    table = shell.run("mail", "watch", "--after", "0", "--count", "1", "-o", "table")
    assert "\tinbox.created\t" in table.stdout or "\tmessage.received\t" in table.stdout


def test_extract_reports_stored_artifacts_and_messages_without(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Code", text="Your verification code is 774411.")
    shell.deliver(address, subject="Newsletter", text="Nothing to act on this week.")
    shell.run("mail", "wait", "--subject", "Newsletter", "--timeout", "30").json()
    findings = shell.run("mail", "extract", "--recent", "5").json()
    by_subject = {f["subject"]: f for f in findings}
    assert by_subject["Code"]["otp"] == "774411" and by_subject["Code"]["source"] == "stored"
    assert by_subject["Newsletter"]["source"] == "none"
    one = shell.run("mail", "extract", by_subject["Code"]["message_id"]).json()
    assert [f["otp"] for f in one] == ["774411"]
    no_model = shell.run("mail", "extract", "--llm")
    assert no_model.status == 1 and "DISPATCH_LLM_MODEL" in no_model.stderr


def test_send_from_flags_files_and_stdin(shell: Shell) -> None:
    shell.run("signup").json()
    receiver = Shell(shell.dev, shell.home / "receiver")
    receiver.home.mkdir()
    to = receiver.run("signup").json()["inbox"]["address"]

    (shell.home / "body.html").write_text("<p>Hello <b>there</b></p>")
    (shell.home / "report.csv").write_text("a,b\n1,2\n")
    sent = shell.run(
        "mail",
        "send",
        "--to",
        to,
        "--subject",
        "Report",
        "--text",
        "See the attachment.",
        "--html-file",
        "body.html",
        "--attach",
        "report.csv",
        "--header",
        "X-Run: 42",
    ).json()
    assert sent["to"] == [to] and sent["subject"] == "Report"
    assert sent["attachments"][0]["filename"] == "report.csv"
    piped = shell.run("mail", "send", "--to", to, "--subject", "Piped", stdin="from stdin\n").json()
    assert piped["text"] == "from stdin\n"

    got = receiver.run("mail", "wait", "--subject", "Report", "--timeout", "30").json()
    assert got["attachments"][0]["filename"] == "report.csv"
    assert "<b>there</b>" in got["html"]
    assert (
        receiver.run("mail", "wait", "--subject", "Piped", "--timeout", "30")
        .json()["text"]
        .startswith("from stdin")
    )

    # The same idempotency key twice: one mail.
    args = ("mail", "send", "--to", to, "--subject", "Once", "--text", "x")
    first = shell.run(*args, "--idempotency-key", "run-7").json()
    second = shell.run(*args, "--idempotency-key", "run-7").json()
    assert first["id"] == second["id"]

    empty = shell.run("mail", "send", "--to", to, "--subject", "Nothing", stdin="")
    assert empty.status == 2 and "no body" in empty.stderr
    bad_header = shell.run("mail", "send", "--to", to, "--text", "x", "--header", "oops")
    assert bad_header.status == 2 and "Name: value" in bad_header.stderr
    refused = shell.run("mail", "send", "--to", "not an address", "--text", "x")
    assert refused.status == 1 and refused.stderr.startswith("error: 400")


def test_watch_resumes_across_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    data.mkdir()
    (tmp_path / "home").mkdir()
    first = DevProcess(data)
    shell = Shell(first, tmp_path / "home")
    second: DevProcess | None = None
    watcher: subprocess.Popen[str] | None = None
    try:
        address = shell.run("signup").json()["inbox"]["address"]
        watcher = subprocess.Popen(
            [DISPATCH, "mail", "watch", "--type", "message.received", "--count", "2"],
            env=shell.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert watcher.stdout is not None and watcher.stderr is not None
        assert "watching" in watcher.stderr.readline()
        shell.deliver(address, subject="Before the restart", text="one")
        before = json.loads(watcher.stdout.readline())
        first.stop()  # SIGKILL: the stream drops mid-connection
        second = DevProcess(data, port=first.port, smtp_port=first.smtp_port)
        shell.deliver(address, subject="After the restart", text="two")
        out, _ = watcher.communicate(timeout=90)
        assert watcher.returncode == 0
        (after,) = [json.loads(line) for line in out.splitlines()]
    finally:
        if watcher is not None:
            watcher.kill()
        first.stop()
        if second is not None:
            second.stop()
    assert before["data"]["subject"] == "Before the restart"
    assert after["data"]["subject"] == "After the restart"
    assert after["id"] > before["id"]


def test_code_consume_takes_a_code_once_and_a_lease_is_confirmed(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Your code", text="Code: 515151")
    assert shell.run("mail", "code", "--consume", "--timeout", "10").stdout == "515151\n"
    taken = shell.run("mail", "code", "--consume", "--since", "1h", "--timeout", "1")
    assert taken.status == 4 and taken.stdout == ""
    # A non-consuming read still shows it, consumed.
    shown = shell.run("mail", "code", "--since", "1h", "-o", "json", "--timeout", "5").json()
    assert shown["code"] == "515151" and shown["consumed_at"]
    shell.deliver(address, subject="Your code", text="Code: 626262")
    leased = shell.run(
        "mail", "code", "--consume", "--lease", "60", "-o", "json", "--timeout", "10"
    ).json()
    assert leased["code"] == "626262" and leased["lease_id"] and leased["lease_expires_at"]
    confirmed = shell.run("mail", "confirm", leased["id"], leased["lease_id"]).json()
    assert confirmed["code"] == "626262" and confirmed["lease_expires_at"] is None
    wrong = shell.run("mail", "confirm", leased["id"], "not-the-lease")
    assert wrong.status != 0 and "lease" in wrong.stderr
    assert shell.run("mail", "code", "--lease", "5").status == 2
