"""`dispatch memory ...` and `dispatch billing ...`, and the zero-state paid flow of
`dispatch inbox create`: refused with the offer (status 6), then paid on a local EVM chain
(anvil, a real ERC-20) from a key in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_client.autopay.evm import address_of
from tests.chain.evm import EvmChain
from tests.cli.conftest import Shell
from tests.paid_dev import paid_dev as paid_dev_process
from tests.server.billing.test_x402_flow import PRICE, funded_wallet
from tests.server.cli.test_commands import DevProcess


def test_memory_write_read_list_history(shell: Shell) -> None:
    shell.run("signup").json()
    shell.run("memory", "write", "plan", "trial").json()
    shell.run("memory", "write", "plan", stdin="paid\n").json()
    shell.run("memory", "write", "user", "4411").json()
    assert shell.run("memory", "read", "plan").stdout == "paid\n"
    entry = shell.run("memory", "read", "plan", "-o", "json").json()
    assert entry["key"] == "plan" and entry["value"] == "paid\n" and entry["sent_id"]
    keys = [k["key"] for k in shell.run("memory", "list").json()]
    assert sorted(keys) == ["plan", "user"]
    values = [e["value"] for e in shell.run("memory", "history", "plan").json()]
    assert values == ["paid\n", "trial"]
    missing = shell.run("memory", "read", "never-written")
    assert missing.status == 5 and missing.stdout == ""
    assert "no memory 'never-written'" in missing.stderr


@pytest.fixture(scope="module")
def paid_dev(
    tmp_path_factory: pytest.TempPathFactory, evm_chain: EvmChain
) -> Iterator[tuple[DevProcess, str]]:
    """A dev server whose second inboxes need `multi_inbox`, sold by card (a local server in
    Stripe's format) and on the local EVM chain."""
    with paid_dev_process(tmp_path_factory.mktemp("paid-dev"), evm_chain) as paid:
        yield paid.process, paid.recipient


def test_inbox_create_pays_on_chain_when_the_workspace_needs_it(
    paid_dev: tuple[DevProcess, str], evm_chain: EvmChain, tmp_path: Path
) -> None:
    dev, recipient = paid_dev
    shell = Shell(dev, tmp_path)
    shell.run("signup").json()
    assert shell.run("billing", "entitlements").json() == {"plan": "free", "data": []}

    refused = shell.run("inbox", "create")
    assert refused.status == 6
    assert "payment required" in refused.stderr and "--evm-key-env" in refused.stderr

    checkout = shell.run("billing", "checkout").json()
    assert checkout["url"].startswith("http") and checkout["product"] == "multi_inbox"
    quote = shell.run("billing", "quote").json()
    assert quote["chain"] == "evm" and quote["recipient"].lower() == recipient.lower()

    key = funded_wallet(evm_chain)
    usage = shell.run("inbox", "create", "--evm-key-env", "AGENT_KEY", AGENT_KEY=key)
    assert usage.status == 2 and "--max-amount" in usage.stderr
    too_cheap = shell.run(
        "inbox", "create", "--max-amount", "1", "--evm-key-env", "AGENT_KEY", AGENT_KEY=key
    )
    assert too_cheap.status == 1 and "payment failed" in too_cheap.stderr
    assert evm_chain.balance(recipient) == 0

    paid = shell.run(
        "inbox", "create", "--local-part", "paid-box", "--max-amount", "10",
        "--evm-key-env", "AGENT_KEY", AGENT_KEY=key,
    ).json()  # fmt: skip
    assert paid["address"].startswith("paid-box@")
    assert evm_chain.balance(recipient) == PRICE
    entitlements = shell.run("billing", "entitlements").json()
    assert entitlements["plan"] == "multi_inbox"
    assert entitlements["data"][0]["source"] == "x402"
    for output in shell.outputs:
        assert key not in output and key[2:] not in output


def test_billing_confirm_grants_a_payment_made_by_hand(
    paid_dev: tuple[DevProcess, str], evm_chain: EvmChain, tmp_path: Path
) -> None:
    dev, recipient = paid_dev
    shell = Shell(dev, tmp_path)
    shell.run("signup").json()
    payer = address_of(funded_wallet(evm_chain)).lower()
    quote = shell.run("billing", "quote", "--payer", payer).json()
    paid = evm_chain.transfer(payer, recipient, PRICE, bytes.fromhex(quote["reference"][2:]))
    confirmed = shell.run("billing", "confirm", quote["quote_id"], paid).json()
    assert confirmed["replayed"] is False and confirmed["entitlement"]["status"] == "active"
    again = shell.run("billing", "confirm", quote["quote_id"], paid).json()
    assert again["replayed"] is True
    unknown = shell.run("billing", "confirm", quote["quote_id"], "0x" + "00" * 32)
    assert unknown.status == 5 and "transaction" in unknown.stderr
    assert shell.run("inbox", "create").status == 0
