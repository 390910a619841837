"""DMARC through a real DNS server: alignment (relaxed and strict), policy discovery at the
organizational domain with its subdomain policy, records that are no policy, pct, several
From addresses, and DNS failures; and the three checks together."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import pytest

from dispatch_server.mail.auth.dmarc import check_dmarc, from_domains, organizational_domain
from dispatch_server.mail.auth.resolver import Deadline, DnsTempError, NotCached
from dispatch_server.mail.verdicts import Check, Verdicts
from tests.auth_kit import checks, fresh_domain, mail_from, publish_key, sign
from tests.dns_server import shared_dns
from tests.helpers import make_mail

IP = "192.0.2.10"


def dkim_pass(domain: str) -> Check:
    signature = {"domain": domain, "selector": "s", "result": "pass", "why": "ok"}
    return Check("pass", "ok", domain, extra={"signatures": [signature]})


NO_DKIM = Check("none", "unsigned")
NO_SPF = Check("none", "no record")


def spf_pass(domain: str) -> Check:
    return Check("pass", "ok", domain)


def dmarc_of(
    raw: bytes, *, spf: Check = NO_SPF, dkim: Check = NO_DKIM, **variables: object
) -> Check:
    auth = checks(**variables)
    domains, remark = from_domains(raw)
    deadline = Deadline(auth.settings.timeout_seconds)
    return check_dmarc(
        auth.resolver, deadline, raw, domains=domains, remark=remark, spf=spf, dkim=dkim
    )


def policy(domain: str, record: str) -> None:
    shared_dns().add_txt(f"_dmarc.{domain}", record)


def test_aligned_dkim_passes() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject")
    found = dmarc_of(mail_from(domain), dkim=dkim_pass(domain))
    assert (found.result, found.domain, found.policy) == ("pass", domain, "reject")


def test_aligned_spf_passes_relaxed_for_a_subdomain() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject")
    assert dmarc_of(mail_from(domain), spf=spf_pass(f"bounces.{domain}")).result == "pass"


def test_strict_spf_alignment_needs_the_exact_domain() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject; aspf=s")
    found = dmarc_of(mail_from(domain), spf=spf_pass(f"bounces.{domain}"))
    assert (found.result, found.policy) == ("fail", "reject")
    assert "strict" in (found.why or "")
    assert dmarc_of(mail_from(domain), spf=spf_pass(domain)).result == "pass"


def test_strict_dkim_alignment_needs_the_exact_domain() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=quarantine; adkim=s")
    assert dmarc_of(mail_from(domain), dkim=dkim_pass(f"mail.{domain}")).result == "fail"
    assert dmarc_of(mail_from(domain), dkim=dkim_pass(domain)).result == "pass"


def test_relaxed_alignment_is_by_organizational_domain_not_by_suffix() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject")
    assert dmarc_of(mail_from(f"news.{domain}"), dkim=dkim_pass(f"mail.{domain}")).result == (
        "pass"
    )
    # A passing signature of another registrable domain does not align.
    assert dmarc_of(mail_from(domain), dkim=dkim_pass(f"evil{domain}")).result == "fail"
    assert dmarc_of(mail_from(domain), dkim=dkim_pass("test")).result == "fail"


def test_a_signature_or_spf_that_did_not_pass_never_aligns() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject")
    failed = Check(
        "fail", "no", domain, extra={"signatures": [{"domain": domain, "result": "fail"}]}
    )
    assert dmarc_of(mail_from(domain), dkim=failed, spf=Check("softfail", "no", domain)).result == (
        "fail"
    )


def test_a_subdomain_uses_the_organizational_record_and_its_sp() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject; sp=quarantine")
    found = dmarc_of(mail_from(f"news.{domain}"))
    assert (found.result, found.policy, found.domain) == ("fail", "quarantine", f"news.{domain}")
    assert found.extra["record_domain"] == domain
    assert dmarc_of(mail_from(domain)).policy == "reject"  # sp is for subdomains only


def test_a_subdomain_without_sp_gets_p() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=quarantine")
    assert dmarc_of(mail_from(f"a.b.{domain}")).policy == "quarantine"


def test_a_subdomain_record_of_its_own_wins() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject")
    policy(f"news.{domain}", "v=DMARC1; p=none")
    found = dmarc_of(mail_from(f"news.{domain}"))
    assert (found.result, found.policy) == ("fail", "none")


@pytest.mark.parametrize(
    "records",
    [
        [],
        ["v=spf1 -all"],  # not a DMARC record
        ["v=DMARC1; p=reject", "v=DMARC1; p=none"],  # two: no policy (RFC 7489 §6.6.3)
        ["v=DMARC1; p=bogus"],  # no valid p and no rua
        ["V=DMARC2; p=reject"],
    ],
)
def test_records_that_are_no_policy(records: list[str]) -> None:
    domain = fresh_domain()
    if records:
        shared_dns().add_txt(f"_dmarc.{domain}", *records)
    found = dmarc_of(mail_from(domain))
    assert (found.result, found.policy) == ("none", None)


def test_an_invalid_p_with_rua_is_p_none() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=bogus; rua=mailto:d@example.test")
    assert (dmarc_of(mail_from(domain)).result, dmarc_of(mail_from(domain)).policy) == (
        "fail",
        "none",
    )


def test_pct_samples_out_to_the_next_milder_policy() -> None:
    domain = fresh_domain()
    policy(domain, "v=DMARC1; p=reject; pct=0")
    found = dmarc_of(mail_from(domain))
    assert (found.result, found.policy, found.extra["sampled_out"]) == ("fail", "quarantine", True)
    other = fresh_domain()
    policy(other, "v=DMARC1; p=quarantine; pct=0")
    assert dmarc_of(mail_from(other)).policy == "none"
    full = fresh_domain()
    policy(full, "v=DMARC1; p=quarantine; pct=100")
    assert dmarc_of(mail_from(full)).policy == "quarantine"


def test_a_second_from_cannot_hide_a_forged_one() -> None:
    bank, mine = fresh_domain("bank"), fresh_domain("mine")
    policy(bank, "v=DMARC1; p=reject")
    policy(mine, "v=DMARC1; p=none")
    two_headers = make_mail("bot@dispatch.test", sender=f"me@{mine}").replace(
        b"From: ", f"From: Bank <alerts@{bank}>\r\nFrom: ".encode(), 1
    )
    found = dmarc_of(two_headers, dkim=dkim_pass(mine))
    assert (found.result, found.policy, found.domain) == ("fail", "reject", bank)
    assert "2 From headers" in (found.why or "")
    two_addresses = make_mail("bot@dispatch.test", sender=f"me@{mine}, alerts@{bank}")
    assert dmarc_of(two_addresses, dkim=dkim_pass(mine)).result == "fail"


def test_no_from_is_none() -> None:
    raw = b"To: bot@dispatch.test\r\nSubject: hi\r\n\r\nbody\r\n"
    assert dmarc_of(raw).result == "none"
    assert dmarc_of(b"From: undisclosed-recipients:;\r\n\r\nbody\r\n").result == "none"


def test_a_policy_lookup_that_times_out_is_temperror() -> None:
    domain = fresh_domain()
    shared_dns().time_out(f"_dmarc.{domain}")
    started = time.perf_counter()
    found = dmarc_of(mail_from(domain), DISPATCH_DNS_TIMEOUT_SECONDS=0.3)
    assert found.result == "temperror"
    assert time.perf_counter() - started < 1.5
    shared_dns().fail(f"_dmarc.{fresh_domain()}")


def test_organizational_domains() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("mail.sender.test") == "sender.test"
    assert organizational_domain("foo.github.io") == "foo.github.io"  # a private suffix
    assert organizational_domain("co.uk") == "co.uk"
    assert organizational_domain("Example.COM.") == "example.com"


# -- the three together, as the SMTP door runs them -------------------------------------------


def test_signed_mail_from_a_domain_with_spf_passes_all_three() -> None:
    domain = fresh_domain()
    publish_key(domain)
    shared_dns().add_txt(domain, f"v=spf1 ip4:{IP} -all")
    policy(domain, "v=DMARC1; p=reject")
    verdicts = checks().check_now(
        sign(mail_from(domain), domain), client_ip=IP, helo=f"mx.{domain}", mail_from=f"b@{domain}"
    )
    assert [c.result for c in (verdicts.spf, verdicts.dkim, verdicts.dmarc) if c] == ["pass"] * 3
    assert verdicts.source == "dispatch"


def test_forged_mail_fails_dmarc_with_the_domains_policy() -> None:
    domain = fresh_domain()
    publish_key(domain)
    shared_dns().add_txt(domain, f"v=spf1 ip4:{IP} -all")
    policy(domain, "v=DMARC1; p=reject")
    verdicts = checks().check_now(
        mail_from(domain), client_ip="198.51.100.66", helo="evil.test", mail_from=f"b@{domain}"
    )
    assert verdicts.spf is not None and verdicts.spf.result == "fail"
    assert verdicts.dkim is not None and verdicts.dkim.result == "none"
    assert verdicts.dmarc is not None
    assert (verdicts.dmarc.result, verdicts.dmarc.policy) == ("fail", "reject")


def test_checks_off_give_no_verdicts() -> None:
    auth = checks(DISPATCH_VERIFY_INBOUND_AUTH="false")
    verdicts = asyncio.run(
        auth.check(mail_from("x.test"), client_ip=IP, helo="h", mail_from="a@x.test")
    )
    assert verdicts.spf is None and verdicts.dkim is None and verdicts.source is None


def test_everything_timing_out_ends_within_the_budget() -> None:
    domain = fresh_domain()
    dns = shared_dns()
    for name in (domain, f"sel._domainkey.{domain}", f"_dmarc.{domain}"):
        dns.time_out(name)
    started = time.perf_counter()
    verdicts = checks(DISPATCH_DNS_TIMEOUT_SECONDS=1, DISPATCH_AUTH_TIMEOUT_SECONDS=0.5).check_now(
        sign(mail_from(domain), domain), client_ip=IP, helo="h.test", mail_from=f"b@{domain}"
    )
    assert time.perf_counter() - started < 1.2
    assert [c.result for c in (verdicts.spf, verdicts.dkim, verdicts.dmarc) if c] == [
        "temperror"
    ] * 3


def test_checks_that_cannot_run_are_temperror_not_an_error() -> None:
    auth = checks()

    async def run() -> None:
        auth._pool = concurrent.futures.ThreadPoolExecutor(1)
        auth._pool.shutdown()  # submitting to it now fails
        verdicts = await auth.check(mail_from("x.test"), client_ip=IP, helo="h", mail_from="a")
        assert verdicts.spf is not None and verdicts.spf.result == "temperror"
        assert verdicts.dmarc is not None and "could not run" in (verdicts.dmarc.why or "")

    asyncio.run(run())


@pytest.mark.parametrize(
    ("head", "domains", "remark"),
    [
        (b"From: A <a@One.test>\r\n", ("one.test",), None),
        (b"from:a@one.test\r\n", ("one.test",), None),
        (b'From: "Bank\r\n <a@one.test>\r\n', ("one.test",), None),  # folded
        (b"X-From: a@x.test\r\nResent-From: a@y.test\r\nFrom: a@one.test\r\n", ("one.test",), None),
        (b"From: a@one.test\r\nFrom: b@two.test\r\n", ("one.test", "two.test"), "2 From headers"),
        (b"From: a@one.test, b@one.test\r\n", ("one.test",), "2 From addresses"),
        (b"Subject: no from\r\n", (), None),
        (b"From: =?utf-8?q?Bank?= <a@one.test>\r\n", ("one.test",), None),
    ],
)
def test_the_from_domains(head: bytes, domains: tuple[str, ...], remark: str | None) -> None:
    raw = b"To: bot@dispatch.test\r\n" + head + b"\r\nFrom: body@nothere.test\r\n"
    assert from_domains(raw) == (domains, remark)


def test_answers_are_cached_and_failures_are_not() -> None:
    auth = checks()
    domain = fresh_domain()
    shared_dns().add_txt(domain, "v=spf1 -all")
    for _ in range(3):
        assert auth.resolver.txt(domain, Deadline(5)) == [b"v=spf1 -all"]
    missing = fresh_domain()
    for _ in range(3):
        assert auth.resolver.txt(missing, Deadline(5)) is None
    assert len(shared_dns().lookups_of(domain)) == 1
    assert len(shared_dns().lookups_of(missing)) == 1
    flaky = fresh_domain()
    shared_dns().fail(flaky)
    with pytest.raises(DnsTempError):
        auth.resolver.txt(flaky, Deadline(5))
    shared_dns().remove(flaky)
    shared_dns().add_txt(flaky, "v=spf1 ?all")
    assert auth.resolver.txt(flaky, Deadline(5)) == [b"v=spf1 ?all"]


def test_cached_checks_run_inline_and_the_rest_in_a_thread() -> None:
    domain = fresh_domain()
    publish_key(domain)
    shared_dns().add_txt(domain, f"v=spf1 ip4:{IP} -all")
    policy(domain, "v=DMARC1; p=reject")
    auth = checks()
    raw = sign(mail_from(domain), domain)
    args: dict[str, Any] = {"client_ip": IP, "helo": "h.test", "mail_from": f"b@{domain}"}

    async def run() -> tuple[Verdicts, Verdicts]:
        first = await auth.check(raw, **args)  # nothing cached: in a thread
        assert auth._pool is not None
        pool, auth._pool = auth._pool, None
        second = await auth.check(raw, **args)  # all cached: inline, no pool made
        assert auth._pool is None
        pool.shutdown()
        return first, second

    first, second = asyncio.run(run())
    assert first == second
    assert [c.result for c in (second.spf, second.dkim, second.dmarc) if c] == ["pass"] * 3
    # A big message goes to a thread even with everything cached.
    big = sign(mail_from(domain, text="x" * 20_000), domain)
    asyncio.run(auth.check(big, **args))
    assert auth._pool is not None
    auth.close()


def test_a_lookup_missing_from_the_cache_stops_the_inline_attempt() -> None:
    auth = checks()
    domain = fresh_domain()
    with pytest.raises(NotCached):
        auth.resolver.txt(domain, Deadline(5, cached_only=True))
    assert shared_dns().lookups_of(domain) == []
