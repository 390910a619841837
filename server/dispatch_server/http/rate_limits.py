"""Route rate limits at the HTTP door: who is counted (the client address, the API key),
the 429, and the RateLimit headers of draft-ietf-httpapi-ratelimit-headers-07 (the last
draft with separate `RateLimit-Limit`, `-Remaining`, `-Reset` and `-Policy` fields).

The client address is the connection's peer. Only when the peer is a trusted proxy
(DISPATCH_TRUSTED_PROXIES) is X-Forwarded-For read, right to left, up to the first address
that is not a trusted proxy: any client can send the header, so believing it from anyone
else would let every request pick the address it is counted as. An IPv6 client is counted
by its /64, the block one subscriber gets. The decision itself is dispatch_server.ratelimit's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from dispatch_server.auth.backends import KeyHolder
from dispatch_server.config.settings import Network
from dispatch_server.http.context import services
from dispatch_server.ratelimit.gcra import Decision
from dispatch_server.ratelimit.limiter import RateLimited
from dispatch_server.ratelimit.policy import Bucket, Dimension, Policy

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_STATE = "rate_limit"


async def admit(request: Request, policy: Policy) -> None:
    """Count the request against `policy`; RateLimited if it is over. The decision is kept
    on the request, for the headers of its answer."""
    found = services(request)
    settings = found.settings.rate_limits
    per_address, per_key = settings.rates(policy)
    buckets = []
    if per_address is not None:
        subject = client_address(request, settings.trusted_proxies)
        buckets.append(Bucket(policy, Dimension.ADDRESS, subject, per_address))
    user = request.scope.get("user")
    if per_key is not None and isinstance(user, KeyHolder):
        buckets.append(Bucket(policy, Dimension.KEY, user.principal.key_id, per_key))
    if not buckets:
        return
    decision = await found.limiter.hit(buckets)
    if decision is None:  # the limiter is down and fails open
        return
    setattr(request.state, _STATE, decision)
    if not decision.allowed:
        raise RateLimited(decision)


def headers(decision: Decision) -> dict[str, str]:
    found = {
        "ratelimit-limit": str(decision.bucket.rate.limit),
        "ratelimit-remaining": str(decision.remaining),
        "ratelimit-reset": str(decision.reset_seconds),
        "ratelimit-policy": ", ".join(f"{r.limit};w={r.period}" for r in decision.rates),
    }
    if not decision.allowed:
        found["retry-after"] = str(decision.retry_seconds)
    return found


def add_headers(conn: HTTPConnection, response: Response) -> Response:
    """`response` with the RateLimit headers of its request's decision, if it had one."""
    decision: Decision | None = conn.scope.get("state", {}).get(_STATE)
    if decision is not None:
        _set(response, headers(decision))
    return response


def _set(response: Response, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        response.headers[name] = value


def client_address(conn: HTTPConnection, trusted: tuple[Network, ...]) -> str:
    """What a request is counted as: its client's address (see the module's docstring)."""
    peer = conn.client.host if conn.client else ""
    address = _ip(peer)
    if address is None:
        return peer or "unknown"  # a Unix socket, or a test client
    if trusted and _within(address, trusted):
        hops = [
            hop for value in conn.headers.getlist("x-forwarded-for") for hop in value.split(",")
        ]
        for hop in reversed(hops):
            forwarded = _ip(hop.strip())
            if forwarded is None:
                break  # garbage: keep the nearest address a trusted proxy vouched for
            address = forwarded
            if not _within(forwarded, trusted):
                break
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
