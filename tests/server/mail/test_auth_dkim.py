"""DKIM through a real DNS server: valid, tampered and hostile signatures, and keys that are
missing, revoked, broken or behind a DNS server that does not answer."""

from __future__ import annotations

import base64
import re
import time

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from dispatch_server.mail.auth.dkim import MAX_SIGNATURE_FIELD, check_dkim
from dispatch_server.mail.auth.resolver import Deadline
from dispatch_server.mail.verdicts import Check
from tests.auth_kit import (
    checks,
    ed25519_key_pair,
    fresh_domain,
    key_pair,
    mail_from,
    publish_key,
    sign,
)
from tests.dkimpy_reference import reference_check_dkim
from tests.dns_server import shared_dns


def dkim_of(raw: bytes, *, max_signatures: int = 5, **variables: object) -> Check:
    auth = checks(**variables)
    deadline = Deadline(auth.settings.timeout_seconds)
    return check_dkim(auth.resolver, deadline, raw, max_signatures=max_signatures)


def test_a_valid_signature_passes_with_its_domain() -> None:
    domain = fresh_domain()
    publish_key(domain)
    result = dkim_of(sign(mail_from(domain), domain))
    assert (result.result, result.domain) == ("pass", domain)
    assert result.extra["signatures"][0]["selector"] == "sel"


def test_ed25519_signatures_are_verified() -> None:
    """RFC 8463, by OpenSSL's Ed25519: valid, tampered, and made with another key."""
    domain = fresh_domain()
    publish_key(domain, key=ed25519_key_pair())
    signed = sign(mail_from(domain), domain, key=ed25519_key_pair(), algorithm=b"ed25519-sha256")
    assert b"a=ed25519-sha256" in signed
    result = dkim_of(signed)
    assert (result.result, result.domain) == ("pass", domain), result.why
    tampered = signed.replace(b"Subject: Your code", b"Subject: Urgent")
    assert dkim_of(tampered).result == "fail"
    other = fresh_domain()
    publish_key(other, key=ed25519_key_pair())
    rsa_signed = sign(mail_from(other), other, algorithm=b"rsa-sha256")  # the record is ed25519
    assert dkim_of(rsa_signed).result == "permerror"


def test_unsigned_mail_is_none_without_a_lookup() -> None:
    domain = fresh_domain()
    assert dkim_of(mail_from(domain)).result == "none"
    assert shared_dns().lookups_of(domain) == []


def test_a_changed_body_fails_on_its_hash() -> None:
    domain = fresh_domain()
    publish_key(domain)
    signed = sign(mail_from(domain), domain).replace(b"482913", b"000000")
    result = dkim_of(signed)
    assert result.result == "fail"
    assert result.why is not None and "body hash mismatch" in result.why


def test_a_changed_signed_header_fails() -> None:
    domain = fresh_domain()
    publish_key(domain)
    signed = sign(mail_from(domain), domain).replace(b"Subject: Your code", b"Subject: Urgent")
    result = dkim_of(signed)
    assert result.result == "fail"
    assert result.why == f"the signature of {domain} does not verify"


def test_a_signature_made_with_another_key_fails() -> None:
    domain = fresh_domain()
    publish_key(domain)
    result = dkim_of(sign(mail_from(domain), domain, key=key_pair(1024)))
    assert result.result == "fail"


@pytest.mark.parametrize(
    "field",
    [
        b"v=1; a=rsa-sha256; d=x.test; s=sel; b=; bh=; h=",  # tags present, values invalid
        b"this is not a tag list at all",
        b"v=1; a=rsa-sha256; d=x.test; d=y.test; s=sel; h=from; bh=AAAA; b=AAAA",  # twice d=
        b"v=1; a=rsa-sha256; s=sel; h=from; bh=AAAA; b=AAAA",  # no d=
        b"v=1; a=rsa-md5; d=x.test; s=sel; h=from; bh=AAAA; b=AAAA",  # unknown algorithm
        b"v=1; a=rsa-sha256; d=x.test; i=@evil.test; s=sel; h=from; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=x.test; s=sel; h=from; l=-5; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=x.test; s=sel; h=from; x=1000; bh=AAAA; b=AAAA",  # expired
        b"v=2; a=rsa-sha256; d=x.test; s=sel; h=from; bh=AAAA; b=AAAA",
        b"\xff\xfe; v=1",
    ],
)
def test_malformed_signature_fields_are_permerror_without_a_lookup(field: bytes) -> None:
    before = len(shared_dns().queries)
    result = dkim_of(b"DKIM-Signature: " + field + b"\r\n" + mail_from(fresh_domain()))
    assert result.result == "permerror", result
    assert len(shared_dns().queries) == before


