"""The server's own DKIM verifier (dkim_verify) held to dkimpy's answer: a few hundred messages
made with a seeded random, signed by dkimpy (RSA-2048 and ed25519; relaxed and simple; with
and without l=; over-signed; one to four signatures), then tampered with, each checked by
`check_dkim` and by the check as it was made with dkimpy (tests/dkimpy_reference.py), whose
result, why and signatures must be the same. Keys are served by the tests' DNS server, under
records good, revoked, broken, too small or missing."""

from __future__ import annotations

import base64
import collections
import functools
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import dkim
import dkim.util
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dkim.canonicalization import CanonicalizationPolicy, Relaxed, Simple

from dispatch_server.mail.auth import InboundAuth, dkim_verify
from dispatch_server.mail.auth.dkim import check_dkim
from dispatch_server.mail.auth.resolver import Deadline
from dispatch_server.mail.verdicts import Check
from tests import dkimpy_reference
from tests.auth_kit import KeyPair, checks, ed25519_key_pair, fresh_domain, key_pair
from tests.dns_server import shared_dns

SEED = 6376
CASES = 800
MAX_SIGNATURES = 3


@attrs.frozen
class Sender:
    """A signing domain: the key it signs with and the record its selector publishes."""

    domain: str
    key: KeyPair
    algorithm: bytes


def _records() -> dict[str, tuple[KeyPair, bytes, str | None]]:
    """Per kind of sender: the key it signs with, its algorithm, the record it publishes."""
    rsa_key, small, ed, other = key_pair(), key_pair(1024), ed25519_key_pair(), key_pair(1536)
    der = base64.b64decode(rsa_key.public_b64)
    loaded = serialization.load_der_public_key(der)
    bare = base64.b64encode(loaded.public_bytes(Encoding.DER, PublicFormat.PKCS1)).decode()
    spaced = " ".join(rsa_key.public_b64[i : i + 64] for i in range(0, 400, 64))
    spaced += rsa_key.public_b64[400:]
    short_ed = base64.b64encode(base64.b64decode(ed.public_b64)[:31]).decode()
    rsa256, ed256 = b"rsa-sha256", b"ed25519-sha256"
    return {
        "rsa": (rsa_key, rsa256, rsa_key.record),
        "rsa-no-version": (rsa_key, rsa256, f"p={rsa_key.public_b64}"),
        "rsa-bare": (rsa_key, rsa256, f"v=DKIM1; k=rsa; p={bare}"),
        "rsa-spaced-p": (rsa_key, rsa256, f"v=DKIM1; k=rsa; p={spaced}"),
        "rsa-sha1": (rsa_key, b"rsa-sha1", rsa_key.record),
        "ed25519": (ed, ed256, ed.record),
        "too-small": (small, rsa256, small.record),
        "other-key": (rsa_key, rsa256, other.record),
        "ed-record-rsa-signed": (rsa_key, rsa256, ed.record),
        "rsa-record-ed-signed": (ed, ed256, rsa_key.record),
        "revoked": (rsa_key, rsa256, "v=DKIM1; k=rsa; p="),
        "bad-version": (rsa_key, rsa256, f"v=DKIM2; k=rsa; p={rsa_key.public_b64}"),
        "unknown-k": (rsa_key, rsa256, "v=DKIM1; k=dsa; p=AAAA"),
        "not-a-key": (rsa_key, rsa256, "v=DKIM1; k=rsa; p=bm90IGEga2V5"),
        "bad-base64": (rsa_key, rsa256, "v=DKIM1; k=rsa; p=AAAAA"),
        "ed-short": (ed, ed256, f"v=DKIM1; k=ed25519; p={short_ed}"),
        "service-other": (rsa_key, rsa256, f"v=DKIM1; s=foo; p={rsa_key.public_b64}"),
        "service-email": (rsa_key, rsa256, f"v=DKIM1; s=email; p={rsa_key.public_b64}"),
        "service-tlsrpt": (rsa_key, rsa256, f"v=DKIM1; s=tlsrpt; p={rsa_key.public_b64}"),
        "garbage": (rsa_key, rsa256, "garbage without tags"),
        "twice-p": (rsa_key, rsa256, f"v=DKIM1; p=AAAA; p={rsa_key.public_b64}"),
        "missing": (rsa_key, rsa256, None),
    }


