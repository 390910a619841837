"""An agent with only a shell: sign up, get a code, reply, remember, each in one command,
with JSON a program can rely on; no key ever printed in full."""

from __future__ import annotations

import os
import stat

from tests.cli.conftest import Shell


def test_an_agent_signs_up_receives_a_code_replies_and_remembers(shell: Shell) -> None:
    created = shell.run("signup", "--local-part", "cli-agent").json()
    assert set(created) == {"workspace", "agent", "inbox"}
    address = created["inbox"]["address"]
    assert address.startswith("cli-agent@")
    assert "account_key" not in created and "inbox_key" not in created

    status = shell.run("auth", "status").json()
    assert status["kind"] == "account"
    assert status["workspace_id"] == created["workspace"]["id"]
    assert status["selected_inbox"] == created["inbox"]["id"]
    assert "inboxes" in status["permissions"]
    assert status["key"].startswith("…") and len(status["key"]) == 5

    shell.deliver(
        address,
        subject="Your Acme code",
        text="Your verification code is 482913. It expires in 10 minutes.",
    )
    code = shell.bash('CODE=$(dispatch mail code --timeout 30)\necho "got:$CODE"')
    assert code.status == 0, code.stderr
    assert code.stdout == "got:482913\n"

    (summary,) = shell.run("mail", "list").json()
    assert summary["subject"] == "Your Acme code" and summary["has_otp"] is True
    assert summary["from"] == "Acme <no-reply@acme.test>"

    replied = shell.run("mail", "reply", summary["id"], "--text", "Thanks, confirmed.").json()
    assert replied["to"] == ["no-reply@acme.test"]
    assert replied["subject"] == "Re: Your Acme code"
    assert replied["status"] in {"queued", "sending", "sent", "delivered"}

    written = shell.run("memory", "write", "acme-account", "user id 4411").json()
    assert written["key"] == "acme-account" and written["value"] == "user id 4411"
    assert shell.bash("dispatch memory read acme-account").stdout == "user id 4411\n"

    stored = shell.stored()
    assert stored["api_key"] and shell.state()["kind"] == "account"
    mode = stat.S_IMODE(os.stat(shell.config).st_mode)
    assert mode == 0o600
    secrets = [stored["api_key"], *shell.state()["inbox_keys"].values()]
    for output in shell.outputs:
        for secret in secrets:
            assert secret not in output and secret.split(".", 1)[1] not in output


def test_a_code_goes_into_another_command_through_a_pipe(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Sign in", text="Your sign-in code: 551 204")
    piped = shell.bash("dispatch mail code --timeout 30 | tr -d '\\n' | wc -c")
    assert piped.stdout.strip() == "6"
    # The same message is not given twice: the next code is the next mail's.
    again = shell.run("mail", "code", "--timeout", "1")
    assert again.status == 4 and again.stdout == ""
    assert again.stderr.startswith("error: no new message with a code arrived")
    assert "(the newest was printed before)" in again.stderr
    shell.deliver(address, subject="Sign in", text="Your new sign-in code: 907 311")
    assert shell.run("mail", "code", "--timeout", "30").stdout == "907311\n"
    # Looking back on purpose finds the newest one again.
    assert shell.run("mail", "code", "--since", "10m", "--timeout", "5").stdout == "907311\n"
