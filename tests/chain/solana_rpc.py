"""A local Solana JSON-RPC node for the tests, since no Solana validator can be installed here.

A real HTTP server (the standard library's, in a thread, on a free port) that keeps a small
ledger (lamports per account, SPL token accounts with their owner, mint and amount) and answers
the methods the verifier and the SDK's payer use, in the shapes Solana's RPC documents:
`getTransaction` (`jsonParsed`), `getSignaturesForAddress`, `getLatestBlockhash`,
`sendTransaction` and `getSignatureStatuses`. Transactions are real `solders` transactions,
signed by real keypairs: `sendTransaction` decodes the wire bytes, verifies every signature,
checks the blockhash, charges the fee, and runs the SPL token program's `transferChecked` and
`transfer` against the ledger (insufficient funds, a wrong mint, owner or decimals fail with
the token program's error in `meta.err`). Compute-budget and memo instructions are accepted and
do nothing; other programs fail.

Test controls: `fund` / `mint_to` / `airdrop` to set balances, `landing` ("finalized" or
"confirmed") for how new transactions land, `finalize`, `set_block_time`, `clock` for the
block time of new transactions, `add_transaction` to place any `getTransaction` answer on the
ledger, and `fault` to make the node misbehave ("garbled", "http_error", "rpc_error",
"malformed", "slow").
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import attrs
import pytest
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from dispatch_server.auth.wallets import b58decode, b58encode

TOKEN_PROGRAM = "TokenkegQfeYyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
FEE_PER_SIGNATURE = 5000

Commitment = Literal["processed", "confirmed", "finalized"]
Fault = Literal["garbled", "http_error", "rpc_error", "malformed", "slow"]


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@attrs.define
class TokenAccount:
    owner: str
    mint: str
    amount: int


@attrs.define
class Landed:
    signature: str
    slot: int
    block_time: int | None
    status: Commitment
    err: object
    answer: dict[str, Any]  # getTransaction's jsonParsed result, without slot/blockTime
    account_keys: list[str]


def ata(owner: str, mint: str) -> str:
    """The associated token account of `owner` for `mint`."""
    return str(get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint)))


def ui_amount(amount: int, decimals: int) -> dict[str, Any]:
    value = Decimal(amount).scaleb(-decimals)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(value) if amount else None,
        "uiAmountString": text,
    }


class LocalSolana:
    """The node: its ledger, its controls, and its HTTP server."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.lamports: dict[str, int] = {}
        self.mints: dict[str, int] = {}  # mint -> decimals
        self.token_accounts: dict[str, TokenAccount] = {}
        self.transactions: dict[str, Landed] = {}
        self.order: list[str] = []  # signatures, oldest first
        self.blockhashes: list[str] = []
        self.slot = 1000
        self.landing: Commitment = "finalized"
        self.clock: Callable[[], int | None] = lambda: int(time.time())
        self.fault: Fault | None = None
        self.slow_seconds = 3.0
        self.requests: list[tuple[str, list[Any]]] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> LocalSolana:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    # -- controls ----------------------------------------------------------------------

    def airdrop(self, pubkey: str, lamports: int = 1_000_000_000) -> None:
        with self.lock:
            self.lamports[pubkey] = self.lamports.get(pubkey, 0) + lamports

    def create_mint(self, mint: str, decimals: int = 6) -> None:
        with self.lock:
            self.mints.setdefault(mint, decimals)

    def mint_to(self, owner: str, mint: str, amount: int, decimals: int = 6) -> str:
        """Adds `amount` base units to `owner`'s associated token account (created if need
        be); returns the account's address."""
        with self.lock:
            self.create_mint(mint, decimals)
            address = ata(owner, mint)
            account = self.token_accounts.setdefault(address, TokenAccount(owner, mint, 0))
            account.amount += amount
            return address

    def fund(self, owner: str, mint: str, amount: int, decimals: int = 6) -> None:
        """SOL for fees and `amount` of the token: a wallet ready to pay."""
        self.airdrop(owner)
        self.mint_to(owner, mint, amount, decimals)

    def balance(self, owner: str, mint: str) -> int:
        with self.lock:
            account = self.token_accounts.get(ata(owner, mint))
            return account.amount if account else 0

    def finalize(self, signature: str) -> None:
        with self.lock:
            self.transactions[signature].status = "finalized"

    def set_block_time(self, signature: str, block_time: int | None) -> None:
        with self.lock:
            self.transactions[signature].block_time = block_time

    def add_transaction(
        self,
        signature: str,
        answer: dict[str, Any],
        *,
        account_keys: list[str] | None = None,
        status: Commitment = "finalized",
    ) -> None:
        """Puts a ready-made `getTransaction` result on the ledger, as is (for shapes the
        token program here cannot produce: another program's inner transfer, a v0
        transaction's loaded addresses...)."""
        with self.lock:
            self.slot += 1
            self._record(
                Landed(
                    signature=signature,
                    slot=self.slot,
                    block_time=answer.get("blockTime", self.clock()),
                    status=status,
                    err=(answer.get("meta") or {}).get("err"),
                    answer={k: v for k, v in answer.items() if k not in ("slot", "blockTime")},
                    account_keys=account_keys or [],
                )
            )

    # -- JSON-RPC ----------------------------------------------------------------------

    def handle(self, method: str, params: list[Any]) -> Any:
        with self.lock:
            self.requests.append((method, params))
            handler = getattr(self, "rpc_" + method, None)
            if handler is None:
                raise RpcError(-32601, "Method not found")
            return handler(*params)

    def rpc_getLatestBlockhash(self, config: Mapping[str, Any] | None = None) -> Any:
        blockhash = str(Hash(os.urandom(32)))
        self.blockhashes.append(blockhash)
        return {
            "context": {"apiVersion": "2.1.0", "slot": self.slot},
            "value": {"blockhash": blockhash, "lastValidBlockHeight": self.slot + 150},
        }

    def rpc_getTransaction(self, signature: str, config: Mapping[str, Any] | None = None) -> Any:
        config = config or {}
        commitment = config.get("commitment", "finalized")
        if commitment not in ("confirmed", "finalized"):
            raise RpcError(-32602, "Method does not support commitment below `confirmed`")
        if config.get("encoding", "json") != "jsonParsed":
            raise RpcError(-32602, "Invalid params: this local node only speaks jsonParsed")
        _signature_bytes(signature)
        landed = self.transactions.get(signature)
        if landed is None or not _visible(landed, commitment):
            return None
        if landed.answer.get("version") == 0 and config.get("maxSupportedTransactionVersion") != 0:
            raise RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try "
                'the request again with the following configuration parameter: "'
                'maxSupportedTransactionVersion": 0',
            )
        return {"slot": landed.slot, "blockTime": landed.block_time, **landed.answer}

    def rpc_getSignaturesForAddress(
        self, address: str, config: Mapping[str, Any] | None = None
    ) -> Any:
        config = config or {}
        try:
            Pubkey.from_string(address)
        except ValueError as exc:
            raise RpcError(-32602, "Invalid param: Invalid") from exc
        commitment = config.get("commitment", "finalized")
        limit = int(config.get("limit", 1000))
        before, until = config.get("before"), config.get("until")
        found: list[dict[str, Any]] = []
        started = before is None
        for signature in reversed(self.order):
            if not started:
                started = signature == before
                continue
            if signature == until:
                break
            landed = self.transactions[signature]
            if address in landed.account_keys and _visible(landed, commitment):
                found.append(
                    {
                        "signature": signature,
                        "slot": landed.slot,
                        "err": landed.err,
                        "memo": None,
                        "blockTime": landed.block_time,
                        "confirmationStatus": landed.status,
                    }
                )
            if len(found) >= limit:
                break
        return found

    def rpc_getSignatureStatuses(
        self, signatures: list[str], config: Mapping[str, Any] | None = None
    ) -> Any:
        value: list[dict[str, Any] | None] = []
        for signature in signatures:
            landed = self.transactions.get(signature)
            if landed is None:
                value.append(None)
                continue
            value.append(
                {
                    "slot": landed.slot,
                    "confirmations": None if landed.status == "finalized" else 1,
                    "err": landed.err,
                    "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
                    "confirmationStatus": landed.status,
                }
            )
        return {"context": {"apiVersion": "2.1.0", "slot": self.slot}, "value": value}

    def rpc_sendTransaction(self, wire: str, config: Mapping[str, Any] | None = None) -> Any:
        config = config or {}
        try:
            if config.get("encoding", "base58") == "base64":
                raw = base64.b64decode(wire, validate=True)
            else:
                raw = b58decode(wire)
            tx = VersionedTransaction.from_bytes(raw)
        except ValueError as exc:
            raise RpcError(-32602, f"invalid transaction: {exc}") from exc
        if not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        signature = str(tx.signatures[0])
        if signature in self.transactions:
            raise RpcError(
                -32002,
                "Transaction simulation failed: This transaction has already been processed",
                {"err": "AlreadyProcessed"},
            )
        message = tx.message
        if str(message.recent_blockhash) not in self.blockhashes:
            raise RpcError(
                -32002,
                "Transaction simulation failed: Blockhash not found",
                {"err": "BlockhashNotFound"},
            )
        if getattr(message, "address_table_lookups", None):
            raise RpcError(-32602, "invalid transaction: this local node has no lookup tables")
        keys = [str(key) for key in message.account_keys]
        header = message.header
        signers = header.num_required_signatures
        writable = [
            i < signers - header.num_readonly_signed_accounts
            or signers <= i < len(keys) - header.num_readonly_unsigned_accounts
            for i in range(len(keys))
        ]
        fee = FEE_PER_SIGNATURE * len(tx.signatures)
        if self.lamports.get(keys[0], 0) < fee:
            raise RpcError(
                -32002,
                "Transaction simulation failed: Attempt to debit an account but found no record "
                "of a prior credit.",
                {"err": "AccountNotFound"},
            )
        pre_lamports = [self.lamports.get(key, 0) for key in keys]
        token_keys = [i for i, key in enumerate(keys) if key in self.token_accounts]
        pre_tokens = self._token_balances(keys, token_keys)
        work = {k: attrs.evolve(v) for k, v in self.token_accounts.items()}
        instructions: list[dict[str, Any]] = []
        logs: list[str] = []
        err: object = None
        for index, compiled in enumerate(message.instructions):
            program = keys[compiled.program_id_index]
            accounts = [keys[i] for i in compiled.accounts]
            data = bytes(compiled.data)
            instructions.append(_parsed_instruction(program, accounts, data, self.mints))
            logs.append(f"Program {program} invoke [1]")
            failure = _execute(
                program, accounts, [i < signers for i in compiled.accounts], data, work, self.mints
            )
            if failure is not None:
                err = {"InstructionError": [index, failure]}
                logs.append(f"Program {program} failed: {failure}")
                break
            logs.append(f"Program {program} success")
        if err is not None and not config.get("skipPreflight", False):
            raise RpcError(
                -32002,
                f"Transaction simulation failed: Error processing Instruction "
                f"{err['InstructionError'][0]}: {err['InstructionError'][1]}",  # type: ignore[index]
                {"err": err, "logs": logs, "accounts": None, "unitsConsumed": 0},
            )
        self.lamports[keys[0]] = self.lamports.get(keys[0], 0) - fee
        if err is None:
            self.token_accounts = work
        post_lamports = [self.lamports.get(key, 0) for key in keys]
        post_tokens = self._token_balances(keys, token_keys)
        self.slot += 1
        answer = {
            "meta": {
                "computeUnitsConsumed": 4644,
                "err": err,
                "fee": fee,
                "innerInstructions": [],
                "loadedAddresses": {"readonly": [], "writable": []},
                "logMessages": logs,
                "postBalances": post_lamports,
                "postTokenBalances": post_tokens,
                "preBalances": pre_lamports,
                "preTokenBalances": pre_tokens,
                "rewards": [],
                "status": {"Ok": None} if err is None else {"Err": err},
            },
            "transaction": {
                "message": {
                    "accountKeys": [
                        {
                            "pubkey": key,
                            "signer": i < signers,
                            "source": "transaction",
                            "writable": writable[i],
                        }
                        for i, key in enumerate(keys)
                    ],
                    "instructions": instructions,
                    "recentBlockhash": str(message.recent_blockhash),
                    **({"addressTableLookups": []} if _version(tx) == 0 else {}),
                },
                "signatures": [str(s) for s in tx.signatures],
            },
            "version": _version(tx),
        }
        self._record(
            Landed(
                signature=signature,
                slot=self.slot,
                block_time=self.clock(),
                status=self.landing,
                err=err,
                answer=answer,
                account_keys=keys,
            )
        )
        return signature

    def rpc_getHealth(self) -> Any:
        return "ok"

    def _record(self, landed: Landed) -> None:
        self.transactions[landed.signature] = landed
        self.order.append(landed.signature)

    def _token_balances(self, keys: list[str], indexes: list[int]) -> list[dict[str, Any]]:
        balances = []
        for i in indexes:
            account = self.token_accounts.get(keys[i])
            if account is None:
                continue
            balances.append(
                {
                    "accountIndex": i,
                    "mint": account.mint,
                    "owner": account.owner,
                    "programId": TOKEN_PROGRAM,
                    "uiTokenAmount": ui_amount(account.amount, self.mints.get(account.mint, 6)),
                }
            )
        return balances

    # -- HTTP --------------------------------------------------------------------------

    def respond(self, body: bytes) -> tuple[int, bytes]:
        fault = self.fault
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "garbled":
            return 200, b"<html><body>502 Bad Gateway</body></html>"
        if fault == "http_error":
            return 503, b'{"error": "service unavailable"}'
        try:
            request = json.loads(body)
        except ValueError:
            return 200, _dump(
                {"jsonrpc": "2.0", "id": None, "error": _error(-32700, "Parse error")}
            )
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return 200, _dump(
                {"jsonrpc": "2.0", "id": None, "error": _error(-32600, "Invalid request")}
            )
        ident = request.get("id")
        if fault == "rpc_error":
            error = _error(-32005, "Node is behind by 1337 slots", {"numSlotsBehind": 1337})
            return 200, _dump({"jsonrpc": "2.0", "id": ident, "error": error})
        if fault == "malformed":
            return 200, _dump({"jsonrpc": "2.0", "id": ident, "result": {"meta": "nonsense"}})
        params = request.get("params") or []
        try:
            result = self.handle(request["method"], params)
        except RpcError as exc:
            return 200, _dump(
                {"jsonrpc": "2.0", "id": ident, "error": _error(exc.code, exc.message, exc.data)}
            )
        except (TypeError, ValueError) as exc:
            return 200, _dump(
                {"jsonrpc": "2.0", "id": ident, "error": _error(-32602, f"Invalid params: {exc}")}
            )
        return 200, _dump({"jsonrpc": "2.0", "id": ident, "result": result})


