"""Claims over real HTTP on both databases: claim tokens (minted by inbox or account keys,
single-use, expiring, bound to one inbox), claims by token, by raw key and by wallet
signature (EVM personal-sign, Solana ed25519), every refusal a 4xx that claims nothing, and
the operator's list of agents and the switch between them."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from nacl.signing import SigningKey

from dispatch_server.auth.wallets import b58encode
from dispatch_server.db import tables as t
from tests.conftest import BACKENDS, LiveServer
from tests.helpers import bearer, error_code
from tests.server.api.operator_helpers import (
    Mailbox,
    execute,
    get,
    past,
    post,
    serve,
    verified_operator,
)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory)


@pytest.fixture
def operator_token(server: LiveServer) -> str:
    return verified_operator(server, Mailbox(server))


def refusal(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"].get("param") == param


def mint(server: LiveServer, key: str, **body: Any) -> dict[str, Any]:
    response = post(server, "/v1/agent/claim-token", body, token=key)
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def agents(server: LiveServer, token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = get(server, "/v1/operator/agents", token=token).json()["data"]
    return listed


def test_a_token_claim_mints_fresh_keys_and_the_old_ones_keep_working(
    server: LiveServer, operator_token: str
) -> None:
    agent = Mailbox(server)
    minted = mint(server, agent.inbox_key)
    assert minted["claim_token"].startswith("dct_")
    assert (minted["claim_email"], minted["agent_id"]) == (agent.address, agent.agent_id)
    assert minted["wallet"] is None and minted["wallet_message"] is None
    body = {"claim_email": agent.address.upper(), "claim_token": minted["claim_token"]}
    response = post(server, "/v1/agent/claim", body, token=operator_token)
    assert response.status_code == 201, response.text
    claim = response.json()
    assert (claim["agent_id"], claim["method"], claim["inbox_id"]) == (
        agent.agent_id,
        "token",
        agent.inbox_id,
    )
    assert claim["account_key"] != agent.account_key and claim["inbox_key"] != agent.inbox_key
    base = server.base_url
    for key in (claim["account_key"], agent.account_key):
        listed = httpx.get(f"{base}/v1/inboxes", headers=bearer(key)).json()["data"]
        assert [inbox["id"] for inbox in listed] == [agent.inbox_id]
    for key in (claim["inbox_key"], agent.inbox_key):
        inbox = httpx.get(f"{base}/v1/inboxes/{agent.inbox_id}", headers=bearer(key))
        assert inbox.status_code == 200
    [listed] = agents(server, operator_token)
    assert listed["agent_id"] == agent.agent_id and listed["active"] is True
    assert listed["inbox_addresses"] == [agent.address]
    # Replayed: the token is spent.
    refusal(
        post(server, "/v1/agent/claim", body, token=operator_token),
        409,
        "claim_token_used",
        "claim_token",
    )


def test_an_agent_is_claimed_once(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    first = mint(server, agent.inbox_key)
    second = mint(server, agent.account_key)  # an account key: the agent's first inbox
    assert second["inbox_id"] == agent.inbox_id
    claim = {"claim_email": agent.address, "claim_token": first["claim_token"]}
    assert post(server, "/v1/agent/claim", claim, token=operator_token).status_code == 201
    rival = verified_operator(server, Mailbox(server))
    again = {"claim_email": agent.address, "claim_token": second["claim_token"]}
    refusal(post(server, "/v1/agent/claim", again, token=rival), 409, "agent_already_claimed", None)
    refusal(
        post(server, "/v1/agent/claim", {"api_key": agent.account_key}, token=rival),
        409,
        "agent_already_claimed",
        None,
    )
    assert agents(server, rival) == []


def test_refused_tokens_claim_nothing_and_stay_usable(
    server: LiveServer, operator_token: str
) -> None:
    agent, other = Mailbox(server), Mailbox(server)
    minted = mint(server, agent.inbox_key)
    token = minted["claim_token"]
    cases = [
        (
            {"claim_email": other.address, "claim_token": token},
            400,
            "claim_email_mismatch",
            "claim_email",
        ),
        (
            {"claim_email": agent.address, "claim_token": "dct_" + "x" * 43},
            400,
            "claim_token_invalid",
            "claim_token",
        ),
        (
            {"claim_email": agent.address, "claim_token": "not a token"},
            400,
            "claim_token_invalid",
            "claim_token",
        ),
        (
            {"claim_email": agent.address, "claim_token": "dct_" + "x" * 300},
            400,
            "invalid_request",
            "claim_token",
        ),
        (
            {"claim_email": "\u0430@x.test", "claim_token": token},
            400,
            "invalid_request",
            "claim_email",
        ),
        ({"claim_email": agent.address, "claim_token": 7}, 400, "invalid_request", "claim_token"),
        ({"claim_email": agent.address}, 400, "invalid_request", "claim_token"),
        ({"claim_token": token}, 400, "invalid_request", "claim_email"),
        ({}, 400, "invalid_request", "claim_token"),
        (
            {"claim_email": agent.address, "claim_token": token, "api_key": agent.account_key},
            400,
            "invalid_request",
            "api_key",
        ),
        (
            {"claim_email": agent.address, "claim_token": token, "wallet_signature": "0x00"},
            400,
            "invalid_request",
            "wallet_signature",
        ),
    ]
    for body, status, code, param in cases:
        refusal(post(server, "/v1/agent/claim", body, token=operator_token), status, code, param)
    assert agents(server, operator_token) == []
    # Another agent's token, claimed with this agent's address:
    theirs = mint(server, other.inbox_key)
    wrong = {"claim_email": agent.address, "claim_token": theirs["claim_token"]}
    refusal(
        post(server, "/v1/agent/claim", wrong, token=operator_token),
        400,
        "claim_email_mismatch",
        "claim_email",
    )
    good = {"claim_email": agent.address, "claim_token": token}
    assert post(server, "/v1/agent/claim", good, token=operator_token).status_code == 201


def test_an_expired_token_is_410(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    minted = mint(server, agent.inbox_key)
    tokens = t.agent_claim_tokens
    execute(server, tokens.update().where(tokens.c.id == minted["id"]).values(expires_at=past()))
    body = {"claim_email": agent.address, "claim_token": minted["claim_token"]}
    refusal(
        post(server, "/v1/agent/claim", body, token=operator_token),
        410,
        "claim_token_expired",
        "claim_token",
    )
    assert agents(server, operator_token) == []


def test_claims_need_an_operator_token(server: LiveServer) -> None:
    agent = Mailbox(server)
    minted = mint(server, agent.inbox_key)
    body = {"claim_email": agent.address, "claim_token": minted["claim_token"]}
    for token in (None, agent.account_key, "a.b.c"):
        refusal(post(server, "/v1/agent/claim", body, token=token), 401, "unauthorized", None)
    refusal(get(server, "/v1/operator/agents"), 401, "unauthorized", None)


def test_claim_tokens_need_a_key_and_an_inbox_in_its_reach(server: LiveServer) -> None:
    agent, other = Mailbox(server), Mailbox(server)
    refusal(post(server, "/v1/agent/claim-token", {}), 401, "unauthorized", None)
    for key in (agent.inbox_key, agent.account_key):
        response = post(server, "/v1/agent/claim-token", {"inbox_id": other.inbox_id}, token=key)
        refusal(response, 404, "not_found", None)
    refusal(
        post(server, "/v1/agent/claim-token", {"inbox_id": 7}, token=agent.account_key),
        400,
        "invalid_request",
        "inbox_id",
    )


def test_a_key_claim(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    response = post(server, "/v1/agent/claim", {"api_key": agent.inbox_key}, token=operator_token)
    assert response.status_code == 201, response.text
    assert response.json()["method"] == "api_key"
    assert response.json()["inbox_address"] == agent.address


@pytest.mark.parametrize(
    "key",
    ["nope", "00000000-0000-0000-0000-000000000000.secret", "x" * 201, "a.b.c"],
)
def test_bad_keys_claim_nothing(server: LiveServer, operator_token: str, key: str) -> None:
    status, code = (400, "invalid_request") if len(key) > 200 else (400, "claim_key_invalid")
    refusal(
        post(server, "/v1/agent/claim", {"api_key": key}, token=operator_token),
        status,
        code,
        "api_key",
    )
    assert agents(server, operator_token) == []


def test_operators_racing_for_one_agent_get_one_claim(server: LiveServer) -> None:
    """By key, where no token is consumed to decide: the agent's unique claim does."""
    agent = Mailbox(server)
    tokens = [verified_operator(server, Mailbox(server)) for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(tokens)) as pool:
        answers = list(
            pool.map(
                lambda token: post(
                    server, "/v1/agent/claim", {"api_key": agent.account_key}, token=token
                ),
                tokens,
            )
        )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5, [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "agent_already_claimed"
    }
    assert sum(len(agents(server, token)) for token in tokens) == 1


