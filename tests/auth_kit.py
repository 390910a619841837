"""What the authentication tests share: DKIM keys made in the test, a fresh domain per test
in the tests' DNS server, and checks that ask only that server."""

from __future__ import annotations

import base64
import functools
import uuid

import attrs
import dkim
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dispatch_server.config import Settings
from dispatch_server.mail.auth import InboundAuth
from tests.dns_server import shared_dns
from tests.helpers import make_mail


@attrs.frozen
class KeyPair:
    private_pem: bytes  # for ed25519: the base64 seed, as dkimpy takes it
    public_b64: str
    kind: str = "rsa"

    @property
    def record(self) -> str:
        return f"v=DKIM1; k={self.kind}; p={self.public_b64}"


@functools.cache
def key_pair(bits: int = 2048) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, base64.b64encode(public).decode())


@functools.cache
def ed25519_key_pair() -> KeyPair:
    """An ed25519 key (RFC 8463): the record's p= is the raw 32-byte public key."""
    key = nacl.signing.SigningKey.generate()
    return KeyPair(
        base64.b64encode(bytes(key)),
        base64.b64encode(bytes(key.verify_key)).decode(),
        kind="ed25519",
    )


def fresh_domain(label: str = "sender") -> str:
    """A domain no other test uses (so no cache or record of another test is in the way)."""
    return f"{label}-{uuid.uuid4().hex[:10]}.test"


def checks(**variables: object) -> InboundAuth:
    """Checks with a resolver (and cache) of their own, asking the tests' DNS server."""
    env = {"DISPATCH_DNS_SERVER": shared_dns().address}
    env.update({name: str(value) for name, value in variables.items()})
    return InboundAuth(Settings.from_env(env).inbound_auth)


def sign(
    raw: bytes,
    domain: str,
    *,
    selector: str = "sel",
    key: KeyPair | None = None,
    length: bool = False,
    algorithm: bytes = b"rsa-sha256",
) -> bytes:
    """`raw` with a DKIM-Signature of `domain` on top."""
    pair = key or key_pair()
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        pair.private_pem,
        length=length,
        signature_algorithm=algorithm,
    )
    return bytes(signature) + raw


def publish_key(domain: str, selector: str = "sel", key: KeyPair | None = None) -> None:
    shared_dns().add_txt(f"{selector}._domainkey.{domain}", (key or key_pair()).record)


def mail_from(domain: str, *, text: str = "Your code is 482913", **headers: str) -> bytes:
    return make_mail(
        "bot@dispatch.test",
        sender=f"Sender <hello@{domain}>",
        subject="Your code",
        text=text,
        headers=headers or None,
    )
