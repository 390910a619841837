"""Paying an x402 quote in an SPL token (USDC) on Solana, from a keypair the agent holds.

    from dispatch_client.autopay import solana

    signature = solana.pay(rpc_url, secret, mint, recipient, amount, decimals, reference)
    solana.wait_for_finalized(rpc_url, signature, timeout=60)

`pay` sends one `transferChecked` from the payer's associated token account to the
recipient's (both must exist), with the quote's 32-byte reference appended as a read-only,
non-signer account, as Solana Pay does: the server finds and checks the payment by it.
`find_payment` asks the cluster whether a payment carrying one of the given references is
already on chain, so that a retried purchase does not pay twice.

The transaction is built and signed locally with `solders` (the `autopay` extra:
`pip install 'dispatch-client[autopay]'`); the cluster is reached over plain JSON-RPC with
httpx. Every function has an async twin (`pay_async`, ...).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from dispatch_client._errors import AutopayError, InvalidArgumentError, WaitTimeoutError

try:
    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.keypair import Keypair
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.token.associated import get_associated_token_address
    from solders.transaction import VersionedTransaction
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "dispatch_client.autopay.solana needs solders: pip install 'dispatch-client[autopay]'"
    ) from exc

__all__ = [
    "TOKEN_PROGRAM_ID",
    "SolanaRpcError",
    "SolanaTransactionFailed",
    "address_of",
    "find_payment",
    "find_payment_async",
    "pay",
    "pay_async",
    "transfer_transaction",
    "wait_for_finalized",
    "wait_for_finalized_async",
]

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeYyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
_TRANSFER_CHECKED = 12
_POLL_SECONDS = 0.5

KeypairSecret = Keypair | bytes | str | Sequence[int]


class SolanaRpcError(AutopayError):
    """The Solana RPC could not be reached, or refused the call (`code`, `data` as the
    JSON-RPC error gave them; `code` is None when there was no JSON-RPC answer)."""

    def __init__(
        self, message: str, *, method: str, code: int | None = None, data: object = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.data = data


class SolanaTransactionFailed(AutopayError):
    """The transaction landed but failed; `err` is the cluster's `TransactionError`."""

    def __init__(self, message: str, *, signature: str, err: object) -> None:
        super().__init__(message)
        self.signature = signature
        self.err = err


def _keypair(secret: KeypairSecret) -> Keypair:
    if isinstance(secret, Keypair):
        return secret
    raw: bytes
    if isinstance(secret, str):
        text = secret.strip()
        if text.startswith("["):  # a solana-keygen file's content
            raw = bytes(json.loads(text))
        else:
            try:
                return Keypair.from_base58_string(text)
            except ValueError as exc:
                raise InvalidArgumentError(
                    "keypair_secret is not a base58 keypair", param="keypair_secret"
                ) from exc
    elif isinstance(secret, bytes):
        raw = secret
    else:
        raw = bytes(secret)
    if len(raw) == 64:
        return Keypair.from_bytes(raw)
    if len(raw) == 32:
        return Keypair.from_seed(raw)
    raise InvalidArgumentError(
        "keypair_secret must be a 64-byte keypair or a 32-byte seed", param="keypair_secret"
    )


def address_of(secret: KeypairSecret) -> str:
    """The wallet (base58 public key) of a keypair secret."""
    return str(_keypair(secret).pubkey())


def _pubkey(value: str | Pubkey, param: str) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise InvalidArgumentError(f"{param} is not a base58 public key", param=param) from exc


def _reference(value: bytes | str | Pubkey) -> Pubkey:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidArgumentError("reference must be 32 bytes", param="reference")
        return Pubkey.from_bytes(value)
    return _pubkey(value, "reference")