def test_a_revoked_key_claims_nothing(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    minted = post(server, f"/v1/inboxes/{agent.inbox_id}/keys", {}, token=agent.account_key).json()
    key_id = minted["key"].partition(".")[0]
    httpx.delete(
        f"{server.base_url}/v1/inboxes/{agent.inbox_id}/keys/{key_id}",
        headers=bearer(agent.account_key),
    )
    response = post(server, "/v1/agent/claim", {"api_key": minted["key"]}, token=operator_token)
    refusal(response, 400, "claim_key_invalid", "api_key")


def test_a_token_minted_by_a_key_revoked_since_claims_nothing(
    server: LiveServer, operator_token: str
) -> None:
    """A leaked key's owner revokes it: the claim tokens it minted die with it."""
    agent = Mailbox(server)
    minted = post(server, f"/v1/inboxes/{agent.inbox_id}/keys", {}, token=agent.account_key).json()
    token = mint(server, minted["key"])
    key_id = minted["key"].partition(".")[0]
    httpx.delete(
        f"{server.base_url}/v1/inboxes/{agent.inbox_id}/keys/{key_id}",
        headers=bearer(agent.account_key),
    )
    body = {"claim_email": agent.address, "claim_token": token["claim_token"]}
    refusal(
        post(server, "/v1/agent/claim", body, token=operator_token),
        400,
        "claim_token_invalid",
        "claim_token",
    )
    assert agents(server, operator_token) == []


def test_an_evm_wallet_claim(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    wallet, stranger = Account.create(), Account.create()
    minted = mint(server, agent.inbox_key, wallet_chain="evm", wallet_address=wallet.address)
    assert minted["wallet"] == {"chain": "evm", "address": wallet.address.lower()}
    message = minted["wallet_message"]
    assert agent.agent_id in message and minted["id"] in message and agent.address in message

    def sign(account: Any, text: str) -> str:
        signed = account.sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()

    body = {"claim_email": agent.address, "claim_token": minted["claim_token"]}
    refused = [
        ({**body, "wallet_signature": sign(stranger, message)}, 400, "wallet_signature_invalid"),
        (
            {**body, "wallet_signature": sign(wallet, message + " ")},
            400,
            "wallet_signature_invalid",
        ),
        (body, 400, "wallet_signature_invalid"),
        ({**body, "wallet_signature": "0x1234"}, 400, "wallet_signature_invalid"),
        ({**body, "wallet_signature": "zz" * 65}, 400, "wallet_signature_invalid"),
        ({**body, "wallet_signature": "0x" + "00" * 65}, 400, "wallet_signature_invalid"),
        ({**body, "wallet_signature": "0x" + "f" * 300}, 400, "invalid_request"),
    ]
    for attempt, status, code in refused:
        refusal(
            post(server, "/v1/agent/claim", attempt, token=operator_token),
            status,
            code,
            "wallet_signature",
        )
    assert agents(server, operator_token) == []
    good = {**body, "wallet_signature": sign(wallet, message)}
    response = post(server, "/v1/agent/claim", good, token=operator_token)
    assert response.status_code == 201, response.text
    assert response.json()["method"] == "wallet"
    assert response.json()["wallet"]["address"] == wallet.address.lower()
    refusal(
        post(server, "/v1/agent/claim", good, token=operator_token),
        409,
        "claim_token_used",
        "claim_token",
    )


def test_a_solana_wallet_claim(server: LiveServer, operator_token: str) -> None:
    agent = Mailbox(server)
    wallet, stranger = SigningKey.generate(), SigningKey.generate()
    address = b58encode(bytes(wallet.verify_key))
    minted = mint(server, agent.inbox_key, wallet_chain="solana", wallet_address=address)
    message = minted["wallet_message"].encode()

    def sign(key: SigningKey, data: bytes) -> str:
        return b58encode(key.sign(data).signature)

    body = {"claim_email": agent.address, "claim_token": minted["claim_token"]}
    for signature in (sign(stranger, message), sign(wallet, message + b"!"), "0OIl", "1" * 80):
        attempt = {**body, "wallet_signature": signature}
        refusal(
            post(server, "/v1/agent/claim", attempt, token=operator_token),
            400,
            "wallet_signature_invalid",
            "wallet_signature",
        )
    assert agents(server, operator_token) == []
    response = post(
        server,
        "/v1/agent/claim",
        {**body, "wallet_signature": sign(wallet, message)},
        token=operator_token,
    )
    assert response.status_code == 201, response.text
    assert response.json()["wallet"] == {"chain": "solana", "address": address}


@pytest.mark.parametrize(
    "body, param",
    [
        ({"wallet_chain": "evm"}, "wallet_address"),
        ({"wallet_address": "0x" + "a" * 40}, "wallet_chain"),
        ({"wallet_chain": "bitcoin", "wallet_address": "x"}, "wallet_chain"),
        ({"wallet_chain": "evm", "wallet_address": "0x123"}, "wallet_address"),
        ({"wallet_chain": "evm", "wallet_address": "0x" + "g" * 40}, "wallet_address"),
        ({"wallet_chain": "solana", "wallet_address": "0OIl" * 8}, "wallet_address"),
        ({"wallet_chain": "solana", "wallet_address": "1" * 10}, "wallet_address"),
        ({"wallet_chain": "evm", "wallet_address": "0x" + "a" * 200}, "wallet_address"),
        ({"wallet_chain": 1, "wallet_address": "x"}, "wallet_chain"),
    ],
)
def test_bad_wallets_are_400(server: LiveServer, body: dict[str, Any], param: str) -> None:
    agent = Mailbox(server)
    refusal(
        post(server, "/v1/agent/claim-token", body, token=agent.inbox_key),
        400,
        "invalid_request",
        param,
    )


def test_an_operator_switches_between_claimed_agents(
    server: LiveServer, operator_token: str
) -> None:
    first, second, foreign = Mailbox(server), Mailbox(server), Mailbox(server)
    for agent in (first, second):
        response = post(
            server, "/v1/agent/claim", {"api_key": agent.account_key}, token=operator_token
        )
        assert response.status_code == 201
    listed = agents(server, operator_token)
    assert [a["agent_id"] for a in listed] == [first.agent_id, second.agent_id]
    assert [a["active"] for a in listed] == [False, True]  # the newest claim is active
    switched = post(
        server, "/v1/operator/active-agent", {"agent_id": first.agent_id}, token=operator_token
    )
    assert switched.status_code == 200 and switched.json()["active"] is True
    assert [a["active"] for a in agents(server, operator_token)] == [True, False]
    me = get(server, "/auth/me", token=operator_token).json()
    assert me["operator"]["active_agent_id"] == first.agent_id
    for agent_id in (foreign.agent_id, "not-an-id"):
        response = post(
            server, "/v1/operator/active-agent", {"agent_id": agent_id}, token=operator_token
        )
        refusal(response, 404, "not_found", None)
    refusal(
        post(server, "/v1/operator/active-agent", {"agent_id": ["x"]}, token=operator_token),
        400,
        "invalid_request",
        "agent_id",
    )


@pytest.mark.parametrize(
    "restriction",
    [
        {"permissions": ["read", "wait"]},
        {"allowed_senders": ["*@github.com"]},
        {"expires_in": 3600},
    ],
)
def test_a_restricted_key_cannot_hand_its_agent_over(
    server: LiveServer, operator_token: str, restriction: dict[str, Any]
) -> None:
    """A claim gives the operator fresh unrestricted keys of the whole workspace: a
    restricted key starting one would be a way out of its restrictions."""
    agent = Mailbox(server)
    minted = post(
        server,
        f"/v1/inboxes/{agent.inbox_id}/keys",
        {"label": "sub", **restriction},
        token=agent.account_key,
    )
    assert minted.status_code == 201, minted.text
    restricted = minted.json()["key"]
    refusal(post(server, "/v1/agent/claim-token", {}, token=restricted), 403, "forbidden", None)
    refusal(
        post(server, "/v1/agent/claim", {"api_key": restricted}, token=operator_token),
        403,
        "forbidden",
        None,
    )
    assert agents(server, operator_token) == []
    assert (
        post(
            server, "/v1/agent/claim", {"api_key": agent.inbox_key}, token=operator_token
        ).status_code
        == 201
    )
