"""`dispatch lists ...`: entries added, listed and deleted with the account key."""

from __future__ import annotations

from tests.cli.conftest import Shell


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
