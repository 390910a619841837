"""The Solana rail's verifier: reads a USDC (SPL token) transfer over Solana's JSON-RPC and
checks it against the quote.

The transaction is read with `getTransaction` (`jsonParsed`, commitment `finalized`, version-0
transactions accepted); a transaction only `confirmed` so far is refused with a retry hint.
What moved is read from the token balances the node reports (`meta.preTokenBalances` and
`meta.postTokenBalances`, amounts in base units as `uiTokenAmount.amount`), summed per owner
wallet, so the check does not depend on how the transfer was expressed (transferChecked,
transfer, several instructions, a program's inner instruction).

The quote's 32-byte reference is, as in Solana Pay, a public key the payer adds as a read-only,
non-signer account to the transfer instruction; it must be one of the transaction's account
keys (or of the addresses a version-0 transaction loaded from a lookup table).

Plain JSON-RPC over httpx: no Solana library in the server. Every failure of the node (refused
connection, timeout, HTTP or JSON-RPC error, an answer not of the documented shape) is
`chain_unavailable`; a verifier never lets another exception out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import httpx

from dispatch_server.auth.wallets import b58decode, b58encode
from dispatch_server.billing.chains import ExpectedPayment, VerifiedPayment
from dispatch_server.core.clock import from_unix
from dispatch_server.core.errors import ErrorCode, InvalidInput, PaymentRefused

UNCONFIRMED_RETRY_SECONDS = 10  # a confirmed block is finalized about 13 s later
_MAX_SIGNATURE_CHARS = 100  # base58 of 64 bytes is at most 88 characters


class _Malformed(Exception):
    """The node's answer is not of the documented shape."""


def _signature(tx_hash: str) -> str:
    if len(tx_hash) > _MAX_SIGNATURE_CHARS:
        raise InvalidInput("tx_hash must be a base58 Solana signature", param="tx_hash")
    try:
        raw = b58decode(tx_hash)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise InvalidInput("tx_hash must be a base58 Solana signature (64 bytes)", param="tx_hash")
    return tx_hash


def _unavailable(message: str) -> PaymentRefused:
    return PaymentRefused(ErrorCode.CHAIN_UNAVAILABLE, message)


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Malformed(f"{what} is not an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{what} is not a list")
    return value


def _token_changes(meta: Mapping[str, Any], mint: str) -> dict[str, int] | None:
    """Per owner wallet, how many base units of `mint` the transaction added (negative: took);
    None when no balance of the mint changed."""
    changes: dict[str, int] = {}
    for key, sign in (("preTokenBalances", -1), ("postTokenBalances", 1)):
        for entry in _list(meta.get(key) or [], f"meta.{key}"):
            entry = _obj(entry, f"meta.{key}[]")
            if entry.get("mint") != mint:
                continue
            amount = _obj(entry.get("uiTokenAmount"), "uiTokenAmount").get("amount")
            if not isinstance(amount, str) or not (amount.isascii() and amount.isdigit()):
                raise _Malformed("uiTokenAmount.amount is not a decimal string")
            owner = entry.get("owner")
            if not isinstance(owner, str):
                raise _Malformed("a token balance has no owner")
            changes[owner] = changes.get(owner, 0) + sign * int(amount)
    return changes if any(changes.values()) else None


def _account_keys(transaction: Mapping[str, Any], meta: Mapping[str, Any]) -> set[str]:
    message = _obj(transaction.get("message"), "transaction.message")
    keys: set[str] = set()
    for key in _list(message.get("accountKeys"), "message.accountKeys"):
        pubkey = key.get("pubkey") if isinstance(key, Mapping) else key
        if not isinstance(pubkey, str):
            raise _Malformed("an account key is not a string")
        keys.add(pubkey)
    loaded = meta.get("loadedAddresses")
    if isinstance(loaded, Mapping):
        for group in ("writable", "readonly"):
            keys.update(k for k in loaded.get(group) or [] if isinstance(k, str))
    return keys


def _fee_payer(transaction: Mapping[str, Any]) -> str:
    message = _obj(transaction.get("message"), "transaction.message")
    keys = _list(message.get("accountKeys"), "message.accountKeys")
    if not keys:
        raise _Malformed("the transaction has no account keys")
    first = keys[0].get("pubkey") if isinstance(keys[0], Mapping) else keys[0]
    if not isinstance(first, str):
        raise _Malformed("an account key is not a string")
    return first


