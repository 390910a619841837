"""`dispatch lists ...`: entries added, listed and deleted with the account key, listed
with an inbox key."""

from __future__ import annotations

from tests.cli.conftest import Shell
from tests.helpers import signup


def test_lists_block_allow_list_delete(shell: Shell) -> None:
    shell.run("signup").json()
    blocked = shell.run("lists", "block", "Spam.Example").json()
    assert (blocked["pattern"], blocked["action"], blocked["direction"]) == (
        "spam.example",
        "block",
        "receive",
    )
    allowed = shell.run("lists", "allow", "*.partner.example", "--direction", "send").json()
    assert allowed["action"] == "allow" and allowed["inbox_id"] is None
    assert [e["id"] for e in shell.run("lists", "list").json()] == [allowed["id"], blocked["id"]]
    sends = shell.run("lists", "list", "--direction", "send").json()
    assert [e["id"] for e in sends] == [allowed["id"]]
    bad = shell.run("lists", "block", "not a pattern")
    assert bad.status != 0 and "pattern" in bad.stderr
    assert shell.run("lists", "delete", blocked["id"]).json()["id"] == blocked["id"]
    assert [e["id"] for e in shell.run("lists", "list").json()] == [allowed["id"]]


def test_an_inbox_key_lists_its_inbox_entries_and_cannot_add_or_delete(shell: Shell) -> None:
    created = signup(shell.dev.base_url)
    account = {"DISPATCH_API_KEY": created["account_key"]}
    inbox = {"DISPATCH_API_KEY": created["inbox_key"]}
    everyone = shell.run("lists", "block", "x.example", **account).json()
    own = shell.run("lists", "block", "a@y.example", "--inbox", created["inbox"]["id"], **account)
    listed = shell.run("lists", "list", **inbox).json()
    assert [e["id"] for e in listed] == [own.json()["id"], everyone["id"]]
    refused = shell.run("lists", "block", "z.example", **inbox)
    assert refused.status != 0 and "account key" in refused.stderr
    gone = shell.run("lists", "delete", everyone["id"], **inbox)
    assert gone.status != 0 and "account key" in gone.stderr
    assert len(shell.run("lists", "list", **account).json()) == 2