def test_a_huge_signature_field_is_refused_unparsed() -> None:
    domain = fresh_domain()
    huge = b"v=1; a=rsa-sha256; d=" + domain.encode() + b"; s=sel; h=" + b"from:" * 4000
    raw = b"DKIM-Signature: " + huge + b"from; bh=AAAA; b=AAAA\r\n" + mail_from(domain)
    started = time.perf_counter()
    result = dkim_of(raw)
    assert result.result == "permerror"
    assert f"over {MAX_SIGNATURE_FIELD} bytes" in (result.why or "")
    assert time.perf_counter() - started < 1
    assert shared_dns().lookups_of(domain) == []


def test_only_the_first_signatures_are_checked() -> None:
    domain = fresh_domain()
    publish_key(domain)
    raw = mail_from(domain)
    signed = raw
    for index in range(20):  # 20 signatures of 20 selectors, none of them published
        signed = sign(signed, domain, selector=f"s{index}")
    result = dkim_of(signed, max_signatures=3)
    assert result.result == "permerror"  # no key for any of them
    assert len(result.extra["signatures"]) == 3
    assert result.extra["unchecked"] == 17
    assert len([q for q in shared_dns().lookups_of(domain) if "_domainkey" in q[0]]) == 3


def test_one_good_signature_among_bad_ones_passes() -> None:
    domain, other = fresh_domain(), fresh_domain("other")
    publish_key(domain)
    signed = sign(sign(mail_from(domain), domain), other)  # other's key is not published
    result = dkim_of(signed)
    assert (result.result, result.domain) == ("pass", domain)
    assert [s["result"] for s in result.extra["signatures"]] == ["permerror", "pass"]


def test_l_covering_the_whole_body_passes_and_a_longer_body_is_policy() -> None:
    domain = fresh_domain()
    publish_key(domain)
    signed = sign(mail_from(domain), domain, length=True)
    assert dkim_of(signed).result == "pass"
    appended = signed + b"\r\nClick https://evil.test/login to keep your account.\r\n"
    result = dkim_of(appended)
    assert result.result == "policy"
    assert "unsigned" in (result.why or "")


def test_a_missing_key_is_permerror() -> None:
    domain = fresh_domain()
    result = dkim_of(sign(mail_from(domain), domain))
    assert result.result == "permerror"
    assert result.why == f"no key at sel._domainkey.{domain}"


def test_a_revoked_key_is_permerror() -> None:
    domain = fresh_domain()
    shared_dns().add_txt(f"sel._domainkey.{domain}", "v=DKIM1; k=rsa; p=")
    result = dkim_of(sign(mail_from(domain), domain))
    assert result.result == "permerror"
    assert "revoked" in (result.why or "")


@pytest.mark.parametrize(
    "record",
    ["v=DKIM1; k=rsa; p=bm90IGEga2V5", "v=DKIM1; k=dsa; p=AAAA", "garbage without tags"],
)
def test_an_unusable_key_is_permerror(record: str) -> None:
    domain = fresh_domain()
    shared_dns().add_txt(f"sel._domainkey.{domain}", record)
    assert dkim_of(sign(mail_from(domain), domain)).result == "permerror"


def test_a_key_lookup_that_times_out_is_temperror_within_the_timeout() -> None:
    domain = fresh_domain()
    shared_dns().time_out(f"sel._domainkey.{domain}")
    started = time.perf_counter()
    result = dkim_of(sign(mail_from(domain), domain), DISPATCH_DNS_TIMEOUT_SECONDS=0.3)
    assert result.result == "temperror"
    assert time.perf_counter() - started < 1.5


def test_a_key_lookup_answered_servfail_is_temperror() -> None:
    domain = fresh_domain()
    shared_dns().fail(f"sel._domainkey.{domain}")
    result = dkim_of(sign(mail_from(domain), domain))
    assert result.result == "temperror"
    assert "SERVFAIL" in (result.why or "")


def test_rsa_sha1_is_not_accepted() -> None:
    domain = fresh_domain()
    publish_key(domain)
    result = dkim_of(sign(mail_from(domain), domain, algorithm=b"rsa-sha1"))
    assert result.result == "permerror"
    assert "RFC 8301" in (result.why or "")