# Kinds drawn more often: the ones signatures can pass with, where tampering shows.
WEIGHTS = {"rsa": 12, "ed25519": 8, "rsa-bare": 2, "rsa-spaced-p": 2, "too-small": 2}


@pytest.fixture(scope="module")
def senders() -> dict[str, Sender]:
    found = {}
    for kind, (key, algorithm, record) in _records().items():
        domain = fresh_domain(kind)
        if record is not None:
            shared_dns().add_txt(f"sel._domainkey.{domain}", record)
        found[kind] = Sender(domain, key, algorithm)
    return found


@pytest.fixture
def fast_rsa_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    """dkimpy signs with OpenSSL's RSA here (its own takes 20 ms a signature); what verifies
    is untouched."""

    @functools.cache
    def private_key(pem: bytes) -> dict[str, object]:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return {"modulus": key.public_key().public_numbers().n, "key": key}

    def sign(hash: Any, private_key: dict[str, object]) -> bytes:
        key = private_key["key"]
        assert isinstance(key, rsa.RSAPrivateKey)
        algorithm = hashes.SHA256() if hash.name == "sha256" else hashes.SHA1()
        digest: bytes = hash.digest()
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))

    monkeypatch.setattr(dkim, "parse_pem_private_key", private_key)
    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", sign)


# --- messages ---------------------------------------------------------------------------------

BODY_LINES = [
    b"Your code is 482913.",
    b"It expires in 10 minutes.   ",
    b"\tIndented with a tab\t and  double  spaces",
    b"",
    b"caf\xc3\xa9 cr\xc3\xa8me, 8-bit bytes \xff\xfe",
    b"A long line " + b"word " * 30,
    b" ",
    b"--",
    b"From the team",
    b".",
]


def message(rng: random.Random, domain: str) -> bytes:
    subject = rng.choice([b"Your code", b"Your  code\t is here", b"caf\xc3\xa9 \xe2\x82\xac"])
    headers = [
        b"From: Sender <hello@" + domain.encode() + b">",
        b"To: bot@dispatch.test",
        b"Subject: " + subject,
        b"Date: Tue, 01 Dec 2026 10:00:00 +0000",
        b"Message-ID: <" + str(rng.randrange(10**9)).encode() + b"@" + domain.encode() + b">",
        b"MIME-Version: 1.0",
        b'Content-Type: text/plain; charset="utf-8"',
    ]
    extras = [
        b"X-Tag: one",
        b"X-Tag: two",
        b"Cc: Someone <someone@dispatch.test>,\r\n\tOther <other@dispatch.test>",
        b"Reply-To:   spaced@dispatch.test   ",
        b"X-Folded: a value\r\n  folded\r\n\tthree times\r\n too",
        b"Received: from relay.test by mx.test;\r\n\tTue, 01 Dec 2026 10:00:00 +0000",
        b"x-lower: lower-case name",
    ]
    for extra in rng.sample(extras, rng.randrange(len(extras) + 1)):
        headers.insert(rng.randrange(len(headers) + 1), extra)
    body = [rng.choice(BODY_LINES) for _ in range(rng.randrange(0, 12))]
    ending = rng.choice([b"\r\n", b"\r\n\r\n\r\n", b"", b" \r\n", b"\r\n \r\n"])
    return b"\r\n".join(headers) + b"\r\n\r\n" + b"\r\n".join(body) + ending


SIGNED_SETS = [
    None,  # dkimpy's default: the RFC's list present, From over-signed
    [b"from", b"to", b"subject", b"date", b"message-id"],
    [b"from", b"subject", b"x-tag", b"x-tag", b"x-tag", b"cc", b"reply-to"],  # over-signed
    [b"From", b"Subject", b"X-Folded", b"x-lower", b"content-type", b"mime-version"],
    [b"from", b"from", b"from", b"to", b"to"],
]
CANONICALIZATIONS = [
    (b"relaxed", b"relaxed"),
    (b"simple", b"simple"),
    (b"relaxed", b"simple"),
    (b"simple", b"relaxed"),
]


