"""Classes of trouble a shell brings: text from mail that looks like markup, a key typed where
no argument goes, several `dispatch` processes at once, a key from the environment beside a
stored one, a reader that leaves the pipe, and a stdin that is open but silent."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.cli.conftest import DISPATCH, Shell
from tests.helpers import signup

MARKUP = [
    "[/x] closing tag with nothing open",
    "[link=https://evil.example]Your bank[/link]",
    "[bold red]URGENT[/] :warning: [[doubled]]",
]


@pytest.mark.parametrize("subject", MARKUP)
def test_mail_text_is_shown_as_written_never_as_markup(shell: Shell, subject: str) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject=subject, text="body")
    shell.run("mail", "wait", "--timeout", "30").json()
    table = shell.run("mail", "list", "-o", "table")
    assert table.status == 0, table.stderr
    assert subject in table.stdout
    assert shell.run("mail", "list").json()[0]["subject"] == subject


def test_a_key_given_as_an_argument_is_masked_in_the_usage_error(shell: Shell) -> None:
    key = signup(shell.dev.base_url)["account_key"]
    wrong = shell.run("auth", "login", key)
    assert wrong.status == 2 and "unexpected extra argument" in wrong.stderr
    assert key not in wrong.stderr and key.split(".", 1)[1] not in wrong.stderr
    assert "…" + key[-4:] in wrong.stderr


def test_concurrent_runs_keep_each_others_changes(shell: Shell) -> None:
    first = shell.run("signup").json()["inbox"]
    waiter = subprocess.Popen(
        [DISPATCH, "mail", "code", "--inbox", first["id"], "--timeout", "30"],
        env=shell.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # the waiter has read the config
        second = shell.run("inbox", "create", "--select").json()
        shell.deliver(first["address"], subject="Code", text="Your code is 135790.")
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert (waiter.returncode, out) == (0, "135790\n"), err
    state = shell.state()
    assert state["inbox_id"] == second["id"]  # the selection the other run made survived
    assert state["printed"]  # and so did what the waiter learnt
    again = shell.run("mail", "code", "--inbox", first["id"], "--timeout", "1")
    assert again.status == 4


def test_a_key_from_the_environment_keeps_state_of_its_own(shell: Shell) -> None:
    mine = shell.run("signup").json()["inbox"]
    shell.run("inbox", "create", "--select").json()
    other = signup(shell.dev.base_url)
    env = {"DISPATCH_API_KEY": other["account_key"]}
    listed = shell.run("inbox", "list", **env).json()
    assert [inbox["id"] for inbox in listed] == [other["inbox"]["id"]]
    # The stored key's selection is not the environment key's: its only inbox is used.
    assert shell.run("mail", "list", **env).json() == []
    assert shell.state()["inbox_id"] != other["inbox"]["id"]
    assert mine["id"] != other["inbox"]["id"]
    other_state = shell.stored()["keys"][other["account_key"].split(".", 1)[0]]
    assert other["inbox"]["id"] in other_state["inbox_keys"]  # minted once, for later runs
    assert other["inbox"]["id"] not in shell.state().get("inbox_keys", {})


def test_a_reader_that_leaves_the_pipe_ends_the_command_quietly(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    watcher = subprocess.Popen(
        [DISPATCH, "mail", "watch", "--type", "message.received", "-o", "json"],
        env=shell.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert "watching" in watcher.stderr.readline()
        shell.deliver(address, subject="First", text="x")
        assert json.loads(watcher.stdout.readline())["data"]["subject"] == "First"
        watcher.stdout.close()  # the reader leaves, as `head -1` does
        shell.deliver(address, subject="Second", text="x")  # the next write finds no reader
        watcher.wait(timeout=30)
        err = watcher.stderr.read()
    finally:
        watcher.kill()
    assert watcher.returncode == 141
    assert "Exception ignored" not in err and "Traceback" not in err


def test_a_silent_open_stdin_does_not_hang_a_command(shell: Shell) -> None:
    shell.run("signup").json()
    started = time.monotonic()
    silent = subprocess.Popen(
        [DISPATCH, "mail", "send", "--to", "a@example.com", "--subject", "x"],
        env=shell.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        silent.wait(timeout=20)  # stdin stays open, and nothing is written to it
    finally:
        silent.kill()
    assert silent.stdin is not None and silent.stderr is not None
    silent.stdin.close()
    assert silent.returncode == 2 and "no body" in silent.stderr.read()
    assert time.monotonic() - started < 15


def test_an_attachment_from_stdin(shell: Shell) -> None:
    shell.run("signup").json()
    receiver = Shell(shell.dev, shell.home / "receiver")
    receiver.home.mkdir()
    to = receiver.run("signup").json()["inbox"]["address"]
    sent = shell.run(
        "mail", "send", "--to", to, "--subject", "Piped file", "--text", "attached",
        "--attach-stdin", "notes.txt", stdin="line one\nline two\n",
    ).json()  # fmt: skip
    assert sent["attachments"] == [
        {"filename": "notes.txt", "content_type": "text/plain", "size_bytes": 18}
    ]
    both = shell.run(
        "mail", "send", "--to", to, "--text-file", "-", "--attach-stdin", "x.bin", stdin="x"
    )
    assert both.status == 2 and "not both" in both.stderr
