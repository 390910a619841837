"""Webhook deliveries to a local receiver: how many a server sends per second, and how soon
after the commit of the change each one arrives.

    python -m bench.webhook_delivery                      # 2,000 messages, 16 at a time
    python -m bench.webhook_delivery --messages 500 --concurrency 4

Against a `dispatch-server dev` subprocess (SQLite in a temporary directory), which sends
deliveries from the API process (DISPATCH_WEBHOOK_DELIVER_IN_API, on in dev) and allows
loopback targets. The bench starts a receiver (a raw asyncio HTTP/1.1 server that answers
204 at once and notes when each delivery came), registers it as the dev workspace's endpoint
for `message.received`, then delivers `--messages` mails through the inbound webhook,
`--concurrency` at a time, and records per message:
  latency = time the receiver read the delivery - time the inbound webhook answered 201
(the 201 follows the commit). Throughput: deliveries received / (last received - first
sent). The receiver checks every signature with the independent `standardwebhooks` package
(outside the timed path: the bodies are kept and verified at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

import httpx
from standardwebhooks.webhooks import Webhook

from bench.common import DevServer, percentile, start_dev_server


class Receiver(asyncio.Protocol):
    """One connection of the receiver: parses requests as they come, answers 204."""

    def __init__(
        self,
        received: dict[str, tuple[float, dict[str, str], bytes]],
        done: asyncio.Event,
        expected: int,
    ) -> None:
        self.received = received
        self.done = done
        self.expected = expected
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            now = time.perf_counter()
            subject = json.loads(body)["data"]["subject"]
            self.received[subject] = (now, headers, body)
            if len(self.received) >= self.expected:
                self.done.set()
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, server: DevServer) -> dict[str, float]:
    received: dict[str, tuple[float, dict[str, str], bytes]] = {}
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    listener = await loop.create_server(
        lambda: Receiver(received, done, args.messages), "127.0.0.1", 0
    )
    port = listener.sockets[0].getsockname()[1]
    token = (server.data_dir / "inbound-token").read_text().strip()
    headers = {"authorization": f"Bearer {server.account_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as http:
        inbox = (await http.get("/v1/inboxes")).raise_for_status().json()["data"][0]
        endpoint = (
            (
                await http.post(
                    "/v1/webhooks/endpoints",
                    json={
                        "url": f"http://127.0.0.1:{port}/hook",
                        "event_types": ["message.received"],
                    },
                )
            )
            .raise_for_status()
            .json()
        )
        answered: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(args.messages):
            queue.put_nowait(number)

        async def sender() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                subject = f"n{number}"
                sent_at[subject] = time.perf_counter()
                response = await http.post(
                    "/v1/webhooks/inbound",
                    headers={"x-dispatch-inbound-token": token},
                    json={"to": inbox["address"], "subject": subject, "text": "code 482913"},
                )
                response.raise_for_status()
                answered[subject] = time.perf_counter()

        progress(f"delivering {args.messages} messages, {args.concurrency} at a time")
        await asyncio.gather(*(sender() for _ in range(args.concurrency)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=120)
    listener.close()
    verifier = Webhook(endpoint["secret"])
    for _, hook_headers, body in received.values():
        verifier.verify(body.decode(), hook_headers)
    latencies = [(received[s][0] - answered[s]) * 1000 for s in received if s in answered]
    first, last = min(sent_at.values()), max(at for at, _, _ in received.values())
    result = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "received": len(received),
        "deliveries_per_s": round(len(received) / (last - first), 1),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p99_ms": round(percentile(latencies, 99), 1),
        "latency_max_ms": round(max(latencies), 1),
    }
    progress(
        f"{result['received']}/{args.messages} received and verified, "
        f"{result['deliveries_per_s']}/s; after the 201: p50 {result['latency_p50_ms']} ms, "
        f"p99 {result['latency_p99_ms']} ms"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = start_dev_server()
    try:
        print(json.dumps(asyncio.run(run(args, server))))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
