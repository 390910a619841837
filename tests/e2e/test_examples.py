"""The examples in examples/ run against a live server and print the code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.helpers import signup

ROOT = Path(__file__).parent.parent.parent


@pytest.mark.parametrize("module", ["examples.otp_roundtrip", "examples.otp_roundtrip_async"])
def test_example_prints_the_code(live_server: LiveServer, module: str) -> None:
    env = {
        **os.environ,
        "DISPATCH_API_KEY": signup(live_server.base_url)["account_key"],
        "DISPATCH_BASE_URL": live_server.base_url,
        "DISPATCH_SMTP_HOST": live_server.smtp_host,
        "DISPATCH_SMTP_PORT": str(live_server.smtp_port),
    }
    result = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "code:  482913" in result.stdout
    assert "@dispatch.test" in result.stdout


def test_the_agent_signs_up_and_confirms_by_reply(live_server: LiveServer) -> None:
    env = {
        **os.environ,
        "DISPATCH_API_KEY": signup(live_server.base_url)["account_key"],
        "DISPATCH_BASE_URL": live_server.base_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "examples.agent_signup_reply"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    code = lines["code"].strip()
    assert len(code) == 6 and code.isdigit()
    assert f"sent the code {code} to " in lines["service"]
    assert lines["agent"].strip().endswith("@dispatch.test")
    assert lines["replied"].strip() == "'Re: Sign up' (delivered)"
    assert lines["confirmed"].strip() == "True"
