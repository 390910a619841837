"""The SMTP door's shortcut for plain MAIL FROM / RCPT TO arguments gives what aiosmtpd's
RFC 5322 parser gives, on plain arguments and on ones it must leave to that parser."""

from __future__ import annotations

import random

import pytest
from aiosmtpd.smtp import SMTP

from dispatch_server.ingest.doors.smtp.protocol import _PLAIN_ADDRESS, DoorProtocol

CASES = [
    "<a@b.test>",
    "<a@b.test> SIZE=100",
    "<a@b.test>  BODY=8BITMIME SMTPUTF8",
    "<a@b.test>\\tSIZE=1",
    "<a@b.test> ",
    "<a@b.test> (comment) SIZE=1",
    "<a@b.test>x",
    "<a.b+c_d@d-e.f.g>",
    "<a..b@c.test>",
    "<.a@c.test>",
    "<a.@c.test>",
    "<a@[1.2.3.4]>",
    '<"quoted local"@b.test>',
    "<@relay.test:a@b.test>",
    "< a@b.test>",
    " <a@b.test>",
    "<a@b.test",
    "<>",
    "<a@>",
    "<@b.test>",
    "a@b.test",
    "<a@b..test>",
    "<" + "x" * 65 + "@b.test>",
    "<" + "x" * 64 + "@b.test>",
    "<dév@b.test>",
]


def answer(kind: type[SMTP], arg: str, local_part_limit: int) -> object:
    door = kind.__new__(kind)
    door.local_part_limit = local_part_limit
    try:
        return door._getaddr(arg)
    except Exception as error:  # the parser fails on some ("<" alone): so must the shortcut
        return type(error)


@pytest.mark.parametrize("limit", [0, 64])
def test_the_shortcut_answers_as_the_parser_does(limit: int) -> None:
    rng = random.Random(5)
    alphabet = 'ab.@<> \t(x)-+"[]:'
    fuzzed = [
        "<" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000)
    ]
    shortcut_taken = 0
    for arg in CASES + fuzzed:
        assert answer(DoorProtocol, arg, limit) == answer(SMTP, arg, limit), arg
        shortcut_taken += _PLAIN_ADDRESS.match(arg) is not None
    assert shortcut_taken >= 6
