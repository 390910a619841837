"""`dispatch mail threads` and `dispatch mail thread ID` against the dev server: a message
and its reply listed as one thread, with counts, in JSON and as a table; an unknown id fails
with a hint."""

from __future__ import annotations

from tests.cli.conftest import Shell


def test_threads_and_thread(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Plan", message_id="<plan@acme.test>")
    shell.run("mail", "wait", "--timeout", "30").json()
    shell.deliver(
        address,
        subject="Re: Plan",
        message_id="<plan2@acme.test>",
        headers={"In-Reply-To": "<plan@acme.test>"},
    )
    shell.deliver(address, subject="Other", message_id="<other@acme.test>")
    listed = shell.run("mail", "threads").json()  # a 250 is committed: all three are there
    by_subject = {t["subject"]: t for t in listed}
    assert set(by_subject) == {"Plan", "Other"}
    plan = by_subject["Plan"]
    assert (plan["message_count"], plan["unread_count"]) == (2, 2)
    shown = shell.run("mail", "thread", plan["id"]).json()
    assert [m["subject"] for m in shown["messages"]] == ["Plan", "Re: Plan"]
    table = shell.run("mail", "thread", plan["id"], "-o", "table")
    assert "Re: Plan" in table.stdout and "received" in table.stdout
    assert "Other" in shell.run("mail", "threads", "-o", "table").stdout
    missing = shell.run("mail", "thread", "00000000-0000-0000-0000-000000000000")
    assert missing.status != 0 and "not found" in missing.stderr.lower()