def signed(rng: random.Random, raw: bytes, sender: Sender) -> bytes:
    include = rng.choice(SIGNED_SETS)
    signature = dkim.sign(
        raw,
        b"sel",
        sender.domain.encode(),
        sender.key.private_pem,
        canonicalize=rng.choice(CANONICALIZATIONS),
        include_headers=include,
        length=rng.random() < 0.4,
        signature_algorithm=sender.algorithm,
        identity=rng.choice([None, b"user@" + sender.domain.encode()]),
    )
    return bytes(signature) + raw


# --- tampering --------------------------------------------------------------------------------

Mutation = Callable[[random.Random, bytes], bytes]
_FIELD = re.compile(rb"(?:\A|(?<=\n))DKIM-Signature:(.*?\r\n)(?![ \t])", re.DOTALL)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def _top_tags(raw: bytes, change: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """`raw` with the tags of its top DKIM-Signature changed."""
    found = _FIELD.search(raw)
    if found is None:
        return raw
    parts = change(found[1][:-2].split(b";"))
    return (
        raw[: found.start()] + b"DKIM-Signature:" + b";".join(parts) + b"\r\n" + raw[found.end() :]
    )


def _tag_index(parts: list[bytes], tag: bytes) -> int | None:
    for index, part in enumerate(parts):
        if part.strip().split(b"=", 1)[0].strip() == tag:
            return index
    return None


def _set_tag(tag: bytes, value: bytes) -> Callable[[list[bytes]], list[bytes]]:
    def change(parts: list[bytes]) -> list[bytes]:
        index = _tag_index(parts, tag)
        if index is None:
            return [*parts[:1], b" " + tag + b"=" + value, *parts[1:]]
        return [*parts[:index], b" " + tag + b"=" + value, *parts[index + 1 :]]

    return change


def _tag_value(raw: bytes, tag: bytes) -> bytes:
    found = _FIELD.search(raw)
    if found is None:
        return b""
    parts = found[1][:-2].split(b";")
    index = _tag_index(parts, tag)
    return b"" if index is None else parts[index].split(b"=", 1)[1]


def drop_tag(rng: random.Random, raw: bytes) -> bytes:
    tag = rng.choice([b"v", b"a", b"b", b"bh", b"d", b"h", b"s", b"c", b"t", b"i", b"q", b"l"])
    return _top_tags(
        raw, lambda parts: [p for i, p in enumerate(parts) if i != _tag_index(parts, tag)]
    )


def duplicate_tag(rng: random.Random, raw: bytes) -> bytes:
    def change(parts: list[bytes]) -> list[bytes]:
        return [*parts, rng.choice([p for p in parts if b"=" in p])]

    return _top_tags(raw, change)


def truncate_b(rng: random.Random, raw: bytes) -> bytes:
    value = re.sub(rb"\s+", b"", _tag_value(raw, b"b"))
    return _top_tags(raw, _set_tag(b"b", value[: -rng.choice([1, 2, 3, 4, 8, len(value)])]))


def whitespace_in_b(rng: random.Random, raw: bytes) -> bytes:
    value = bytearray(re.sub(rb"\s+", b"", _tag_value(raw, b"b")))
    for _ in range(rng.randrange(1, 5)):
        value[rng.randrange(len(value)) : 0] = rng.choice([b" ", b"\r\n\t", b"\r\n  ", b"\t"])
    return _top_tags(raw, _set_tag(b"b", bytes(value)))


def flip_bh(rng: random.Random, raw: bytes) -> bytes:
    value = re.sub(rb"\s+", b"", _tag_value(raw, b"bh"))
    wrong = bytes([value[0] ^ 1]) + value[1:] if value[:1] != b"A" else b"B" + value[1:]
    return _top_tags(raw, _set_tag(b"bh", rng.choice([wrong, value[:-1] + b"*", value[4:]])))


def tag_values(rng: random.Random, raw: bytes) -> bytes:
    domain = _tag_value(raw, b"d").strip()
    tag, value = rng.choice(
        [
            (b"x", b"1000"),  # expired
            (b"x", b"99999999999"),  # far away: fine
            (b"x", b"12a"),
            (b"t", b"99999999999"),  # in the future
            (b"t", b"now"),
            (b"i", b"@evil.test"),
            (b"i", domain),  # i= exactly d=
            (b"i", b"user@sub." + domain),
            (b"a", b"rsa-sha512"),
            (b"a", b"ed448-sha256"),
            (b"a", b"rsa-sha1"),
            (b"v", b"2"),
            (b"c", b"relaxed/fancy"),
            (b"c", b"relaxed/simple/relaxed"),
            (b"c", b"simple"),
            (b"c", b"relaxed"),
            (b"l", b""),
            (b"l", b"0"),
            (b"l", b"9999999"),
            (b"l", b"-5"),
            (b"q", b"dns"),
            (b"d", b"evil(test)"),
            (b"d", domain.upper()),
            (b"s", b"SEL"),
            (b"h", b"to:subject"),  # without From
            (b"h", b"from : to :\r\n subject"),
            (b"cv", b"maybe"),
            (b"z", b"From:x"),
        ]
    )
    return _top_tags(raw, _set_tag(tag, value))


def change_body(rng: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    if not body.strip():
        return head + b"a new body\r\n"
    at = rng.randrange(len(body))
    return head + body[:at] + rng.choice([b"X", b"", b"  ", b"\t", b"\r\n"]) + body[at + 1 :]


def append_body(rng: random.Random, raw: bytes) -> bytes:
    return raw + rng.choice([b"Click https://evil.test/\r\n", b"\r\n\r\n", b"  \r\n", b"x"])


def trailing_lines(rng: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    return head + body.rstrip(b"\r\n") + rng.choice([b"", b"\r\n", b"\r\n" * 5, b"\r\n \r\n"])


def bare_lf(rng: random.Random, raw: bytes) -> bytes:
    if rng.random() < 0.5:
        return raw.replace(b"\r\n", b"\n")
    head, body = _split(raw)
    return (head.replace(b"\r\n", b"\n") if rng.random() < 0.5 else head) + body.replace(
        b"\r\n", b"\n"
    )


def eight_bit(rng: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    if rng.random() < 0.5:
        return head.replace(b"Subject: ", b"Subject: \xe9\xff ", 1) + body
    return head + b"\xc3\xa9\x80" + body


def _signed_header(raw: bytes) -> bytes:
    for name in (b"Subject: ", b"To: ", b"Message-ID: ", b"Date: "):
        if b"\r\n" + name in raw:
            return name
    return b"From: "


def change_header(rng: random.Random, raw: bytes) -> bytes:
    name = _signed_header(raw)
    return raw.replace(b"\r\n" + name, b"\r\n" + name + rng.choice([b"Re: ", b"x", b""]), 1)


def add_header(rng: random.Random, raw: bytes) -> bytes:
    line = rng.choice(
        [b"From: Evil <evil@evil.test>", b"Subject: Urgent", b"X-Tag: three", b"Cc: more@x.test"]
    )
    head, body = _split(raw)
    if rng.random() < 0.5:
        return head[:-2] + line + b"\r\n\r\n" + body
    return line + b"\r\n" + raw


def remove_header(rng: random.Random, raw: bytes) -> bytes:
    name = rng.choice([b"Subject", b"To", b"X-Tag", b"Cc", b"Message-ID"])
    return re.sub(rb"\r\n" + name + rb":.*?\r\n(?![ \t])", b"\r\n", raw, count=1, flags=re.S)


def refold_header(rng: random.Random, raw: bytes) -> bytes:
    name = _signed_header(raw)
    start = raw.find(b"\r\n" + name) + 2 + len(name)
    space = raw.find(b" ", start, raw.find(b"\r\n", start))
    if space < 0:
        return raw[:start] + b"\r\n " + raw[start:]
    return raw[:space] + rng.choice([b"\r\n ", b"\r\n\t", b"\r\n  "]) + raw[space + 1 :]


def header_whitespace(rng: random.Random, raw: bytes) -> bytes:
    name = _signed_header(raw)
    spaced = name[:-1] + rng.choice([b"   ", b"\t", b" \t ", b""])
    tail = rng.choice([b"", b"  ", b"\t"])
    start = raw.find(b"\r\n" + name)
    end = raw.find(b"\r\n", start + 2)
    return raw[:start] + b"\r\n" + spaced + raw[start + 2 + len(name) : end] + tail + raw[end:]


def header_case(rng: random.Random, raw: bytes) -> bytes:
    name = _signed_header(raw)
    new = rng.choice([name.upper(), name.lower(), name.swapcase()])
    if rng.random() < 0.3:
        return raw.replace(b"DKIM-Signature:", b"dkim-signature:", 1)
    return raw.replace(b"\r\n" + name, b"\r\n" + new, 1)


def broken_structure(rng: random.Random, raw: bytes) -> bytes:
    return rng.choice(
        [
            b"From mbox-line Tue Dec  1 10:00:00 2026\r\n" + raw,
            b" a leading continuation\r\n" + raw,
            raw.replace(b"\r\nTo:", b"\r\nnot a header line\r\nTo:", 1),
            raw.replace(b"\r\nTo:", b"\r\nSpaced Name: x\r\nTo:", 1),
            _split(raw)[0][:-2],  # no body at all
            raw.replace(b"\r\n\r\n", b"\r\n\r\r\n", 1),
            raw.replace(b"DKIM-Signature:", b"X-DKIM-Signature:"),  # none left
        ]
    )


MUTATIONS: dict[str, Mutation] = {
    "none": lambda rng, raw: raw,
    "body changed": change_body,
    "body appended": append_body,
    "body appended, again": append_body,  # twice as often: l= makes it policy
    "trailing empty lines": trailing_lines,
    "bare LF": bare_lf,
    "8-bit bytes": eight_bit,
    "header changed": change_header,
    "header added": add_header,
    "header removed": remove_header,
    "header re-folded": refold_header,
    "header whitespace": header_whitespace,
    "header name case": header_case,
    "tag dropped": drop_tag,
    "tag duplicated": duplicate_tag,
    "b= truncated": truncate_b,
    "b= with whitespace": whitespace_in_b,
    "bh= changed": flip_bh,
    "tag value": tag_values,
    "structure": broken_structure,
}


@attrs.frozen
class Case:
    kinds: tuple[str, ...]
    mutations: tuple[str, ...]
    raw: bytes


def cases(senders: dict[str, Sender]) -> Iterator[Case]:
    rng = random.Random(SEED)
    kinds = list(senders)
    weights = [WEIGHTS.get(kind, 1) for kind in kinds]
    for number in range(CASES):
        count = rng.choice([1, 1, 1, 2, 2, 4])
        chosen = tuple(rng.choices(kinds, weights)[0] for _ in range(count))
        raw = message(rng, senders[chosen[0]].domain)
        for kind in chosen:
            raw = signed(rng, raw, senders[kind])
        # every mutation in turn, now and then two at once (those that break lines last)
        names = [list(MUTATIONS)[number % len(MUTATIONS)]]
        if rng.random() < 0.15:
            names.append(rng.choice(list(MUTATIONS)))
        for name in sorted(names, key=lambda name: name in ("bare LF", "structure")):
            raw = MUTATIONS[name](rng, raw)
        yield Case(chosen, tuple(names), raw)


def _kind_of(why: str | None) -> str:
    """A why without its domains, numbers and tag values."""
    why = re.sub(r"[\w.-]+\.test\b", "D", why or "")
    return re.sub(r"b'[^']*'|\d+", "X", why)


def _answer(check: Check) -> tuple[object, ...]:
    return (check.result, check.why, check.domain, dict(check.extra))


def test_the_lean_verifier_answers_as_dkimpy(
    senders: dict[str, Sender], fast_rsa_signing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a 1024-bit key is too small for both, the others are not
    monkeypatch.setattr("dispatch_server.mail.auth.dkim.MIN_KEY_BITS", 1536)
    monkeypatch.setattr(dkimpy_reference, "MIN_KEY_BITS", 1536)
    auth: InboundAuth = checks()
    results: collections.Counter[str] = collections.Counter()
    whys: set[str] = set()
    checked = 0
    for case in cases(senders):
        domain = senders[case.kinds[0]].domain
        theirs = dkimpy_reference.reference_check_dkim(
            auth.resolver,
            Deadline(5),
            case.raw,
            max_signatures=MAX_SIGNATURES,
            from_domains=(domain,),
        )
        ours = check_dkim(
            auth.resolver,
            Deadline(5),
            case.raw,
            max_signatures=MAX_SIGNATURES,
            from_domains=(domain,),
        )
        assert _answer(ours) == _answer(theirs), case
        checked += 1
        results[ours.result] += 1
        whys.add(_kind_of(ours.why))
        for signature in ours.extra.get("signatures", []):
            results["signature " + signature["result"]] += 1
            whys.add(_kind_of(signature["why"]))
    assert checked == CASES
    # the cases reach every class of answer, and many distinct reasons
    for result in ("pass", "fail", "policy", "permerror", "none"):
        assert results[result] >= 3, results
    assert results["signature pass"] >= 100, results
    assert len(whys) >= 30, sorted(whys)


# --- the verifier's parts, each against dkimpy's, on random bytes ------------------------------

TOKENS = [
    b"a",
    b"Subject",
    b"From ",
    b"DKIM-Signature",
    b":",
    b";",
    b"=",
    b"b",
    b"b=",
    b"h=",
    b"A+/9",
    b" ",
    b"  ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n ",
    b"\r\n\t",
    b"\r\n\r\n",
    b"\x0b",
    b"\x0c",
    b"\xc3\xa9",
    b"\xff",
    b"x y",
]


def random_bytes(rng: random.Random, most: int = 30) -> bytes:
    return b"".join(rng.choice(TOKENS) for _ in range(rng.randrange(most)))


def _outcome(function: Callable[[], object]) -> object:
    try:
        return function()
    except Exception as exc:
        return ("raises", str(exc))


def test_the_message_is_split_as_dkimpy_splits_it() -> None:
    rng = random.Random(SEED)
    for _ in range(20_000):
        raw = random_bytes(rng)

        def theirs(raw: bytes = raw) -> object:
            headers, body = dkim.rfc822_parse(raw)
            return [tuple(field) for field in headers], body

        def ours(raw: bytes = raw) -> object:
            message = dkim_verify.parse_message(raw)
            return message.headers, message.body

        assert _outcome(ours) == _outcome(theirs), raw


def test_tag_lists_parse_as_dkimpys() -> None:
    rng = random.Random(SEED)
    for _ in range(20_000):
        tags = random_bytes(rng)
        ours = _outcome(functools.partial(dkim_verify.parse_tags, tags))
        theirs = _outcome(functools.partial(dkim.util.parse_tag_value, tags))
        assert ours == theirs, tags


def test_canonicalization_and_the_signed_data_are_dkimpys() -> None:
    rng = random.Random(SEED)
    for _ in range(5_000):
        body = random_bytes(rng).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        message = dkim_verify.Message([], body)
        for name, algorithm in ((b"relaxed", Relaxed), (b"simple", Simple)):
            assert message.canonical_body(name) == algorithm.canonicalize_body(body), body
        value = random_bytes(rng, 12)
        assert dkim.RE_BTAG.sub(rb"\1", value) == dkim_verify._B_TAG.sub(rb"\1", value), value
    names = [b"From", b"from", b"To", b"Subject", b"X-A", b"x-a", b"DKIM-Signature"]
    for _ in range(5_000):
        fields = [
            (rng.choice(names), random_bytes(rng, 8).replace(b"\n", b"\r\n ") + b"\r\n")
            for _ in range(rng.randrange(1, 8))
        ]
        signature = (b"DKIM-Signature", b" v=1; b=" + random_bytes(rng, 6) + b"; x=1\r\n")
        h = b" : ".join(rng.choice(names).lower() for _ in range(rng.randrange(1, 9)))
        for c in (b"relaxed", b"simple"):
            policy = CanonicalizationPolicy.from_c_value(c + b"/simple")
            collected = Collect()
            include = [name.lower() for name in re.split(rb"\s*:\s*", h)]
            if b"from" in include:
                include.append(b"from")
            canonical = policy.canonicalize_headers([list(field) for field in fields])
            dkim.hash_headers(collected, policy, canonical, include, signature, {})
            ours = dkim_verify.signed_data(dkim_verify.Message(fields, b""), c, signature, h)
            assert ours == b"".join(collected.parts), (fields, h, c)


class Collect:
    """What dkimpy hashes, kept."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        self.parts.append(data)


def test_signature_tags_are_validated_as_dkimpy_validates_them() -> None:
    values = {
        b"v": [b"1", b"2", b""],
        b"a": [b"rsa-sha256", b"ed25519-sha256", b"rsa-sha1", b"rsa-md5", b""],
        b"b": [b"AAAA", b"AAA", b"AA AA", b"A===", b"*AAA", b"", b"AAAA\r\n =="],
        b"bh": [b"AAAA", b"AAA", b"*AAA", b"", b"AA\r\n\tAA"],
        b"d": [b"x.test", b"X.Test", b"ex(ample).test", b"caf\xc3\xa9.test", b""],
        b"h": [b"from", b"to"],
        b"s": [b"sel"],
        b"i": [b"@x.test", b"u@sub.x.test", b"x.test", b"@evil.test", b"u@ax.test", b""],
        b"l": [b"10", b"", b"-1", b"1" * 77, b"x"],
        b"q": [b"dns/txt", b"dns"],
        b"t": [b"1", b"99999999999", b"", b"1a"],
        b"x": [b"1000", b"99999999999", b"0", b"", b"2"],
        b"cv": [b"pass", b"maybe"],
    }
    rng = random.Random(SEED)
    for _ in range(20_000):
        sig = {tag: rng.choice(choices) for tag, choices in values.items() if rng.random() < 0.8}
        ours = _outcome(functools.partial(dkim_verify.validate_signature, sig))
        theirs = _outcome(functools.partial(dkim.validate_signature_fields, sig))
        assert ours == theirs, sig


def test_key_records_are_read_as_dkimpy_reads_them() -> None:
    rsa_der = base64.b64decode(key_pair().public_b64)
    loaded = serialization.load_der_public_key(rsa_der)
    ec = ec_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    keys = [
        key_pair().public_b64.encode(),
        base64.b64encode(loaded.public_bytes(Encoding.DER, PublicFormat.PKCS1)),
        ed25519_key_pair().public_b64.encode(),
        base64.b64encode(ec),
        base64.b64encode(rsa_der[:-5]),
        base64.b64encode(rsa_der[:40]),
        base64.b64encode(b"\x30\x03\x02\x01\x01"),
        base64.b64encode(b"\x30\x06\x30\x04\x06\x00\x05\x01"),  # NULL with a length
        b"bm90IGEga2V5",
        b"AAAAA",
        b"AAA",
        b"",
    ]
    parts = {
        b"v": [b"DKIM1", b"DKIM2", None],
        b"k": [b"rsa", b"ed25519", b"dsa", None],
        b"s": [b"email", b"*", b"tlsrpt", b"foo", None],
        b"h": [b"sha256", None],
        b"t": [b"s", b"y", None],
    }
    rng = random.Random(SEED)
    for _ in range(3_000):
        tags = [(t, rng.choice(v)) for t, v in parts.items()]
        tags.insert(rng.randrange(len(tags) + 1), (b"p", rng.choice([*keys, None])))
        rng.shuffle(tags)
        record = b"; ".join(t + b"=" + v for t, v in tags if v is not None)

        def ours(record: bytes = record) -> object:
            key = dkim_verify.parse_key(record)
            return key.bits if key.kind else None, key.kind, key.tlsrpt

        def theirs(record: bytes = record) -> object:
            _, bits, kind, tlsrpt = dkim.evaluate_pk("key", record)
            return bits, kind, tlsrpt

        assert _outcome(ours) == _outcome(theirs), record


@functools.cache
def ec_key() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def test_runs_of_spaces_take_linear_time(senders: dict[str, Sender]) -> None:
    """dkimpy's regular expressions took 0.2 s for a b= of 8,000 spaces and 0.3 s for a body
    of 16 KB of spaces (quadratic); the same answers come at once here."""
    sender = senders["rsa"]
    raw = message(random.Random(SEED), sender.domain)
    spaces = raw.replace(b"\r\n\r\n", b"\r\n\r\n" + b" " * 16_000 + b"x \r\n", 1)
    signature = dkim.sign(spaces, b"sel", sender.domain.encode(), sender.key.private_pem)
    signed_spaces = bytes(signature) + spaces
    b_spaces = _top_tags(signed_spaces, _set_tag(b"b", b"A" + b" " * 7_000 + b"*"))
    auth = checks()
    for raw, result in ((signed_spaces, "pass"), (b_spaces, "permerror")):
        check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)  # the key, cached
        started = time.process_time()
        found = check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)
        assert time.process_time() - started < 0.02
        assert found.result == result, found
