"""`dispatch mail read|unread|label|trash|untrash|spam|unspam` and `mail labels` against the
dev server: messages marked, labelled, trashed and moved, several at once, `mail list`'s
filters, the label counts; a change naming nothing, an unknown id and a bad label fail
with a message and change nothing."""

from __future__ import annotations

from tests.cli.conftest import Shell


def test_state_and_labels_from_the_shell(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    for subject in ("One", "Two", "Three"):
        shell.deliver(address, subject=subject)
    shell.run("mail", "wait", "--timeout", "30").json()
    listed = shell.run("mail", "list").json()
    ids = {m["subject"]: m["id"] for m in listed}
    assert len(ids) == 3 and all(m["unread"] for m in listed)
    read = shell.run("mail", "read", ids["One"], ids["Two"]).json()
    assert [m["unread"] for m in read] == [False, False]
    assert [m["subject"] for m in shell.run("mail", "list", "--unread").json()] == ["Three"]
    assert {m["subject"] for m in shell.run("mail", "list", "--read").json()} == {"One", "Two"}
    shell.run("mail", "unread", ids["Two"]).json()
    labelled = shell.run("mail", "label", ids["One"], "--add", "Billing", "--add", "to do").json()
    assert labelled[0]["labels"] == ["Billing", "to do"]
    assert [m["subject"] for m in shell.run("mail", "list", "--label", "billing").json()] == ["One"]
    shell.run("mail", "label", ids["One"], "--remove", "TO DO").json()
    shell.run("mail", "trash", ids["Three"]).json()
    assert [m["subject"] for m in shell.run("mail", "list", "--folder", "trash").json()] == [
        "Three"
    ]
    moved = shell.run("mail", "spam", ids["Two"]).json()
    assert moved[0]["folder"] == "spam"
    counts = {c["name"]: c["message_count"] for c in shell.run("mail", "labels").json()}
    assert counts == {"inbox": 1, "spam": 1, "trash": 1, "Billing": 1}
    table = shell.run("mail", "labels", "-o", "table").stdout
    assert "Billing" in table and "system" in table
    shell.run("mail", "unspam", ids["Two"]).json()
    shell.run("mail", "untrash", ids["Three"]).json()
    assert len(shell.run("mail", "list").json()) == 3
    shown = shell.run("mail", "show", ids["One"], "-o", "table").stdout
    assert "Billing" in shown


def test_bad_changes_fail_and_change_nothing(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Only")
    shell.run("mail", "wait", "--timeout", "30").json()
    message_id = shell.run("mail", "list").json()[0]["id"]
    nothing = shell.run("mail", "label", message_id)
    assert nothing.status == 2 and "--add" in nothing.stderr
    missing = shell.run("mail", "read", message_id, "00000000-0000-0000-0000-000000000000")
    assert missing.status != 0 and "not found" in missing.stderr.lower()
    bad = shell.run("mail", "label", message_id, "--add", "spam")
    assert bad.status != 0 and "system name" in bad.stderr
    no_ids = shell.run("mail", "trash")
    assert no_ids.status == 2
    [only] = shell.run("mail", "list").json()
    assert (only["unread"], only["labels"]) == (True, [])
