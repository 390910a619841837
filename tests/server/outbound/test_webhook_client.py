"""The webhook client's SSRF defences, as a class: every non-public address in every spelling
is refused, before any connection; names that resolve to one are refused (the tests' DNS
server); the checked address is the one connected to; redirects are not followed; time and
response size are capped."""

from __future__ import annotations

import ipaddress
import time

import pytest

from dispatch_server.outbound.webhook_client import (
    MAX_RESPONSE_BYTES,
    TargetRefused,
    WebhookClient,
    parse_url,
    refusal,
)
from tests.dns_server import shared_dns
from tests.webhook_receiver import Reply, receiver

pytestmark = pytest.mark.anyio
REFUSED = r"is not a public address|carries"

REFUSED_URLS = [
    # loopback, in every spelling inet_aton reads
    "https://127.0.0.1/",
    "https://127.1.2.3/",
    "https://2130706433/",  # decimal
    "https://0x7f000001/",  # hex
    "https://0x7f.1/",  # hex, two parts
    "https://0177.0.0.1/",  # octal
    "https://0177.1/",
    "https://127.1/",
    "https://127.0.0.1./",
    "https://[::1]/",
    # private, link-local (cloud metadata), CGNAT, unspecified
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://100.127.255.254/",
    "https://0.0.0.0/",
    "https://0/",
    "https://[::]/",
    # multicast, reserved, broadcast, benchmarking, documentation, IETF
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://198.18.0.1/",
    "https://198.19.255.255/",
    "https://192.0.2.10/",
    "https://198.51.100.7/",
    "https://203.0.113.9/",
    "https://192.0.0.8/",
    # IPv6: unique local, link-local, site-local, multicast, documentation
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fec0::1]/",
    "https://[ff02::1]/",
    "https://[2001:db8::1]/",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4, Teredo
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::127.0.0.1]/",
    "https://[::10.0.0.1]/",
    "https://[64:ff9b::127.0.0.1]/",
    "https://[64:ff9b::a00:1]/",
    "https://[64:ff9b:1::1]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a00:1::1]/",
    "https://[2002:c0a8:101::1]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
]

BAD_URLS = [
    "http://example.com/",  # http without the loopback setting
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "https://user:pass@example.com/",
    "https://user@example.com/",
    "https:///nohost",
    "https://exa mple.com/",
    "https://example.com/\n",
    "https://example.com/#frag",
    "https://example.com:99999/",
    "https://" + "a" * 2050 + ".com/",
    "https://256.1.1.1/",
    "https://0x1ffffffff/",
    "not a url",
    "",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_every_non_public_address_is_refused(url: str) -> None:
    """Refused when the endpoint is registered, and again by the client (before it connects:
    nothing listens on most of these, and a connection attempt would fail otherwise)."""
    with pytest.raises(TargetRefused, match=REFUSED):
        parse_url(url, allow_loopback=False)
    client = WebhookClient(allow_loopback=False, timeout=2, dns_server=shared_dns().address)
    try:
        with pytest.raises(TargetRefused, match=REFUSED):
            await client.post(url, b"{}", {})
    finally:
        await client.close()


async def test_localhost_through_the_system_resolver_is_refused() -> None:
    client = WebhookClient(allow_loopback=False, timeout=2, dns_server=None)
    try:
        with pytest.raises(TargetRefused, match="is not a public address"):
            await client.post("https://localhost/", b"{}", {})
    finally:
        await client.close()


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_or_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        parse_url(url, allow_loopback=False)


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


LOOPBACK_URLS = [
    "http://127.0.0.1:8000/",
    "http://127.9.8.7/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://[::1]:9000/hook",
    "https://127.0.0.1/",
    "https://[::1]/",
]

# Still refused with the loopback setting on: everything not loopback that is not public, in
# either scheme, IPv4 loopback inside IPv6, and plain http to a public address.
REFUSED_WITH_LOOPBACK = [
    ("http://10.0.0.1/", REFUSED),
    ("https://10.0.0.1/", REFUSED),
    ("http://192.168.1.1/", REFUSED),
    ("http://[fd00::1]/", REFUSED),
    ("http://169.254.169.254/latest/meta-data/", REFUSED),
    ("https://169.254.169.254/", REFUSED),
    ("http://[fe80::1]/", REFUSED),
    ("http://0.0.0.0/", REFUSED),
    ("http://[::ffff:127.0.0.1]/", REFUSED),
    ("http://[64:ff9b::127.0.0.1]/", REFUSED),
    ("http://93.184.216.34/", "http:// only to a loopback address"),
    ("http://[2606:4700:4700::1111]/", "http:// only to a loopback address"),
]


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_the_loopback_setting_lets_loopback_through_over_http_and_https(url: str) -> None:
    parse_url(url, allow_loopback=True)
    with pytest.raises(TargetRefused):
        parse_url(url, allow_loopback=False)


@pytest.mark.parametrize(("url", "why"), REFUSED_WITH_LOOPBACK)
async def test_the_loopback_setting_lets_nothing_else_through(url: str, why: str) -> None:
    """Refused at registration and again by the client, before it connects."""
    with pytest.raises(TargetRefused, match=why):
        parse_url(url, allow_loopback=True)
    client = WebhookClient(allow_loopback=True, timeout=2, dns_server=shared_dns().address)
    try:
        with pytest.raises(TargetRefused, match=why):
            await client.post(url, b"{}", {})
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([("A", "93.184.216.34")], "http:// only to a loopback address"),
        ([("AAAA", "2606:4700:4700::1111")], "http:// only to a loopback address"),
        ([("A", "127.0.0.1"), ("A", "93.184.216.34")], "http:// only to a loopback address"),
        ([("A", "10.1.2.3")], REFUSED),
        ([("A", "169.254.169.254")], REFUSED),
    ],
)
async def test_a_name_over_http_must_resolve_to_loopback_only(
    records: list[tuple[str, str]], why: str
) -> None:
    """A name is accepted at registration (it is resolved at each attempt); the attempt over
    plain http is refused unless every address it resolves to is loopback."""
    dns = shared_dns()
    name = f"plain-{abs(hash((tuple(records), why)))}.webhooks.test"
    for rdtype, value in records:
        dns.add(name, rdtype, value)
    parse_url(f"http://{name}/hook", allow_loopback=True)
    client = WebhookClient(allow_loopback=True, timeout=2, dns_server=dns.address)
    try:
        with pytest.raises(TargetRefused, match=why):
            await client.post(f"http://{name}/hook", b"{}", {})
    finally:
        await client.close()
        dns.remove(name)


