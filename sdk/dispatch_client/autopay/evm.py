"""Paying an x402 quote on an EVM chain: an ERC-20 transfer carrying the quote's reference,
signed locally with eth-account and sent over plain JSON-RPC (httpx).

The calldata is the standard transfer followed by the quote's 32-byte reference, which the
server matches (ERC-20 contracts ignore trailing calldata):

    0xa9059cbb ++ pad32(to) ++ uint256(amount) ++ reference

Each operation is written once, sans-I/O: a generator that yields `RpcCall` and `Sleep`
steps. `EvmPayer` (httpx.Client) and `AsyncEvmPayer` (httpx.AsyncClient) only carry them out.

- `pay`: sign and send the transfer; its transaction hash.
- `wait_for_confirmations`: until the transaction's block has `n` blocks, itself included.
- `find_payment`: an already-mined transfer from payer to recipient carrying one of the
  references, so a payer that crashed after sending does not pay twice.
- `has_pending`: whether the payer has a sent transaction not mined yet.

eth-account comes with the `autopay` extra. Importing it imports py_ecc, which raises
Python's recursion limit to 100,000 for the whole process; it is imported with the limit
restored.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

import attrs
import httpx

from dispatch_client._errors import AutopayError

T = TypeVar("T")

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)
# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEFAULT_PRIORITY_FEE_WEI = 10**9  # when the node has no eth_maxPriorityFeePerGas
GAS_MARGIN = 1.25  # over eth_estimateGas
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


class EvmRpcError(AutopayError):
    """The chain's JSON-RPC failed: unreachable, an error answer, or a malformed one."""


class PaymentTimeoutError(AutopayError, TimeoutError):
    """The transaction did not get its confirmations in time."""


class PaymentRevertedError(AutopayError):
    """The transaction was mined and reverted: nothing was paid."""


@attrs.frozen
class RpcCall:
    method: str
    params: tuple[Any, ...] = ()


@attrs.frozen
class Sleep:
    seconds: float


Step = RpcCall | Sleep
Operation = Generator[Step, Any, T]


def _eth_account() -> tuple[Any, Any]:
    """eth_account's Account and eth_utils' to_checksum_address, imported with Python's
    recursion limit kept as it was."""
    limit = sys.getrecursionlimit()
    try:
        from eth_account import Account
        from eth_utils.address import to_checksum_address
    except ImportError:
        raise AutopayError(
            "paying on EVM needs eth-account: pip install 'dispatch-client[autopay]'"
        ) from None
    finally:
        sys.setrecursionlimit(limit)
    return Account, to_checksum_address