class SolanaVerifier:
    """Verifies SPL token payments on one Solana cluster through its JSON-RPC endpoint."""

    def __init__(self, rpc_url: str, network: str, timeout: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self.network = network
        self.timeout = timeout
        self._ids = itertools.count(1)

    async def _call(self, client: httpx.AsyncClient, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = await client.post(self.rpc_url, json=request)
        except httpx.TimeoutException as exc:
            raise _unavailable(f"the Solana RPC did not answer {method} in time") from exc
        except httpx.HTTPError as exc:
            raise _unavailable(f"the Solana RPC could not be reached ({exc})") from exc
        if response.status_code != 200:
            raise _unavailable(f"the Solana RPC answered {method} with HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise _unavailable(f"the Solana RPC answered {method} with something not JSON") from exc
        if not isinstance(answer, Mapping):
            raise _unavailable(f"the Solana RPC answered {method} with something not JSON-RPC")
        error = answer.get("error")
        if error is not None:
            detail = error.get("message") if isinstance(error, Mapping) else error
            raise _unavailable(f"the Solana RPC refused {method}: {detail}")
        if "result" not in answer:
            raise _unavailable(f"the Solana RPC answered {method} without a result")
        return answer["result"]

    async def _get_transaction(
        self, client: httpx.AsyncClient, signature: str, commitment: str
    ) -> Any:
        config = {
            "encoding": "jsonParsed",
            "commitment": commitment,
            "maxSupportedTransactionVersion": 0,
        }
        return await self._call(client, "getTransaction", [signature, config])

    async def verify(self, expected: ExpectedPayment) -> VerifiedPayment:
        signature = _signature(expected.tx_hash)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                found = await self._get_transaction(client, signature, "finalized")
                if found is None:
                    confirmed = await self._get_transaction(client, signature, "confirmed")
                    if confirmed is not None:
                        raise PaymentRefused(
                            ErrorCode.TRANSACTION_UNCONFIRMED,
                            "the transaction is confirmed but not finalized yet; retry shortly",
                            param="tx_hash",
                            retry_after_seconds=UNCONFIRMED_RETRY_SECONDS,
                        )
                    raise PaymentRefused(
                        ErrorCode.TRANSACTION_NOT_FOUND,
                        "the Solana cluster has no transaction with this signature",
                        param="tx_hash",
                    )
            return self._check(expected, _obj(found, "the transaction"))
        except _Malformed as exc:
            raise _unavailable(f"the Solana RPC's answer is malformed: {exc}") from exc
        except (PaymentRefused, InvalidInput):
            raise
        except Exception as exc:  # a verifier answers with a code, never a traceback
            raise _unavailable(f"the Solana RPC could not be read ({type(exc).__name__})") from exc

    def _check(self, expected: ExpectedPayment, found: Mapping[str, Any]) -> VerifiedPayment:
        meta = _obj(found.get("meta"), "meta")
        transaction = _obj(found.get("transaction"), "transaction")
        if meta.get("err") is not None:
            raise PaymentRefused(
                ErrorCode.TRANSACTION_FAILED,
                f"the transaction failed on chain: {meta['err']}",
                param="tx_hash",
            )
        changes = _token_changes(meta, expected.asset)
        if changes is None:
            raise PaymentRefused(
                ErrorCode.PAYMENT_WRONG_TOKEN,
                f"the transaction moved no {expected.asset} tokens",
                param="tx_hash",
            )
        received = changes.get(expected.recipient, 0)
        if received <= 0:
            raise PaymentRefused(
                ErrorCode.PAYMENT_WRONG_RECIPIENT,
                f"the transaction paid nothing to {expected.recipient}",
                param="tx_hash",
            )
        if received < expected.min_amount:
            raise PaymentRefused(
                ErrorCode.PAYMENT_UNDERPAID,
                f"the transaction paid {received} base units; the quote asks {expected.min_amount}",
                param="tx_hash",
            )
        if b58encode(expected.reference) not in _account_keys(transaction, meta):
            raise PaymentRefused(
                ErrorCode.PAYMENT_REFERENCE_MISSING,
                "the transaction does not carry the quote's reference as an account key",
                param="tx_hash",
            )
        fallen = {owner: change for owner, change in changes.items() if change < 0}
        # The wallet whose tokens went out; tokens minted straight to the recipient moved from
        # nobody's balance, and then the payer is the transaction's fee payer.
        payer = min(fallen, key=lambda owner: fallen[owner]) if fallen else _fee_payer(transaction)
        if expected.payer is not None and expected.payer != payer:
            raise PaymentRefused(
                ErrorCode.PAYMENT_WRONG_PAYER,
                f"the tokens came from {payer}, not from {expected.payer}",
                param="tx_hash",
            )
        block_time = found.get("blockTime")
        if not isinstance(block_time, int) or isinstance(block_time, bool):
            # Without the block's time the quote's expiry cannot be checked: ask again later.
            raise _Malformed("blockTime is missing or not an integer")
        try:
            when = from_unix(block_time)
        except ValueError:
            raise _Malformed("blockTime is no representable time") from None
        if when > expected.not_after:
            raise PaymentRefused(
                ErrorCode.QUOTE_EXPIRED,
                "the transaction's block is later than the quote's expiry",
                param="tx_hash",
            )
        return VerifiedPayment(
            tx_hash=expected.tx_hash, payer=payer, amount=received, block_time=when
        )