def test_a_key_too_small_is_permerror(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 8301's floor is 1024 bits, the smallest key `cryptography` makes: raise the floor.
    monkeypatch.setattr("dispatch_server.mail.auth.dkim.MIN_KEY_BITS", 2048)
    domain = fresh_domain()
    small = key_pair(1024)
    publish_key(domain, key=small)
    result = dkim_of(sign(mail_from(domain), domain, key=small))
    assert result.result == "permerror"
    assert "too small" in (result.why or "")


def test_a_message_dkimpy_cannot_read_is_permerror() -> None:
    raw = b" folded line first\r\nDKIM-Signature: v=1\r\n\r\nbody\r\n"
    assert dkim_of(raw).result == "permerror"


def test_the_whole_check_stays_within_the_budget() -> None:
    domain = fresh_domain()
    signed = mail_from(domain)
    for index in range(5):
        shared_dns().time_out(f"s{index}._domainkey.{domain}")
        signed = sign(signed, domain, selector=f"s{index}")
    started = time.perf_counter()
    result = dkim_of(signed, DISPATCH_DNS_TIMEOUT_SECONDS=0.4, DISPATCH_AUTH_TIMEOUT_SECONDS=0.6)
    elapsed = time.perf_counter() - started
    assert result.result == "temperror"
    assert elapsed < 1.5, elapsed
    assert any("used up" in s["why"] for s in result.extra["signatures"])


def test_the_signatures_made_here_are_ordinary_ones() -> None:
    """dkimpy's own verify agrees with the signatures these tests make."""
    domain = fresh_domain()
    publish_key(domain)
    signed = sign(mail_from(domain), domain)
    record = f"v=DKIM1; k=rsa; p={key_pair().public_b64}".encode()
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    assert re.match(rb"DKIM-Signature: v=1; a=rsa-sha256;", signed)


def _variants(signed: bytes) -> dict[str, bytes]:
    """A signed message and the ways a signature can be wrong in its bytes."""
    found = re.search(rb"\bb=([A-Za-z0-9+/=\s]+?)(?:;|\r\n(?![ \t]))", signed)
    assert found is not None
    value = base64.b64decode(re.sub(rb"\s+", b"", found[1]))

    def with_signature(signature: bytes) -> bytes:
        start, end = found.span(1)
        return signed[:start] + base64.b64encode(signature) + signed[end:]

    flipped = bytes([value[0] ^ 1]) + value[1:]
    return {
        "valid": signed,
        "header changed": signed.replace(b"Subject: Your code", b"Subject: Urgent"),
        "a bit flipped": with_signature(flipped),
        "a byte short": with_signature(value[1:]),
        "a byte long": with_signature(b"\x00" + value),
        "a zero byte prepended to a short one": with_signature(b"\x00" + value[1:]),
        "empty": with_signature(b""),
        "all ones": with_signature(b"\xff" * len(value)),
    }


@pytest.mark.parametrize("bits", [1024, 2048, 4096])
@pytest.mark.parametrize("algorithm", [b"rsa-sha256", b"rsa-sha1"])
def test_rsa_is_verified_exactly_as_dkimpy_verified_it(bits: int, algorithm: bytes) -> None:
    """On valid, tampered, truncated and padded signatures, with SubjectPublicKeyInfo and
    bare RSAPublicKey records, the verdict and its why are those of the dkimpy check."""
    pair = key_pair(bits)
    spki = base64.b64decode(pair.public_b64)
    bare = load_der_public_key(spki).public_bytes(Encoding.DER, PublicFormat.PKCS1)
    records = {"spki": pair.record, "bare": f"v=DKIM1; k=rsa; p={base64.b64encode(bare).decode()}"}
    auth = checks()
    for kind, record in records.items():
        domain = fresh_domain(kind)
        shared_dns().add_txt(f"sel._domainkey.{domain}", record)
        signed = sign(mail_from(domain), domain, key=pair, algorithm=algorithm)
        for name, raw in _variants(signed).items():
            ours = check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)
            theirs = reference_check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)
            assert (ours.result, ours.why) == (theirs.result, theirs.why), (kind, name)
            if algorithm == b"rsa-sha256" and name == "valid":
                assert ours.result == "pass"


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30\x03\x02\x01\x01", b"not der at all", b"\x30" + b"\xff" * 40],
    ids=["empty", "tiny", "text", "long"],
)
def test_a_key_openssl_cannot_read_is_refused_as_dkimpy_refused_it(der: bytes) -> None:
    domain = fresh_domain()
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    shared_dns().add_txt(f"sel._domainkey.{domain}", record)
    raw, auth = sign(mail_from(domain), domain), checks()
    ours = check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)
    theirs = reference_check_dkim(auth.resolver, Deadline(5), raw, max_signatures=5)
    assert (ours.result, ours.why) == (theirs.result, theirs.why)
