"""`in_one_write`: what a step writes to a request's connection leaves in one write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dispatch_server.http.protocol import ONE_WRITE, _OneWrite, in_one_write


class Transport:
    def __init__(self) -> None:
        self.done: list[Any] = []

    def write(self, data: bytes) -> None:
        self.done.append(data)

    def close(self) -> None:
        self.done.append("close")

    def is_closing(self) -> bool:
        return "close" in self.done


def scope_of(transport: Transport) -> tuple[dict[str, Any], Any]:
    cycle = SimpleNamespace(transport=transport)
    return {ONE_WRITE: _OneWrite(cycle)}, cycle  # type: ignore[arg-type]


def test_a_head_and_body_leave_in_one_write() -> None:
    transport = Transport()
    scope, cycle = scope_of(transport)

    def step() -> int:
        cycle.transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        cycle.transport.write(b"{}")
        return 7

    assert in_one_write(scope, step) == 7
    assert transport.done == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    assert cycle.transport is transport


def test_a_close_comes_after_what_was_written_before_it() -> None:
    transport = Transport()
    scope, cycle = scope_of(transport)

    def step() -> None:
        cycle.transport.write(b"head")
        cycle.transport.write(b"body")
        cycle.transport.close()
        assert cycle.transport.is_closing()

    in_one_write(scope, step)
    assert transport.done == [b"headbody", "close"]


def test_what_was_written_before_a_failure_still_leaves() -> None:
    transport = Transport()
    scope, cycle = scope_of(transport)

    def step() -> None:
        cycle.transport.write(b"head")
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError):
        in_one_write(scope, step)
    assert transport.done == [b"head"] and cycle.transport is transport


def test_without_the_protocol_the_step_just_runs() -> None:
    assert in_one_write({}, lambda: 3) == 3
