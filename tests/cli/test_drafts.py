"""`dispatch drafts ...` against the dev server: a draft saved without recipients, edited in
part (a stale --version fails with its code), listed and shown in JSON and as a table, sent
(then gone: showing or sending it again fails), deleted; an incomplete draft's send fails
naming the field, and the draft stays."""

from __future__ import annotations

from tests.cli.conftest import Shell


def test_create_edit_send_delete(shell: Shell) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    draft = shell.run("drafts", "create", "--subject", "Plan").json()
    assert (draft["version"], draft["to"], draft["subject"]) == (1, [], "Plan")
    refused = shell.run("drafts", "send", draft["id"])
    assert refused.status != 0 and "to" in refused.stderr
    assert shell.run("drafts", "show", draft["id"]).json()["version"] == 1
    edited = shell.run(
        "drafts", "edit", draft["id"], "--to", address, "--text", "Hi", "--version", "1"
    ).json()
    assert (edited["version"], edited["to"], edited["text"]) == (2, [address], "Hi")
    stale = shell.run("drafts", "edit", draft["id"], "--text", "lost", "--version", "1")
    assert stale.status != 0 and "draft_changed" in stale.stderr
    other = shell.run("drafts", "create", "--to", "a@example.com", "--text", "x").json()
    assert [d["id"] for d in shell.run("drafts", "list").json()] == [other["id"], draft["id"]]
    assert "Plan" in shell.run("drafts", "list", "-o", "table").stdout
    sent = shell.run("drafts", "send", draft["id"], "--idempotency-key", "cli-draft-1").json()
    assert (sent["subject"], sent["to"]) == ("Plan", [address])
    again = shell.run("drafts", "send", draft["id"], "--idempotency-key", "cli-draft-1").json()
    assert again["id"] == sent["id"]
    gone = shell.run("drafts", "show", draft["id"])
    assert gone.status != 0 and "not found" in gone.stderr.lower()
    assert shell.run("drafts", "delete", other["id"]).json()["id"] == other["id"]
    assert shell.run("drafts", "list").json() == []
