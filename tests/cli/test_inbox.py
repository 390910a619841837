"""`dispatch inbox ...`: create, list, select (by id or address), show, claim tokens, and the
inbox keys minted lazily from the account key and cached between runs."""

from __future__ import annotations

import httpx

from tests.cli.conftest import Shell
from tests.helpers import bearer


def test_create_list_select_and_show(shell: Shell) -> None:
    first = shell.run("signup").json()["inbox"]
    second = shell.run("inbox", "create", "--local-part", "second-box").json()
    assert second["address"].startswith("second-box@")
    # The first stays selected: creating does not move the selection unless asked.
    assert shell.state()["inbox_id"] == first["id"]
    listed = shell.run("inbox", "list").json()
    assert {inbox["id"] for inbox in listed} == {first["id"], second["id"]}

    chosen = shell.run("inbox", "select", second["address"]).json()
    assert chosen["id"] == second["id"] == shell.state()["inbox_id"]
    assert shell.run("inbox", "show").json()["address"] == second["address"]
    assert shell.run("inbox", "show", first["id"]).json()["address"] == first["address"]
    table = shell.run("inbox", "list", "-o", "table")
    assert table.status == 0
    line = next(row for row in table.stdout.splitlines() if second["address"] in row)
    assert line.lstrip().startswith("*")

    missing = shell.run("inbox", "select", "nobody@dispatch.localhost")
    assert missing.status == 5 and "no inbox nobody@dispatch.localhost" in missing.stderr
    unknown = shell.run("inbox", "show", "inb_doesnotexist")
    assert unknown.status == 5 and unknown.stderr.startswith("error: not found")


def test_inbox_keys_are_minted_once_and_cached(shell: Shell) -> None:
    shell.run("signup").json()
    inbox = shell.run("inbox", "create", "--select").json()
    assert shell.state()["inbox_id"] == inbox["id"]
    account = shell.stored()["api_key"]
    assert inbox["id"] not in shell.state().get("inbox_keys", {})

    for _ in range(3):
        assert shell.run("mail", "list").json() == []
    cached = shell.state()["inbox_keys"][inbox["id"]]
    keys = httpx.get(
        f"{shell.dev.base_url}/v1/inboxes/{inbox['id']}/keys", headers=bearer(account)
    ).json()["data"]
    assert len(keys) == 1 and cached.startswith(keys[0]["id"] + ".")

    listed = shell.run("inbox", "keys", "list").json()
    assert [key["id"] for key in listed] == [keys[0]["id"]]
    assert "key" not in listed[0]

    minted = shell.run("inbox", "keys", "mint", "--label", "ci").json()
    assert minted["label"] == "ci" and "key" not in minted
    assert shell.state()["inbox_keys"][inbox["id"]].startswith(minted["id"] + ".")

    revoked = shell.run("inbox", "keys", "revoke", minted["id"]).json()
    assert revoked["revoked_at"] is not None
    assert inbox["id"] not in shell.state().get("inbox_keys", {})
    # The next read mints a fresh key again, and works.
    assert shell.run("mail", "list").json() == []
    assert inbox["id"] in shell.state()["inbox_keys"]


def test_a_revoked_cached_key_is_dropped_and_replaced(shell: Shell) -> None:
    shell.run("signup").json()
    inbox = shell.run("inbox", "create", "--select").json()
    shell.run("mail", "list").json()
    cached = shell.state()["inbox_keys"][inbox["id"]]
    account = shell.stored()["api_key"]
    key_id = cached.split(".", 1)[0]
    response = httpx.delete(
        f"{shell.dev.base_url}/v1/inboxes/{inbox['id']}/keys/{key_id}", headers=bearer(account)
    )
    assert response.status_code == 200, response.text
    assert shell.run("mail", "list").json() == []
    assert shell.state()["inbox_keys"][inbox["id"]] != cached


def test_claim_token_is_for_the_selected_inbox(shell: Shell) -> None:
    inbox = shell.run("signup").json()["inbox"]
    token = shell.run("inbox", "claim-token").json()
    assert token["inbox_id"] == inbox["id"]
    assert token["claim_email"] == inbox["address"]
    assert len(token["claim_token"]) >= 16
    assert token["expires_at"].endswith("Z")


def test_a_restricted_key_is_printed_once_and_not_cached(shell: Shell) -> None:
    shell.run("signup").json()
    inbox = shell.run("inbox", "create", "--select").json()
    shell.run("mail", "list").json()
    cached = shell.state()["inbox_keys"][inbox["id"]]
    minted = shell.run(
        "inbox",
        "keys",
        "mint",
        "--label",
        "otp-agent",
        "--permission",
        "wait",
        "--permission",
        "read",
        "--allow-sender",
        "*@github.com",
        "--expires-in",
        "600",
    ).json()
    assert minted["permissions"] == ["read", "wait"]
    assert minted["allowed_senders"] == ["*@github.com"] and minted["expires_at"]
    assert minted["key"].startswith(minted["id"] + ".")
    assert shell.state()["inbox_keys"][inbox["id"]] == cached  # the CLI's key stays
    me = httpx.get(f"{shell.dev.base_url}/v1/auth/me", headers=bearer(minted["key"])).json()
    assert me["restricted"] and me["permissions"] == ["read", "wait"]
    status = shell.run("auth", "status", DISPATCH_API_KEY=minted["key"]).json()
    assert status["restricted"] and status["allowed_senders"] == ["*@github.com"]
    bad = shell.run("inbox", "keys", "mint", "--allow-sender", "github.com")
    assert bad.status != 0 and "allowed_senders" in bad.stderr
    wrong = shell.run("inbox", "keys", "mint", "--permission", "admin")
    assert wrong.status == 2
