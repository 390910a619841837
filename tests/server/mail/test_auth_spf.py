"""SPF through a real DNS server: each result, include chains and loops, the lookup limits,
and DNS that fails."""

from __future__ import annotations

import time

import pytest

from dispatch_server.mail.auth.resolver import Deadline
from dispatch_server.mail.auth.spf import check_spf
from dispatch_server.mail.verdicts import Check
from tests.auth_kit import checks, fresh_domain
from tests.dns_server import shared_dns

IP = "192.0.2.10"


def spf_of(
    mail_from: str | None,
    *,
    ip: str | None = IP,
    helo: str | None = "mx.client.test",
    **variables: object,
) -> Check:
    auth = checks(**variables)
    deadline = Deadline(auth.settings.timeout_seconds)
    return check_spf(auth.resolver, deadline, client_ip=ip, mail_from=mail_from, helo=helo)


@pytest.mark.parametrize(
    ("record", "result"),
    [
        (f"v=spf1 ip4:{IP} -all", "pass"),
        ("v=spf1 ip4:198.51.100.0/24 -all", "fail"),
        ("v=spf1 ip4:198.51.100.0/24 ~all", "softfail"),
        ("v=spf1 ?all", "neutral"),
        ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all", "pass"),
        ("v=spf1 moo -all", "permerror"),
        ("v=spf1 ip4:192.0.2.999 -all", "permerror"),
    ],
)
def test_each_result(record: str, result: str) -> None:
    domain = fresh_domain()
    shared_dns().add_txt(domain, record)
    found = spf_of(f"bounce@{domain}")
    assert (found.result, found.domain) == (result, domain)
    assert found.extra["scope"] == "mailfrom"


def test_pass_says_which_mechanism_matched() -> None:
    domain = fresh_domain()
    shared_dns().add_txt(domain, f"v=spf1 ip4:{IP} -all")
    assert (
        spf_of(f"bounce@{domain}").why
        == f"{IP} is permitted by the SPF record of {domain} (ip4:{IP})"
    )


def test_no_record_is_none() -> None:
    domain = fresh_domain()
    shared_dns().add_txt(domain, "google-site-verification=abc")  # a TXT, but no SPF
    assert spf_of(f"bounce@{domain}").result == "none"
    assert spf_of(f"bounce@{fresh_domain()}").result == "none"  # NXDOMAIN


def test_two_spf_records_are_permerror() -> None:
    domain = fresh_domain()
    shared_dns().add_txt(domain, "v=spf1 -all", f"v=spf1 ip4:{IP} -all")
    assert spf_of(f"bounce@{domain}").result == "permerror"


def test_a_null_sender_is_checked_by_its_helo() -> None:
    helo = "mx." + fresh_domain()
    shared_dns().add_txt(helo, f"v=spf1 ip4:{IP} -all")
    found = spf_of(None, helo=helo)
    assert (found.result, found.domain, found.extra["scope"]) == ("pass", helo, "helo")
    assert spf_of("", helo=helo).result == "pass"


def test_an_include_chain_passes() -> None:
    a, b, c = fresh_domain("a"), fresh_domain("b"), fresh_domain("c")
    shared_dns().add_txt(a, f"v=spf1 include:{b} -all")
    shared_dns().add_txt(b, f"v=spf1 include:{c} ~all")
    shared_dns().add_txt(c, f"v=spf1 ip4:{IP} -all")
    assert spf_of(f"bounce@{a}").result == "pass"


def test_an_include_loop_ends_in_permerror() -> None:
    a, b = fresh_domain("a"), fresh_domain("b")
    shared_dns().add_txt(a, f"v=spf1 include:{b} -all")
    shared_dns().add_txt(b, f"v=spf1 include:{a} -all")
    started = time.perf_counter()
    found = spf_of(f"bounce@{a}")
    assert found.result == "permerror"
    assert time.perf_counter() - started < 2
    # The loop is cut by the 10-lookup limit (each domain's record is cached after one ask).
    assert len(shared_dns().lookups_of(a)) + len(shared_dns().lookups_of(b)) <= 4


