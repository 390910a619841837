"""The one HTTP client webhook deliveries go out through, safe against server-side request
forgery: a delivery reaches only a globally routable address.

A target's host is resolved here (a literal address in any spelling the C library accepts,
`2130706433` and `0x7f.1` included; else DNS: the server of DISPATCH_DNS_SERVER, or the
system's resolver), and the attempt is refused when ANY address it resolves to is not public
(`refusal`). The connection then goes to exactly the address checked (the URL's host
replaced by it, the name kept in `Host` and in TLS's SNI and certificate check), so a
second, rebinding lookup cannot send it elsewhere. Redirects are not followed, the whole
attempt is bounded by a timeout, and at most `MAX_RESPONSE_BYTES` of the answer are read.
DISPATCH_WEBHOOK_ALLOW_LOOPBACK lets loopback addresses (only those) through, for local
development, and plain `http://` to them (only to them: `is_loopback`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

import attrs
import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx

from dispatch_server.config.settings import dns_address

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ADDRESSES = 16

# Not public, whatever Python's `is_global` says of them (it keeps changing between versions).
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback, and the deprecated IPv4-compatible addresses
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
# What inet_aton reads as an IPv4 address: one to four parts, decimal, octal or hex.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


_HTTP_LOOPBACK_ONLY = "http:// only to a loopback address; anywhere else it must be https://"


class TargetRefused(Exception):
    """The URL or an address its host resolves to may not be delivered to; said in one line."""


def is_loopback(address: IPAddress) -> bool:
    """`127.0.0.0/8` or `::1`: what DISPATCH_WEBHOOK_ALLOW_LOOPBACK lets through (no IPv4
    loopback inside IPv6)."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_loopback
    return address == _LOOPBACK_V6


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a delivery may not go to `address` (None: it may): every address that is not
    globally routable is refused, IPv4 inside IPv6 by the IPv4 address it carries."""
    if allow_loopback and is_loopback(address):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal(embedded)
            return None if inner is None else f"{address} carries {embedded}: {inner}"
        if any(address in net for net in _REFUSED_V6):
            return f"{address} is not a public address"
    elif any(address in net for net in _REFUSED_V4):
        return f"{address} is not a public address"
    if (
        not address.is_global
        or address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    ):
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any form a resolver would take as a literal (dotted
    quad, `[v6]`, and inet_aton's `2130706433`, `0x7f.1`, `0177.0.0.1`); None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare.split("%")[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            raise TargetRefused(f"{host} is a malformed IPv4 address") from None
    return None


@attrs.frozen
class Target:
    """A checked webhook URL: scheme, host (a name or a literal) and port."""

    url: SplitResult
    host: str
    port: int


def parse_url(url: str, *, allow_loopback: bool) -> Target:
    """The URL's parts; TargetRefused saying what is wrong with it (the scheme, userinfo,
    its length, a literal address that is not public, plain http to a literal address that is
    not loopback; a name over http is held to loopback when it is resolved)."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"must be at most {MAX_URL_CHARS} characters")
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise TargetRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"is not a URL: {exc}") from None
    schemes = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme.lower() not in schemes:
        raise TargetRefused(
            "must be an https:// URL"
            if not allow_loopback
            else "must be an https:// or http:// URL"
        )
    if "@" in parts.netloc:
        raise TargetRefused("must not carry a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("has no host")
    if parts.fragment:
        raise TargetRefused("must not have a #fragment")
    address = literal_address(host if ":" not in host else f"[{host}]")
    if address is not None:
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise TargetRefused(reason)
        if parts.scheme.lower() == "http" and not is_loopback(address):
            raise TargetRefused(_HTTP_LOOPBACK_ONLY)
    elif not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", host):
        raise TargetRefused("has a malformed host name")
    default = 443 if parts.scheme.lower() == "https" else 80
    return Target(url=parts, host=host, port=port or default)


class Resolver:
    """Names to addresses: the DNS server of DISPATCH_DNS_SERVER, else the system's."""

    def __init__(self, server: str | None, timeout: float) -> None:
        self.timeout = timeout
        self._dns: dns.asyncresolver.Resolver | None = None
        if server is not None:
            host, port = dns_address(server)
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [host]
            self._dns.port = port
            self._dns.lifetime = timeout

    async def resolve(self, name: str, port: int) -> list[IPAddress]:
        if self._dns is None:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise TargetRefused(f"{name} does not resolve: {exc.strerror}") from None
            return _unique(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
        found: list[IPAddress] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._dns.resolve(name, rdtype, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:
                raise TargetRefused(f"{name} does not resolve: {type(exc).__name__}") from None
            found += [ipaddress.ip_address(record.to_text()) for record in answer]
        if not found:
            raise TargetRefused(f"{name} does not resolve")
        return _unique(found)


def _unique(addresses: object) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))  # type: ignore[call-overload]


@attrs.frozen
class Answer:
    """What the endpoint answered: its status and the first bytes of its body."""

    status: int
    body: bytes


class WebhookClient:
    def __init__(
        self, *, allow_loopback: bool, timeout: float, dns_server: str | None = None
    ) -> None:
        self.allow_loopback = allow_loopback
        self.timeout = timeout
        self.resolver = Resolver(dns_server, timeout)
        # No proxies from the environment, no redirects, no cookies kept between endpoints.
        self._http = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def pinned_address(self, target: Target) -> IPAddress:
        """The one address the attempt connects to, after every resolved one was checked."""
        address = literal_address(target.host if ":" not in target.host else f"[{target.host}]")
        addresses = (
            [address]
            if address is not None
            else await self.resolver.resolve(target.host, target.port)
        )
        plain_http = target.url.scheme.lower() == "http"
        for found in addresses[:MAX_ADDRESSES]:
            reason = refusal(found, allow_loopback=self.allow_loopback)
            if reason is not None:
                raise TargetRefused(f"{target.host} resolves to {reason}")
            if plain_http and not is_loopback(found):
                raise TargetRefused(f"{target.host} resolves to {found}: {_HTTP_LOOPBACK_ONLY}")
        return addresses[0]

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url`; TargetRefused when it may not go there, httpx.HTTPError or
        TimeoutError when it did not get through."""
        async with asyncio.timeout(self.timeout):
            target = parse_url(url, allow_loopback=self.allow_loopback)
            address = await self.pinned_address(target)
            return await self._send(target, address, body, headers)

    async def _send(
        self, target: Target, address: IPAddress, body: bytes, headers: Mapping[str, str]
    ) -> Answer:
        parts = target.url
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = parts._replace(netloc=f"{literal}:{target.port}", fragment="").geturl()
        default_port = 443 if parts.scheme.lower() == "https" else 80
        host_header = target.host if ":" not in target.host else f"[{target.host}]"
        if target.port != default_port:
            host_header += f":{target.port}"
        request = self._http.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "host": host_header},
            extensions={"sni_hostname": target.host},
        )
        response = await self._http.send(request, stream=True)
        try:
            kept = bytearray()
            async for chunk in response.aiter_raw():
                kept += chunk[: MAX_RESPONSE_BYTES - len(kept)]
                if len(kept) >= MAX_RESPONSE_BYTES:
                    break
            return Answer(response.status_code, bytes(kept))
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self._http.aclose()
