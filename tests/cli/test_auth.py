"""`dispatch auth login|logout|status` and `dispatch signup`: storing, checking and clearing
keys, where settings come from, and refusals that say what to do."""

from __future__ import annotations

import httpx

from tests.cli.conftest import Shell
from tests.helpers import bearer, signup


def test_login_stores_an_account_key_from_stdin_after_checking_it(shell: Shell) -> None:
    created = signup(shell.dev.base_url)
    logged = shell.run("auth", "login", stdin=created["account_key"] + "\n")
    assert logged.status == 0, logged.stderr
    assert logged.json()["kind"] == "account"
    assert "stored the account key …" in logged.stderr
    assert shell.stored()["api_key"] == created["account_key"]
    assert shell.state()["workspace_id"] == created["workspace"]["id"]
    assert created["account_key"] not in logged.stdout + logged.stderr


def test_login_with_an_inbox_key_selects_its_inbox(shell: Shell) -> None:
    created = signup(shell.dev.base_url)
    shell.run("auth", "login", "--key", created["inbox_key"]).json()
    status = shell.run("auth", "status").json()
    assert status["kind"] == "inbox"
    assert status["inbox_id"] == status["selected_inbox"] == created["inbox"]["id"]
    assert status["inbox_address"] == created["inbox"]["address"]
    assert set(status["permissions"]) == {"read", "wait", "send", "memory", "organize"}
    # An inbox key reaches its inbox, not the workspace.
    refused = shell.run("inbox", "create")
    assert refused.status == 3
    assert "workspace commands need the account key" in refused.stderr


def test_a_refused_key_is_not_stored_and_not_echoed(shell: Shell) -> None:
    created = signup(shell.dev.base_url)
    key_id, secret = created["account_key"].split(".", 1)
    wrong = f"{key_id}.{'x' * len(secret)}"
    refused = shell.run("auth", "login", "--key", wrong)
    assert refused.status == 3
    assert refused.stderr.startswith("error: the key was refused")
    assert "hint:" in refused.stderr and "Traceback" not in refused.stderr
    assert wrong not in refused.stderr and secret not in refused.stderr
    assert not shell.config.exists()
    malformed = shell.run("auth", "login", "--key", "not-a-key")
    assert malformed.status == 3 and "Traceback" not in malformed.stderr
    assert shell.run("auth", "login", stdin="").status == 2


def test_status_changes_nothing_and_without_a_key_exits_3(shell: Shell) -> None:
    missing = shell.run("auth", "status")
    assert missing.status == 3
    assert missing.stderr.startswith("error: not logged in")
    assert not shell.config.exists()

    shell.run("signup").json()
    before = shell.config.read_bytes()
    account = shell.stored()["api_key"]
    keys_before = httpx.get(
        f"{shell.dev.base_url}/v1/inboxes/{shell.state()['inbox_id']}/keys",
        headers=bearer(account),
    ).json()
    for _ in range(2):
        assert shell.run("auth", "status").status == 0
    assert shell.config.read_bytes() == before
    keys_after = httpx.get(
        f"{shell.dev.base_url}/v1/inboxes/{shell.state()['inbox_id']}/keys",
        headers=bearer(account),
    ).json()
    assert keys_after == keys_before


def test_the_environment_and_flags_override_the_file(shell: Shell) -> None:
    shell.run("signup").json()
    other = signup(shell.dev.base_url)
    from_env = shell.run("auth", "status", DISPATCH_API_KEY=other["account_key"]).json()
    assert from_env["key_source"] == "environment"
    assert from_env["workspace_id"] == other["workspace"]["id"]
    assert shell.state()["workspace_id"] != other["workspace"]["id"]

    unreachable = shell.run("--base-url", "http://127.0.0.1:9", "auth", "status")
    assert unreachable.status == 1
    assert "cannot reach the server at http://127.0.0.1:9" in unreachable.stderr
    assert "--base-url or DISPATCH_BASE_URL" in unreachable.stderr
    from_file = shell.run("auth", "status", "-o", "json").json()
    assert from_file["base_url_source"] == "environment"  # the test sets DISPATCH_BASE_URL
    assert from_file["key_source"] == "config"


def test_signup_keeps_a_stored_key_unless_forced_and_logout_forgets(shell: Shell) -> None:
    first = shell.run("signup").json()
    again = shell.run("signup")
    assert again.status == 2 and "dispatch auth logout" in again.stderr
    assert shell.state()["workspace_id"] == first["workspace"]["id"]
    forced = shell.run("signup", "--force").json()
    assert shell.state()["workspace_id"] == forced["workspace"]["id"]

    out = shell.run("auth", "logout")
    assert out.status == 0 and "logged out" in out.stderr
    assert set(shell.stored()) <= {"base_url", "output"}
    assert shell.run("auth", "status").status == 3


def test_a_broken_config_file_is_reported_not_a_traceback(shell: Shell) -> None:
    shell.config.write_text("api_key = [unclosed\n")
    broken = shell.run("auth", "status")
    assert broken.status == 1
    assert "is not valid TOML" in broken.stderr and "Traceback" not in broken.stderr
    shell.config.write_text('output = "yaml"\n')
    assert "`output` must be one of table, json" in shell.run("auth", "status").stderr
