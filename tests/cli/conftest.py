"""The `dispatch` CLI as a user runs it: the installed script in a child process, against a
live `dispatch-server dev` (its own process, SQLite), each test with a config file of its
own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.helpers import make_mail, smtp_send
from tests.server.cli.test_commands import DevProcess

DISPATCH = str(Path(sys.executable).parent / "dispatch")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(tmp_path_factory.mktemp("dev")) as process:
        yield process


@attrs.frozen
class Result:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.status == 0, self.stderr
        return json.loads(self.stdout)


@attrs.define
class Shell:
    """`dispatch` with this test's config file, talking to the dev server."""

    dev: DevProcess
    home: Path
    outputs: list[str] = attrs.field(factory=list)

    @property
    def config(self) -> Path:
        return self.home / "config.toml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
        env.update(
            DISPATCH_CONFIG=str(self.config),
            DISPATCH_BASE_URL=self.dev.base_url,
            HOME=str(self.home),
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60, **env: str) -> Result:
        return self._completed([DISPATCH, *args], stdin, timeout, self.env(**env))

    def bash(self, script: str, timeout: float = 60) -> Result:
        script = f"set -euo pipefail\nPATH={Path(DISPATCH).parent}:$PATH\n{script}"
        return self._completed(["bash", "-c", script], None, timeout, self.env())

    def _completed(
        self, argv: list[str], stdin: str | None, timeout: float, env: dict[str, str]
    ) -> Result:
        """Run `argv` to its end; its output is kept, so tests can check no key is in it."""
        done = subprocess.run(
            argv,
            input=stdin,
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.outputs += [done.stdout, done.stderr]
        return Result(done.returncode, done.stdout, done.stderr)

    def deliver(self, to: str, **mail: Any) -> None:
        smtp_send("127.0.0.1", self.dev.smtp_port, to, make_mail(to, **mail))

    def stored(self) -> dict[str, Any]:
        return tomllib.loads(self.config.read_text())

    def state(self) -> dict[str, Any]:
        """What the config keeps for the stored key."""
        stored = self.stored()
        found: dict[str, Any] = stored.get("keys", {}).get(stored["api_key"].split(".")[0], {})
        return found


@pytest.fixture
def shell(dev: DevProcess, tmp_path: Path) -> Shell:
    return Shell(dev, tmp_path)
