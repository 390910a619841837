"""OpenSSL's RSA (through `cryptography`) for dkimpy's two RSA steps.

dkimpy does RSA in pure Python: it parses each key's ASN.1 byte by byte, and turns the
2048-bit numbers of a verification into bytes one byte at a time. On a 4 KB signed message
that cost more than everything else DKIM does (about 1.5 of 2.2 ms under a profiler here:
`int2str`, `asn1_parse`, `pow`). `install` replaces the two names dkimpy's verifier calls,
`dkim.parse_public_key` and `dkim.RSASSA_PKCS1_v1_5_verify`, with the same computation by
OpenSSL: RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.2) over the digest dkimpy hashed, with a key
parsed once per record. Everything else (canonicalization, the body hash, which headers are
signed, key sizes, ed25519) stays dkimpy's. A key OpenSSL cannot read goes to dkimpy's own
parser, so what it refuses and how stays dkimpy's; tests compare both on valid, tampered,
truncated and padded signatures.
"""

from __future__ import annotations

import functools
from typing import Any

import dkim
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.serialization import load_der_public_key
from dkim import crypto as dkimpy_crypto

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


class RsaPublicKey(dict[str, int]):
    """dkimpy's key (a dict of `modulus` and `publicExponent`, which it reads for the key
    size), with OpenSSL's key beside it."""

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        numbers = key.public_numbers()
        super().__init__(modulus=numbers.n, publicExponent=numbers.e)
        self.key = key
        self.size_bytes = (key.key_size + 7) // 8


@functools.lru_cache(maxsize=512)
def parse_public_key(data: bytes) -> dict[str, int]:
    """The key of a DKIM record's `p=` (DER: SubjectPublicKeyInfo, or a bare RSAPublicKey)."""
    try:
        key = load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        found: dict[str, int] = dkimpy_crypto.parse_public_key(data)  # raises as dkimpy does
        return found
    return RsaPublicKey(key)


def rsassa_pkcs1_v1_5_verify(hash: Any, signature: bytes, public_key: dict[str, int]) -> bool:
    """Whether `signature` signs the digest of `hash` (a hashlib-like object, as dkimpy
    passes it) under `public_key`."""
    algorithm = _HASHES.get(str(hash.name).lower())
    if not isinstance(public_key, RsaPublicKey) or algorithm is None:
        verified: bool = dkimpy_crypto.RSASSA_PKCS1_v1_5_verify(hash, signature, public_key)
        return verified
    # dkimpy reads the signature as a number: leading zero octets may be missing or extra.
    number = signature.lstrip(b"\x00")
    if len(number) > public_key.size_bytes:
        return False
    padded = number.rjust(public_key.size_bytes, b"\x00")
    try:
        public_key.key.verify(
            padded, hash.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm())
        )
    except InvalidSignature:
        return False
    return True


def install() -> None:
    """Make dkimpy's verifier use these (idempotent)."""
    dkim.parse_public_key = parse_public_key
    dkim.RSASSA_PKCS1_v1_5_verify = rsassa_pkcs1_v1_5_verify
