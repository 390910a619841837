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


def test_the_loopback_setting_lets_only_loopback_through() -> None:
    for url in ("http://127.0.0.1:8000/", "http://[::1]/", "https://2130706433/"):
        parse_url(url, allow_loopback=True)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fd00::1]/"):
        with pytest.raises(TargetRefused):
            parse_url(url, allow_loopback=True)
    with pytest.raises(TargetRefused):
        parse_url("http://127.0.0.1/", allow_loopback=False)


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