def _dump(value: object) -> bytes:
    return json.dumps(value).encode()


def _error(code: int, message: str, data: object = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return error


def _handler(node: LocalSolana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, body = node.respond(self.rfile.read(length))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _visible(landed: Landed, commitment: str) -> bool:
    return landed.status == "finalized" or commitment in ("confirmed", "processed")


def _version(tx: VersionedTransaction) -> int | str:
    version = tx.version()
    return version if isinstance(version, int) else "legacy"


def _signature_bytes(signature: str) -> bytes:
    try:
        raw = b58decode(signature)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise RpcError(-32602, "Invalid param: Invalid")
    return raw


def _parsed_instruction(
    program: str, accounts: list[str], data: bytes, mints: Mapping[str, int]
) -> dict[str, Any]:
    """An instruction as `jsonParsed` shows it: spl-token's transfers parsed, others raw."""
    if program == TOKEN_PROGRAM and data[:1] == b"\x0c" and len(data) == 10 and len(accounts) >= 4:
        amount, decimals = struct.unpack_from("<QB", data, 1)
        info: dict[str, Any] = {
            "destination": accounts[2],
            "mint": accounts[1],
            "source": accounts[0],
            "tokenAmount": ui_amount(amount, decimals),
        }
        # As the node's parser does: accounts after the authority are read as the signers
        # of a multisig authority (which a Solana Pay reference is taken for).
        if len(accounts) > 4:
            info["multisigAuthority"] = accounts[3]
            info["signers"] = accounts[4:]
        else:
            info["authority"] = accounts[3]
        return {
            "parsed": {"info": info, "type": "transferChecked"},
            "program": "spl-token",
            "programId": program,
            "stackHeight": None,
        }
    if program == TOKEN_PROGRAM and data[:1] == b"\x03" and len(data) == 9 and len(accounts) >= 3:
        (amount,) = struct.unpack_from("<Q", data, 1)
        info = {"amount": str(amount), "destination": accounts[1], "source": accounts[0]}
        if len(accounts) > 3:
            info["multisigAuthority"] = accounts[2]
            info["signers"] = accounts[3:]
        else:
            info["authority"] = accounts[2]
        return {
            "parsed": {"info": info, "type": "transfer"},
            "program": "spl-token",
            "programId": program,
            "stackHeight": None,
        }
    return {
        "accounts": accounts,
        "data": b58encode(data),
        "programId": program,
        "stackHeight": None,
    }


def _execute(
    program: str,
    accounts: list[str],
    signed: list[bool],
    data: bytes,
    token_accounts: dict[str, TokenAccount],
    mints: Mapping[str, int],
) -> object:
    """Runs one instruction against `token_accounts`; the failure as `InstructionError`
    shows it, or None. (Token program errors: 1 insufficient funds, 3 mint mismatch, 4 owner
    mismatch, 18 mint decimals mismatch.)"""
    if program in (COMPUTE_BUDGET_PROGRAM, MEMO_PROGRAM):
        return None
    if program != TOKEN_PROGRAM:
        return "UnsupportedProgramId"
    if data[:1] == b"\x0c" and len(data) == 10 and len(accounts) >= 4:
        amount, decimals = struct.unpack_from("<QB", data, 1)
        source_key, mint, destination_key, authority = accounts[:4]
        authority_signed = signed[3]
        if mint not in mints:
            return "InvalidAccountData"
        if decimals != mints[mint]:
            return {"Custom": 18}
    elif data[:1] == b"\x03" and len(data) == 9 and len(accounts) >= 3:
        (amount,) = struct.unpack_from("<Q", data, 1)
        source_key, destination_key, authority = accounts[:3]
        authority_signed = signed[2]
        mint = None
    else:
        return "InvalidInstructionData"
    source = token_accounts.get(source_key)
    destination = token_accounts.get(destination_key)
    if source is None:
        return "InvalidAccountData"
    if destination is None:
        return {"Custom": 13}  # UninitializedState
    if source.mint != destination.mint or (mint is not None and source.mint != mint):
        return {"Custom": 3}
    if source.owner != authority:
        return {"Custom": 4}
    if not authority_signed:
        return "MissingRequiredSignature"
    if source.amount < amount:
        return {"Custom": 1}
    source.amount -= amount
    destination.amount += amount
    return None


@pytest.fixture
def solana_rpc() -> Iterator[LocalSolana]:
    """A fresh local Solana node, serving at `.url`."""
    node = LocalSolana().start()
    try:
        yield node
    finally:
        node.stop()