async def test_a_name_resolving_to_loopback_is_reached_over_http() -> None:
    dns = shared_dns()
    name = "plain-loopback.webhooks.test"
    dns.add(name, "A", "127.0.0.1")
    client = WebhookClient(allow_loopback=True, timeout=5, dns_server=dns.address)
    try:
        with receiver() as hook:
            answer = await client.post(f"http://{name}:{hook.port}/x", b"{}", {})
            assert answer.status == 200
            assert hook.take().body == b"{}"
    finally:
        await client.close()
        dns.remove(name)


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([("A", "10.1.2.3")], "private"),
        ([("A", "127.0.0.1")], "loopback"),
        ([("A", "169.254.169.254")], "metadata"),
        ([("AAAA", "::ffff:127.0.0.1")], "mapped"),
        ([("AAAA", "fd00::5")], "ULA"),
        ([("A", "93.184.216.34"), ("A", "192.168.0.1")], "one of several"),
        ([("A", "93.184.216.34"), ("AAAA", "::1")], "one of both families"),
    ],
)
async def test_a_name_resolving_to_a_non_public_address_is_refused(
    records: list[tuple[str, str]], why: str
) -> None:
    dns = shared_dns()
    name = f"ssrf-{abs(hash((tuple(records), why)))}.attacker.test"
    for rdtype, value in records:
        dns.add(name, rdtype, value)
    client = WebhookClient(allow_loopback=False, timeout=2, dns_server=dns.address)
    try:
        with pytest.raises(TargetRefused, match=REFUSED):
            await client.post(f"https://{name}/hook", b"{}", {})
    finally:
        await client.close()
        dns.remove(name)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    client = WebhookClient(allow_loopback=False, timeout=2, dns_server=shared_dns().address)
    try:
        with pytest.raises(TargetRefused, match="does not resolve"):
            await client.post("https://nowhere.attacker.test/", b"{}", {})
    finally:
        await client.close()


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host() -> None:
    """A name resolved once, checked, then connected to by address: the receiver sees the
    name in Host, and a record changed after the check (rebinding) is not looked up again."""
    dns = shared_dns()
    name = "pinned.webhooks.test"
    dns.add(name, "A", "127.0.0.1")
    client = WebhookClient(allow_loopback=True, timeout=5, dns_server=dns.address)
    try:
        with receiver() as hook:
            target = parse_url(f"http://{name}:{hook.port}/x", allow_loopback=True)
            address = await client.pinned_address(target)
            assert str(address) == "127.0.0.1"
            before = len(dns.lookups_of(name))
            answer = await client._send(target, address, b'{"a":1}', {"x-test": "1"})
            assert answer.status == 200
            got = hook.take()
            assert got.headers["host"] == f"{name}:{hook.port}"
            assert got.body == b'{"a":1}'
            assert len(dns.lookups_of(name)) == before  # no second lookup
    finally:
        await client.close()
        dns.remove(name)


async def test_redirects_are_not_followed() -> None:
    client = WebhookClient(allow_loopback=True, timeout=5)
    try:
        with receiver() as hook:
            hook.default = Reply(status=307, headers={"location": "http://169.254.169.254/"})
            answer = await client.post(hook.url, b"{}", {})
            assert answer.status == 307
            hook.take()
            assert hook.none_within(0.3)  # one request only
    finally:
        await client.close()


async def test_a_slow_endpoint_is_cut_at_the_timeout() -> None:
    client = WebhookClient(allow_loopback=True, timeout=0.5)
    try:
        with receiver() as hook:
            hook.default = Reply(delay=3)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.post(hook.url, b"{}", {})
            assert time.monotonic() - started < 2
    finally:
        await client.close()


async def test_a_huge_response_is_cut() -> None:
    client = WebhookClient(allow_loopback=True, timeout=5)
    try:
        with receiver() as hook:
            hook.default = Reply(stream_forever=True)
            started = time.monotonic()
            answer = await client.post(hook.url, b"{}", {})
            assert answer.status == 200
            assert len(answer.body) == MAX_RESPONSE_BYTES
            assert time.monotonic() - started < 3
    finally:
        await client.close()