def test_more_than_ten_lookups_are_permerror() -> None:
    top = fresh_domain("top")
    leaves = [fresh_domain(f"leaf{i}") for i in range(12)]
    for leaf in leaves:
        shared_dns().add_txt(leaf, "v=spf1 ip4:198.51.100.1 -all")
    shared_dns().add_txt(top, "v=spf1 " + " ".join(f"include:{d}" for d in leaves) + " -all")
    found = spf_of(f"bounce@{top}")
    assert found.result == "permerror"
    assert "lookup" in (found.why or "").lower()
    asked = sum(len(shared_dns().lookups_of(leaf)) for leaf in leaves)
    assert asked <= 11


def test_more_than_two_void_lookups_are_permerror() -> None:
    top = fresh_domain("top")
    missing = " ".join(f"a:{fresh_domain('void')}" for _ in range(3))
    shared_dns().add_txt(top, f"v=spf1 {missing} -all")
    found = spf_of(f"bounce@{top}")
    assert found.result == "permerror"
    assert "void" in (found.why or "").lower()


def test_a_and_mx_and_redirect_mechanisms() -> None:
    a_domain, mx_domain, redirected = fresh_domain("a"), fresh_domain("mx"), fresh_domain("r")
    dns = shared_dns()
    dns.add(a_domain, "A", IP)
    dns.add_txt(a_domain, "v=spf1 a -all")
    dns.add(mx_domain, "MX", f"10 mail.{mx_domain}.")
    dns.add(f"mail.{mx_domain}", "A", IP)
    dns.add_txt(mx_domain, "v=spf1 mx -all")
    dns.add_txt(redirected, f"v=spf1 redirect={mx_domain}")
    assert spf_of(f"x@{a_domain}").result == "pass"
    assert spf_of(f"x@{mx_domain}").result == "pass"
    assert spf_of(f"x@{redirected}").result == "pass"
    assert spf_of(f"x@{redirected}", ip="198.51.100.7").result == "fail"


def test_ipv6_clients() -> None:
    domain = fresh_domain()
    shared_dns().add_txt(domain, "v=spf1 ip6:2001:db8::/32 -all")
    assert spf_of(f"x@{domain}", ip="2001:db8::25").result == "pass"
    assert spf_of(f"x@{domain}", ip="2001:db9::25").result == "fail"


def test_a_record_lookup_that_times_out_is_temperror_in_time() -> None:
    domain = fresh_domain()
    shared_dns().time_out(domain)
    started = time.perf_counter()
    found = spf_of(f"x@{domain}", DISPATCH_DNS_TIMEOUT_SECONDS=0.3)
    assert found.result == "temperror"
    assert time.perf_counter() - started < 1.5


def test_servfail_is_temperror() -> None:
    domain = fresh_domain()
    shared_dns().fail(domain)
    assert spf_of(f"x@{domain}").result == "temperror"


def test_an_include_behind_a_timeout_stays_within_the_budget() -> None:
    top = fresh_domain("top")
    slow = [fresh_domain("slow") for _ in range(5)]
    for name in slow:
        shared_dns().time_out(name)
    shared_dns().add_txt(top, "v=spf1 " + " ".join(f"include:{d}" for d in slow) + " -all")
    started = time.perf_counter()
    found = spf_of(f"x@{top}", DISPATCH_DNS_TIMEOUT_SECONDS=0.5, DISPATCH_AUTH_TIMEOUT_SECONDS=0.7)
    assert found.result == "temperror"
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize(
    ("ip", "mail_from", "helo"),
    [(None, "x@a.test", "h.test"), ("not an ip", "x@a.test", "h.test"), (IP, None, None)],
)
def test_without_a_client_ip_or_an_identity_it_is_none(
    ip: str | None, mail_from: str | None, helo: str | None
) -> None:
    assert spf_of(mail_from, ip=ip, helo=helo).result == "none"


def test_hostile_sender_domains_do_not_raise() -> None:
    for sender in ["x@" + "a" * 70 + ".test", "x@.test", "x@exa mple.test", "x@[192.0.2.1]", "@"]:
        assert spf_of(sender).result in ("none", "permerror")


def test_pyspf_outside_our_checks_keeps_its_own_lookup() -> None:
    import spf

    from dispatch_server.mail.auth import spf as ours

    assert spf.DNSLookup is ours._lookup
    assert ours._CURRENT.get() is None
