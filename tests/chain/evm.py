"""A real local EVM node for the tests: Foundry's anvil (from npm, a prebuilt binary, offline),
on a free port of 127.0.0.1, with the deterministic funded accounts of its test mnemonic and the
test ERC-20 (contracts/TestUSDC.sol) deployed twice: `token`, the quoted USDC, and
`other_token`, for the wrong-token cases.

anvil rather than ganache: ganache 7 answers `eth_getTransactionCount(..., "pending")` from the
latest block, so a pending transaction is invisible there, and the payer's `has_pending`
could not be tested against it.

The node mines each transaction as it is sent (automine). `mine` adds empty blocks
(confirmations); `paused` stops mining so a transaction stays pending. Never skips: with no
node_modules the fixture fails and names the install command.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
ARTIFACT = HERE / "contracts" / "TestUSDC.json"
INSTALL = "npm ci --prefix tests/chain"
CHAIN_ID = 1337
ACCOUNTS = 6
# anvil's (and Hardhat's) public test mnemonic: well-known keys, never for real funds
MNEMONIC = "test test test test test test test test test test test junk"
TRANSFER = "0xa9059cbb"  # transfer(address,uint256)
MINT = "0x40c10f19"  # mint(address,uint256)
BALANCE_OF = "0x70a08231"  # balanceOf(address)
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def private_key(index: int) -> str:
    """Account `index`'s key (BIP-44 path m/44'/60'/0'/0/index of the test mnemonic)."""
    from dispatch_server.core.imports import keeping_recursion_limit

    with keeping_recursion_limit():
        from eth_account import Account as EthAccount

    EthAccount.enable_unaudited_hdwallet_features()
    key = EthAccount.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key
    return "0x" + bytes(key).hex()


def word(value: int | str | bytes) -> str:
    """One 32-byte ABI word, as 64 hex digits: an int, a 0x address, or raw bytes."""
    if isinstance(value, int):
        return f"{value:064x}"
    if isinstance(value, bytes):
        return value.hex().rjust(64, "0")
    return value.removeprefix("0x").lower().rjust(64, "0")


def transfer_data(to: str, amount: int, reference: bytes | None = None) -> str:
    """ERC-20 transfer calldata, the quote's reference after its arguments when given."""
    return TRANSFER + word(to) + word(amount) + (reference.hex() if reference else "")


class RpcError(RuntimeError):
    pass


@attrs.frozen
class Account:
    address: str  # lower case, as the node lists it
    private_key: str  # 0x-hex


@attrs.define
class EvmChain:
    """The running node: its URL, accounts and tokens, and the calls the tests make."""

    rpc_url: str
    chain_id: int
    accounts: tuple[Account, ...]
    token: str = ""
    other_token: str = ""
    _client: httpx.Client = attrs.field(factory=lambda: httpx.Client(timeout=30))
    _paused: bool = False

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self._client.post(
            self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer["result"]

    def send(self, sender: str, to: str | None, data: str, *, gas: int | None = None) -> str:
        """A transaction from an unlocked node account; its hash, once mined (unless paused)."""
        tx: dict[str, str] = {"from": sender, "data": data}
        if to is not None:
            tx["to"] = to
        if gas is not None:
            tx["gas"] = hex(gas)
        tx_hash: str = self.rpc("eth_sendTransaction", tx)
        if not self._paused:
            self.receipt(tx_hash)
        return tx_hash

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """The receipt, waited for: anvil may answer eth_sendTransaction before it mines."""
        deadline = time.monotonic() + 10
        while True:
            receipt: dict[str, Any] | None = self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            assert time.monotonic() < deadline, f"{tx_hash} is not mined"
            time.sleep(0.01)

    def deploy(self, sender: str) -> str:
        bytecode: str = json.loads(ARTIFACT.read_text())["bytecode"]
        receipt = self.receipt(self.send(sender, None, bytecode, gas=3_000_000))
        assert int(receipt["status"], 16) == 1, receipt
        address: str = receipt["contractAddress"]
        return address

    def mint(self, token: str, to: str, amount: int) -> None:
        data = MINT + word(to) + word(amount)
        receipt = self.receipt(self.send(self.accounts[0].address, token, data))
        assert int(receipt["status"], 16) == 1, receipt

    def transfer(
        self,
        sender: str,
        to: str,
        amount: int,
        reference: bytes | None = None,
        *,
        token: str | None = None,
        gas: int | None = None,
    ) -> str:
        """An ERC-20 transfer (of `token`, by default the quoted one); its tx hash."""
        return self.send(sender, token or self.token, transfer_data(to, amount, reference), gas=gas)

    def balance(self, holder: str, token: str | None = None) -> int:
        call = {"to": token or self.token, "data": BALANCE_OF + word(holder)}
        return int(self.rpc("eth_call", call, "latest"), 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No blocks are mined inside: what is sent stays pending (mined on leaving)."""
        self.rpc("evm_setAutomine", False)
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            self.rpc("evm_setAutomine", True)
            self.mine()

    def close(self) -> None:
        self._client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def anvil_binary() -> Path:
    """The platform package's binary (not npm's bin.mjs wrapper, which would outlive a kill)."""
    found = sorted(MODULES.glob("@foundry-rs/anvil-*/bin/anvil"))
    if not found:
        pytest.fail(
            f"the EVM tests need anvil from tests/chain/node_modules: run `{INSTALL}`",
            pytrace=False,
        )
    return found[0]


def start_anvil(port: int) -> subprocess.Popen[bytes]:
    command = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    command += ["--chain-id", str(CHAIN_ID), "--accounts", str(ACCOUNTS), "--mnemonic", MNEMONIC]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def running_chain() -> Iterator[EvmChain]:
    port = free_port()
    process = start_anvil(port)
    chain = EvmChain(rpc_url=f"http://127.0.0.1:{port}", chain_id=CHAIN_ID, accounts=())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                listed = chain.rpc("eth_accounts")
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, err = process.communicate()
                    pytest.fail(f"anvil did not start: {err.decode()[-2000:]}", pytrace=False)
                time.sleep(0.1)
        keys = [private_key(i) for i in range(ACCOUNTS)]
        chain.accounts = tuple(Account(a.lower(), k) for a, k in zip(listed, keys, strict=True))
        chain.token = chain.deploy(chain.accounts[0].address)
        chain.other_token = chain.deploy(chain.accounts[0].address)
        yield chain
    finally:
        chain.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def evm_chain() -> Iterator[EvmChain]:
    """An anvil node for the session, its accounts funded and the two tokens deployed."""
    with running_chain() as chain:
        yield chain
