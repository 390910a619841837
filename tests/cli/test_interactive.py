"""The interactive parts, driven through tmux as a person at a terminal: the hidden key
prompt of `auth login`, tables by default on a terminal, and Ctrl-C ending a wait."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.cli.conftest import DISPATCH, Shell
from tests.helpers import signup


class Terminal:
    """A tmux session running bash with this test's environment."""

    def __init__(self, shell: Shell) -> None:
        self.name = f"dispatch-{uuid.uuid4().hex[:8]}"
        exports = " ".join(
            f"{name}={shlex.quote(value)}"
            for name, value in shell.env().items()
            if name.startswith(("DISPATCH_", "HOME", "PATH"))
        )
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50",
             f"env -i {exports} TERM=xterm-256color bash --norc --noprofile"],
            check=True,
        )  # fmt: skip

    def type(self, text: str, enter: bool = True) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)
        if enter:
            subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def key(self, name: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, name], check=True)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name, "-S", "-200"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture
def terminal(shell: Shell) -> Iterator[Terminal]:
    found = Terminal(shell)
    try:
        yield found
    finally:
        found.close()


def test_login_asks_for_the_key_without_echoing_it(shell: Shell, terminal: Terminal) -> None:
    key = signup(shell.dev.base_url)["account_key"]
    terminal.type(f"{DISPATCH} auth login; echo login=$?")
    terminal.wait_for("API key:")
    terminal.type(key)
    screen = terminal.wait_for("login=0")
    assert "stored the account key …" in screen
    assert key not in screen and key[-12:] not in screen
    assert shell.stored()["api_key"] == key
    # On a terminal the default output is a table.
    terminal.type(f"{DISPATCH} auth status; echo status=$?")
    screen = terminal.wait_for("status=0")
    assert "kind" in screen and "account" in screen and "{" not in screen


def test_ctrl_c_ends_a_wait_with_status_130(shell: Shell, terminal: Terminal) -> None:
    shell.run("signup").json()
    terminal.type(f"{DISPATCH} mail code --timeout 120; echo status=$?")
    terminal.wait_for("waiting up to 120 s")  # the spinner, on a terminal's stderr
    terminal.key("C-c")
    screen = terminal.wait_for("status=130")
    assert "Traceback" not in screen