def transfer_transaction(
    keypair_secret: KeypairSecret,
    mint: str,
    recipient_wallet: str,
    amount: int,
    decimals: int,
    reference: bytes | str,
    blockhash: str,
) -> VersionedTransaction:
    """The signed payment: `transferChecked` of `amount` base units between the associated
    token accounts, the reference as a read-only non-signer account after the authority."""
    if not 0 < amount < 2**64:
        raise InvalidArgumentError("amount must be a positive u64", param="amount")
    if not 0 <= decimals <= 255:
        raise InvalidArgumentError("decimals must be 0..255", param="decimals")
    payer = _keypair(keypair_secret)
    mint_key = _pubkey(mint, "mint")
    owner = payer.pubkey()
    source = get_associated_token_address(owner, mint_key)
    destination = get_associated_token_address(_pubkey(recipient_wallet, "recipient"), mint_key)
    instruction = Instruction(
        TOKEN_PROGRAM_ID,
        struct.pack("<BQB", _TRANSFER_CHECKED, amount, decimals),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(mint_key, is_signer=False, is_writable=False),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(owner, is_signer=True, is_writable=False),
            AccountMeta(_reference(reference), is_signer=False, is_writable=False),
        ],
    )
    message = MessageV0.try_compile(owner, [instruction], [], Hash.from_string(blockhash))
    return VersionedTransaction(message, [payer])


# -- JSON-RPC ----------------------------------------------------------------------------

_ids = itertools.count(1)