def _address(value: str, name: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise AutopayError(f"{name} must be 0x and 40 hex digits")
    return value.lower()


def _word(address: str) -> str:
    return address.removeprefix("0x").lower().rjust(64, "0")


def transfer_calldata(recipient: str, amount: int, reference: bytes) -> str:
    """`transfer(recipient, amount)` with the 32-byte reference after its arguments."""
    if not 0 < amount < 2**256:
        raise AutopayError("amount must be a positive uint256")
    if len(reference) != 32:
        raise AutopayError("reference must be 32 bytes")
    to = _address(recipient, "recipient")
    return "0x" + TRANSFER_SELECTOR + _word(to) + f"{amount:064x}" + reference.hex()


def _quantity(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EvmRpcError(f"the RPC answered {value!r} for a number")
    try:
        return int(value, 16)
    except ValueError:
        raise EvmRpcError(f"the RPC answered {value!r} for a number") from None


def pay_operation(
    *,
    chain_id: int,
    private_key: str | bytes,
    token: str,
    recipient: str,
    amount: int,
    reference: bytes,
) -> Operation[str]:
    """Sign and send the transfer (EIP-1559, or legacy on a chain without a base fee)."""
    eth_account, checksummed = _eth_account()
    account = eth_account.from_key(private_key)
    sender = str(account.address)
    token = str(checksummed(_address(token, "token")))
    data = transfer_calldata(recipient, amount, reference)
    answered = _quantity((yield RpcCall("eth_chainId")))
    if answered != chain_id:
        raise AutopayError(f"the RPC is on chain {answered}, not {chain_id}")
    nonce = _quantity((yield RpcCall("eth_getTransactionCount", (sender, "pending"))))
    call = {"from": sender, "to": token, "data": data}
    gas = int(_quantity((yield RpcCall("eth_estimateGas", (call,)))) * GAS_MARGIN)
    block = yield RpcCall("eth_getBlockByNumber", ("latest", False))
    tx: dict[str, Any] = {
        "chainId": chain_id,  # EIP-155: the signature is only good on this chain
        "nonce": nonce,
        "to": token,
        "value": 0,
        "data": data,
        "gas": gas,
    }
    if isinstance(block, dict) and block.get("baseFeePerGas") is not None:
        try:
            priority = _quantity((yield RpcCall("eth_maxPriorityFeePerGas")))
        except EvmRpcError:
            priority = DEFAULT_PRIORITY_FEE_WEI
        tx["maxPriorityFeePerGas"] = priority
        tx["maxFeePerGas"] = 2 * _quantity(block["baseFeePerGas"]) + priority
        tx["type"] = 2
    else:
        tx["gasPrice"] = _quantity((yield RpcCall("eth_gasPrice")))
    signed = account.sign_transaction(tx)
    raw = "0x" + bytes(signed.raw_transaction).hex()
    tx_hash = yield RpcCall("eth_sendRawTransaction", (raw,))
    if not isinstance(tx_hash, str) or not _TX_HASH.fullmatch(tx_hash):
        raise EvmRpcError(f"the RPC answered {tx_hash!r} for a transaction hash")
    return tx_hash.lower()


def wait_operation(tx_hash: str, n: int, timeout: float, poll: float) -> Operation[int]:
    """The transaction's block number, once it has `n` confirmations (itself included)."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = yield RpcCall("eth_getTransactionReceipt", (tx_hash,))
        if receipt is not None:
            if not isinstance(receipt, dict):
                raise EvmRpcError(f"the RPC answered {receipt!r} for a receipt")
            if _quantity(receipt.get("status")) != 1:
                raise PaymentRevertedError(f"transaction {tx_hash} reverted")
            mined = _quantity(receipt.get("blockNumber"))
            latest = _quantity((yield RpcCall("eth_blockNumber")))
            if latest - mined + 1 >= n:
                return mined
        if time.monotonic() + poll > deadline:
            raise PaymentTimeoutError(f"transaction {tx_hash} has not {n} confirmations yet")
        yield Sleep(poll)


LOG_RANGE = 2_000  # blocks per eth_getLogs: public RPCs cap the range they answer


def find_operation(
    *, token: str, payer: str, recipient: str, references: Iterable[bytes], from_block: int
) -> Operation[str | None]:
    """The hash of a mined transfer of `token` from payer to recipient whose calldata carries
    one of `references` after the transfer's arguments; None if there is none."""
    found = yield from match_operation(
        token=token,
        payer=payer,
        recipient=recipient,
        references=references,
        from_block=from_block,
    )
    return None if found is None else found[0]


def match_operation(
    *, token: str, payer: str, recipient: str, references: Iterable[bytes], from_block: int
) -> Operation[tuple[str, bytes] | None]:
    """`find_operation`, with the reference the transfer carries. The logs are asked for
    `LOG_RANGE` blocks at a time, from `from_block` to the head."""
    token = _address(token, "token")
    wanted = {reference.hex() for reference in references}
    head = _quantity((yield RpcCall("eth_blockNumber")))
    topics = [
        TRANSFER_TOPIC,
        "0x" + _word(_address(payer, "payer")),
        "0x" + _word(_address(recipient, "recipient")),
    ]
    seen: set[str] = set()
    for start in range(max(0, from_block), head + 1, LOG_RANGE):
        end = min(head, start + LOG_RANGE - 1)
        query = {"fromBlock": hex(start), "toBlock": hex(end), "address": token, "topics": topics}
        logs = yield RpcCall("eth_getLogs", (query,))
        if not isinstance(logs, list):
            raise EvmRpcError(f"the RPC answered {logs!r} for logs")
        for log in logs:
            tx_hash = str(log["transactionHash"]).lower()
            if tx_hash in seen or log.get("removed"):
                continue
            seen.add(tx_hash)
            tx = yield RpcCall("eth_getTransactionByHash", (tx_hash,))
            if not isinstance(tx, dict) or str(tx.get("to", "")).lower() != token:
                continue
            data = str(tx.get("input", "")).removeprefix("0x").lower()
            if data[:8] == TRANSFER_SELECTOR and data[136:200] in wanted:
                return tx_hash, bytes.fromhex(data[136:200])
    return None


def block_at_operation(timestamp: int) -> Operation[int]:
    """The last block mined at or before `timestamp` (0 when none is), by bisection."""
    low, high = 0, _quantity((yield RpcCall("eth_blockNumber")))
    while low < high:
        middle = (low + high + 1) // 2
        block = yield RpcCall("eth_getBlockByNumber", (hex(middle), False))
        if not isinstance(block, dict):
            raise EvmRpcError(f"the RPC answered {block!r} for block {middle}")
        if _quantity(block.get("timestamp")) <= timestamp:
            low = middle
        else:
            high = middle - 1
    return low


DECIMALS_SELECTOR = "313ce567"  # decimals()


def decimals_operation(token: str) -> Operation[int]:
    """The token contract's own `decimals()`."""
    call = {"to": _address(token, "token"), "data": "0x" + DECIMALS_SELECTOR}
    return _quantity((yield RpcCall("eth_call", (call, "latest"))))


def address_of(private_key: str | bytes) -> str:
    """The checksummed address of a private key."""
    account, _ = _eth_account()
    address: str = account.from_key(private_key).address
    return address


def block_number_operation() -> Operation[int]:
    return _quantity((yield RpcCall("eth_blockNumber")))


def has_pending_operation(payer: str) -> Operation[bool]:
    """Whether the payer has sent a transaction that is not mined yet."""
    address = _address(payer, "payer")
    pending = _quantity((yield RpcCall("eth_getTransactionCount", (address, "pending"))))
    latest = _quantity((yield RpcCall("eth_getTransactionCount", (address, "latest"))))
    return pending > latest


def _request(step: RpcCall) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": step.method, "params": list(step.params)}


def _result(step: RpcCall, response: httpx.Response) -> Any:
    try:
        answer = response.json()
    except ValueError:
        raise EvmRpcError(f"{step.method}: the RPC's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise EvmRpcError(f"{step.method}: the RPC's answer is not a JSON-RPC response")
    if answer.get("error") is not None:
        raise EvmRpcError(f"{step.method}: {answer['error']}")
    if "result" not in answer:
        raise EvmRpcError(f"{step.method}: the RPC's answer has no result")
    return answer["result"]


class EvmPayer:
    """Pays and follows EVM payments over one JSON-RPC endpoint (blocking)."""

    def __init__(
        self,
        rpc_url: str,
        chain_id: int,
        *,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self._client = client or httpx.Client(timeout=timeout)
        self._owned = client is None

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def __enter__(self) -> EvmPayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, operation: Operation[T]) -> T:
        outcome: Any = None
        failure: Exception | None = None
        while True:
            try:
                step = operation.throw(failure) if failure else operation.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            outcome, failure = None, None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            try:
                response = self._client.post(self.rpc_url, json=_request(step))
                outcome = _result(step, response)
            except httpx.HTTPError as exc:
                failure = EvmRpcError(f"{step.method}: {type(exc).__name__}: {exc}")
            except EvmRpcError as exc:
                failure = exc

    def pay(
        self, private_key: str | bytes, token: str, recipient: str, amount: int, reference: bytes
    ) -> str:
        return self.run(
            pay_operation(
                chain_id=self.chain_id,
                private_key=private_key,
                token=token,
                recipient=recipient,
                amount=amount,
                reference=reference,
            )
        )

    def wait_for_confirmations(
        self, tx_hash: str, n: int, timeout: float, *, poll: float = 1.0
    ) -> int:
        return self.run(wait_operation(tx_hash, n, timeout, poll))

    def find_payment(
        self,
        token: str,
        payer: str,
        recipient: str,
        references: Iterable[bytes],
        from_block: int,
    ) -> str | None:
        return self.run(
            find_operation(
                token=token,
                payer=payer,
                recipient=recipient,
                references=references,
                from_block=from_block,
            )
        )

    def has_pending(self, payer: str) -> bool:
        return self.run(has_pending_operation(payer))

    def block_number(self) -> int:
        return self.run(block_number_operation())

    def block_at(self, timestamp: int) -> int:
        return self.run(block_at_operation(timestamp))

    def decimals(self, token: str) -> int:
        return self.run(decimals_operation(token))

    def match_payment(
        self,
        token: str,
        payer: str,
        recipient: str,
        references: Iterable[bytes],
        from_block: int,
    ) -> tuple[str, bytes] | None:
        return self.run(
            match_operation(
                token=token,
                payer=payer,
                recipient=recipient,
                references=references,
                from_block=from_block,
            )
        )


class AsyncEvmPayer:
    """Pays and follows EVM payments over one JSON-RPC endpoint (asyncio)."""

    def __init__(
        self,
        rpc_url: str,
        chain_id: int,
        *,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owned = client is None

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncEvmPayer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, operation: Operation[T]) -> T:
        outcome: Any = None
        failure: Exception | None = None
        while True:
            try:
                step = operation.throw(failure) if failure else operation.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            outcome, failure = None, None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                response = await self._client.post(self.rpc_url, json=_request(step))
                outcome = _result(step, response)
            except httpx.HTTPError as exc:
                failure = EvmRpcError(f"{step.method}: {type(exc).__name__}: {exc}")
            except EvmRpcError as exc:
                failure = exc

    async def pay(
        self, private_key: str | bytes, token: str, recipient: str, amount: int, reference: bytes
    ) -> str:
        return await self.run(
            pay_operation(
                chain_id=self.chain_id,
                private_key=private_key,
                token=token,
                recipient=recipient,
                amount=amount,
                reference=reference,
            )
        )

    async def wait_for_confirmations(
        self, tx_hash: str, n: int, timeout: float, *, poll: float = 1.0
    ) -> int:
        return await self.run(wait_operation(tx_hash, n, timeout, poll))

    async def find_payment(
        self,
        token: str,
        payer: str,
        recipient: str,
        references: Iterable[bytes],
        from_block: int,
    ) -> str | None:
        return await self.run(
            find_operation(
                token=token,
                payer=payer,
                recipient=recipient,
                references=references,
                from_block=from_block,
            )
        )

    async def has_pending(self, payer: str) -> bool:
        return await self.run(has_pending_operation(payer))

    async def block_number(self) -> int:
        return await self.run(block_number_operation())

    async def block_at(self, timestamp: int) -> int:
        return await self.run(block_at_operation(timestamp))

    async def decimals(self, token: str) -> int:
        return await self.run(decimals_operation(token))

    async def match_payment(
        self,
        token: str,
        payer: str,
        recipient: str,
        references: Iterable[bytes],
        from_block: int,
    ) -> tuple[str, bytes] | None:
        return await self.run(
            match_operation(
                token=token,
                payer=payer,
                recipient=recipient,
                references=references,
                from_block=from_block,
            )
        )
