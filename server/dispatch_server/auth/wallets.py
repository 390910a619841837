"""Wallet signatures for x402 claims: a wallet proves it agrees to a claim by signing the
claim token's deterministic message.

- EVM: `personal_sign` (EIP-191, "\\x19Ethereum Signed Message:\\n<length>" + message),
  65 bytes as 0x-hex; the signer is recovered with eth-account and compared with the
  token's address.
- Solana: ed25519 over the message's UTF-8 bytes (a wallet's `signMessage`), 64 bytes in
  base58 (or 0x-hex); verified with PyNaCl against the address, the base58 public key.

eth-account and PyNaCl come with the `wallet` extra; without it, wallet claims answer
`501 wallet_unsupported` and everything else works.
"""

from __future__ import annotations

import re
from datetime import datetime
from types import ModuleType
from typing import Literal

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput
from dispatch_server.core.imports import keeping_recursion_limit

Chain = Literal["evm", "solana"]
CHAINS: tuple[Chain, ...] = ("evm", "solana")
MAX_SIGNATURE_CHARS = 200

_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class SignatureRefused(DomainError):
    code = ErrorCode.WALLET_SIGNATURE_INVALID

    def __init__(self, message: str) -> None:
        super().__init__(message, param="wallet_signature")


class WalletUnsupported(DomainError):
    code = ErrorCode.WALLET_UNSUPPORTED


def b58decode(text: str) -> bytes:
    """Bitcoin-alphabet base58, as Solana writes keys and signatures; ValueError if not."""
    number = 0
    for char in text:
        digit = _B58.find(char)
        if digit < 0:
            raise ValueError("not base58")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def b58encode(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = _B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def is_evm_address(text: str) -> bool:
    return _EVM_ADDRESS.fullmatch(text) is not None


def is_solana_key(text: str) -> bool:
    """Base58 of 32 bytes: an ed25519 public key, a mint, a wallet."""
    try:
        return len(text) <= 50 and len(b58decode(text)) == 32
    except ValueError:
        return False


def normalize_address(chain: str, address: str, *, param: str = "wallet_address") -> str:
    """The address as stored (EVM in lower case), or InvalidInput naming `param`."""
    if chain == "evm":
        if not is_evm_address(address):
            raise InvalidInput(f"{param} must be 0x and 40 hex digits", param=param)
        return address.lower()
    if chain == "solana":
        if not is_solana_key(address):
            raise InvalidInput(f"{param} must be a base58 ed25519 public key", param=param)
        return address
    raise InvalidInput("wallet_chain must be evm or solana", param="wallet_chain")


def claim_message(
    *, token_id: str, agent_id: str, inbox_address: str, wallet_address: str, expires_at: datetime
) -> str:
    """What the wallet signs: deterministic from the claim token, so the server rebuilds it."""
    return (
        "Dispatch: claim this agent for the operator who presents the token.\n"
        f"Agent: {agent_id}\n"
        f"Inbox: {inbox_address}\n"
        f"Wallet: {wallet_address}\n"
        f"Claim token: {token_id}\n"
        f"Expires: {expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def _signature_bytes(signature: str, *, base58: bool) -> bytes:
    if not signature or len(signature) > MAX_SIGNATURE_CHARS:
        raise SignatureRefused("wallet_signature is missing or too long")
    try:
        if _HEX.fullmatch(signature) and (signature.startswith("0x") or not base58):
            return bytes.fromhex(signature.removeprefix("0x"))
        if base58:
            return b58decode(signature)
    except ValueError:
        pass
    raise SignatureRefused("wallet_signature is not " + ("base58 or hex" if base58 else "hex"))


def verify(chain: str, address: str, message: str, signature: str) -> None:
    """Return if `address` signed `message`, else SignatureRefused."""
    if chain == "evm":
        _verify_evm(address, message, _signature_bytes(signature, base58=False))
    else:
        _verify_solana(address, message, _signature_bytes(signature, base58=True))


def _eth_account() -> ModuleType:
    """eth-account, imported with Python's recursion limit kept as it was (py_ecc would raise
    it to 100,000 for the whole process; see dispatch_server.core.imports)."""
    with keeping_recursion_limit():
        import eth_account
        import eth_account.messages
    return eth_account


def _verify_evm(address: str, message: str, signature: bytes) -> None:
    try:
        eth_account = _eth_account()
    except ImportError:
        raise WalletUnsupported("EVM wallet claims need the wallet extra (eth-account)") from None
    Account, encode_defunct = eth_account.Account, eth_account.messages.encode_defunct
    if len(signature) != 65:
        raise SignatureRefused("an EVM personal_sign signature is 65 bytes")
    try:
        signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # eth-account raises several kinds for a bad signature
        raise SignatureRefused("wallet_signature does not recover to any address") from None
    if str(signer).lower() != address.lower():
        raise SignatureRefused("wallet_signature was made by another wallet")


def _verify_solana(address: str, message: str, signature: bytes) -> None:
    try:
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey
    except ImportError:
        raise WalletUnsupported("Solana wallet claims need the wallet extra (PyNaCl)") from None
    if len(signature) != 64:
        raise SignatureRefused("an ed25519 signature is 64 bytes")
    try:
        VerifyKey(b58decode(address)).verify(message.encode(), signature)
    except BadSignatureError:
        raise SignatureRefused("wallet_signature was made by another wallet") from None


def available() -> bool:
    """Whether the wallet extra is installed."""
    try:
        _eth_account()
        import nacl.signing  # noqa: F401
    except ImportError:
        return False
    return True
