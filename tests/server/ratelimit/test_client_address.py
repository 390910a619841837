"""Who a request is counted as: the peer, X-Forwarded-For only from trusted proxies (read
right to left past them), an IPv6 client by its /64; and how rates are written."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from dispatch_server.config import ConfigError, Settings
from dispatch_server.http.rate_limits import client_address
from dispatch_server.ratelimit.policy import Policy, Rate

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def request(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    client = None if peer is None else (peer, 40000)
    return Request({"type": "http", "client": client, "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted"),
    [
        ("203.0.113.5", (), "203.0.113.5"),
        ("203.0.113.5", ("198.51.100.1",), "203.0.113.5"),  # not a proxy: header ignored
        ("10.0.0.2", (), "10.0.0.2"),
        ("10.0.0.2", ("198.51.100.1",), "198.51.100.1"),
        ("10.0.0.2", ("198.51.100.1, 10.0.0.3",), "198.51.100.1"),  # two trusted hops
        ("10.0.0.2", ("198.51.100.1", "10.0.0.3"), "198.51.100.1"),  # two header lines
        ("10.0.0.2", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),  # a spoofed first entry
        ("10.0.0.2", ("not-an-ip, 10.0.0.3",), "10.0.0.3"),  # garbage: the nearest hop
        ("10.0.0.2", ("10.0.0.4, 10.0.0.3",), "10.0.0.4"),  # all proxies: the farthest
        ("2001:db8:1:2:3:4:5:6", (), "2001:db8:1:2::/64"),
        ("fd00::1", ("[2001:db8::7]",), "2001:db8::/64"),
        ("::ffff:203.0.113.5", (), "203.0.113.5"),
        ("testclient", ("198.51.100.1",), "testclient"),
        (None, (), "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: tuple[str, ...], counted: str) -> None:
    assert client_address(request(peer, *forwarded), PROXIES) == counted


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address(request("10.0.0.2", "198.51.100.1"), ()) == "10.0.0.2"


@pytest.mark.parametrize(
    ("written", "rate"),
    [
        ("30/1h", Rate(30, 3600)),
        ("10/60", Rate(10, 60)),
        ("10/60s", Rate(10, 60)),
        ("5/m", Rate(5, 60)),
        (" 2 / 7d ", Rate(2, 7 * 86400)),
        ("1000000/1s", Rate(1_000_000, 1)),
    ],
)
def test_rates_are_read(written: str, rate: Rate) -> None:
    assert Rate.parse(written) == rate
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("written", ["", "30", "30/", "0/1h", "-1/1h", "1/0s", "1/8d", "x/1h"])
def test_bad_rates_are_configuration_errors(written: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS": written or " "})
    assert "DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS" in str(caught.value)


def test_every_policy_has_a_rate_per_address_and_per_key_and_off_means_none() -> None:
    defaults = Settings.from_env({}).rate_limits
    assert all(defaults.rates(policy)[0] is not None for policy in Policy)
    off = Settings.from_env({"DISPATCH_RATE_LIMIT_CLAIM_PER_KEY": "OFF"}).rate_limits
    assert off.rates(Policy.CLAIM) == (Rate(20, 3600), None)
    disabled = Settings.from_env({"DISPATCH_RATE_LIMITS": "false"}).rate_limits
    assert {disabled.rates(policy) for policy in Policy} == {(None, None)}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DISPATCH_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
        ("DISPATCH_REDIS_URL", "http://127.0.0.1:6379"),
        ("DISPATCH_RATE_LIMIT_REDIS_FAILURE", "maybe"),
    ],
)
def test_bad_limiter_settings(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value)
