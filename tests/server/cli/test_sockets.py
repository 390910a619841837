"""The listening sockets the commands make (cli._common.bind)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dispatch_server.cli._common import CliError, bind

pytestmark = pytest.mark.anyio


async def test_accepted_connections_have_nagle_off() -> None:
    """Without TCP_NODELAY a response written in two parts waits for the client's delayed
    ACK, about 40 ms per request: asyncio only sets it on sockets that say they are TCP."""
    sock = bind("127.0.0.1", 0, what="HTTP", flag="--port", variable="DISPATCH_HTTP_PORT")
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer: socket.socket = transport.get_extra_info("socket")
            accepted.set_result(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    try:
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(accepted, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_a_taken_port_is_a_cli_error_naming_it() -> None:
    first = bind("127.0.0.1", 0, what="SMTP", flag="--smtp-port", variable="DISPATCH_SMTP_PORT")
    port = first.getsockname()[1]
    try:
        with pytest.raises(CliError) as caught:
            bind("127.0.0.1", port, what="SMTP", flag="--smtp-port", variable="DISPATCH_SMTP_PORT")
        assert f"SMTP port {port}" in str(caught.value) and "--smtp-port" in str(caught.value)
    finally:
        first.close()