def _request(method: str, params: list[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}


def _result(method: str, response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise SolanaRpcError(
            f"the Solana RPC answered {method} with HTTP {response.status_code}", method=method
        )
    try:
        answer = response.json()
    except ValueError as exc:
        raise SolanaRpcError(
            f"the Solana RPC answered {method} with non-JSON", method=method
        ) from exc
    if not isinstance(answer, dict):
        raise SolanaRpcError(f"the Solana RPC answered {method} with non-JSON-RPC", method=method)
    error = answer.get("error")
    if error is not None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        raise SolanaRpcError(
            f"the Solana RPC refused {method}: {error.get('message')}",
            method=method,
            code=error.get("code"),
            data=error.get("data"),
        )
    if "result" not in answer:
        raise SolanaRpcError(f"the Solana RPC answered {method} without a result", method=method)
    return answer["result"]


def _transport_error(method: str, exc: httpx.HTTPError) -> SolanaRpcError:
    return SolanaRpcError(f"the Solana RPC could not be reached for {method}: {exc}", method=method)


def _call(client: httpx.Client, rpc_url: str, method: str, params: list[Any]) -> Any:
    try:
        response = client.post(rpc_url, json=_request(method, params))
    except httpx.HTTPError as exc:
        raise _transport_error(method, exc) from exc
    return _result(method, response)


async def _acall(client: httpx.AsyncClient, rpc_url: str, method: str, params: list[Any]) -> Any:
    try:
        response = await client.post(rpc_url, json=_request(method, params))
    except httpx.HTTPError as exc:
        raise _transport_error(method, exc) from exc
    return _result(method, response)


def _blockhash(result: Any) -> str:
    try:
        blockhash = result["value"]["blockhash"]
    except (KeyError, TypeError) as exc:
        raise SolanaRpcError(
            "getLatestBlockhash answered without a blockhash", method="getLatestBlockhash"
        ) from exc
    if not isinstance(blockhash, str):
        raise SolanaRpcError(
            "getLatestBlockhash answered without a blockhash", method="getLatestBlockhash"
        )
    return blockhash


_BLOCKHASH_PARAMS: list[Any] = [{"commitment": "finalized"}]


def _send_params(tx: VersionedTransaction) -> list[Any]:
    wire = base64.b64encode(bytes(tx)).decode()
    return [wire, {"encoding": "base64", "preflightCommitment": "confirmed"}]


def _status(signature: str, result: Any) -> str | None:
    """The signature's confirmation status (None: not seen yet); raises if it failed."""
    try:
        status = result["value"][0]
    except (KeyError, TypeError, IndexError) as exc:
        raise SolanaRpcError(
            "getSignatureStatuses answered out of shape", method="getSignatureStatuses"
        ) from exc
    if status is None:
        return None
    if status.get("err") is not None:
        raise SolanaTransactionFailed(
            f"transaction {signature} failed: {status['err']}",
            signature=signature,
            err=status["err"],
        )
    confirmation = status.get("confirmationStatus")
    return confirmation if isinstance(confirmation, str) else None


def _status_params(signature: str) -> list[Any]:
    return [[signature], {"searchTransactionHistory": True}]


def _reference_keys(references: Iterable[bytes | str]) -> list[str]:
    return [str(_reference(reference)) for reference in references]


def _signatures_params(reference: str) -> list[Any]:
    return [reference, {"commitment": "confirmed", "limit": 20}]


def _successful(result: Any) -> str | None:
    if not isinstance(result, list):
        raise SolanaRpcError(
            "getSignaturesForAddress answered out of shape", method="getSignaturesForAddress"
        )
    for entry in result:
        if (
            isinstance(entry, dict)
            and entry.get("err") is None
            and isinstance(entry.get("signature"), str)
        ):
            return str(entry["signature"])
    return None


def _timed_out(signature: str, timeout: float) -> WaitTimeoutError:
    return WaitTimeoutError(
        f"transaction {signature} was not finalized within {timeout:g} s", timeout=timeout
    )


# -- sync --------------------------------------------------------------------------------


def pay(
    rpc_url: str,
    keypair_secret: KeypairSecret,
    mint: str,
    recipient_wallet: str,
    amount: int,
    decimals: int,
    reference: bytes | str,
    *,
    timeout: float = 30.0,
) -> str:
    """Sends the payment and returns its signature (base58), once the cluster accepted it;
    wait for it with `wait_for_finalized`."""
    with httpx.Client(timeout=timeout) as client:
        blockhash = _blockhash(_call(client, rpc_url, "getLatestBlockhash", _BLOCKHASH_PARAMS))
        tx = transfer_transaction(
            keypair_secret, mint, recipient_wallet, amount, decimals, reference, blockhash
        )
        return str(_call(client, rpc_url, "sendTransaction", _send_params(tx)))


def wait_for_finalized(
    rpc_url: str, signature: str, timeout: float = 60.0, *, poll_interval: float = _POLL_SECONDS
) -> None:
    """Returns once the transaction is finalized; `SolanaTransactionFailed` if it failed,
    `WaitTimeoutError` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=max(1.0, min(timeout, 30.0))) as client:
        while True:
            result = _call(client, rpc_url, "getSignatureStatuses", _status_params(signature))
            if _status(signature, result) == "finalized":
                return
            if time.monotonic() + poll_interval > deadline:
                raise _timed_out(signature, timeout)
            time.sleep(poll_interval)


def find_payment(
    rpc_url: str, references: Iterable[bytes | str], *, timeout: float = 30.0
) -> str | None:
    """The signature of a successful transaction (confirmed or finalized) carrying one of the
    references, or None."""
    keys = _reference_keys(references)
    with httpx.Client(timeout=timeout) as client:
        for key in keys:
            found = _successful(
                _call(client, rpc_url, "getSignaturesForAddress", _signatures_params(key))
            )
            if found is not None:
                return found
    return None


# -- async -------------------------------------------------------------------------------


async def pay_async(
    rpc_url: str,
    keypair_secret: KeypairSecret,
    mint: str,
    recipient_wallet: str,
    amount: int,
    decimals: int,
    reference: bytes | str,
    *,
    timeout: float = 30.0,
) -> str:
    """`pay`, async."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        blockhash = _blockhash(
            await _acall(client, rpc_url, "getLatestBlockhash", _BLOCKHASH_PARAMS)
        )
        tx = transfer_transaction(
            keypair_secret, mint, recipient_wallet, amount, decimals, reference, blockhash
        )
        return str(await _acall(client, rpc_url, "sendTransaction", _send_params(tx)))


async def wait_for_finalized_async(
    rpc_url: str, signature: str, timeout: float = 60.0, *, poll_interval: float = _POLL_SECONDS
) -> None:
    """`wait_for_finalized`, async."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=max(1.0, min(timeout, 30.0))) as client:
        while True:
            result = await _acall(
                client, rpc_url, "getSignatureStatuses", _status_params(signature)
            )
            if _status(signature, result) == "finalized":
                return
            if time.monotonic() + poll_interval > deadline:
                raise _timed_out(signature, timeout)
            await asyncio.sleep(poll_interval)


async def find_payment_async(
    rpc_url: str, references: Iterable[bytes | str], *, timeout: float = 30.0
) -> str | None:
    """`find_payment`, async."""
    keys = _reference_keys(references)
    async with httpx.AsyncClient(timeout=timeout) as client:
        for key in keys:
            found = _successful(
                await _acall(client, rpc_url, "getSignaturesForAddress", _signatures_params(key))
            )
            if found is not None:
                return found
    return None
