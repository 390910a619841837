"""A real DNS server for the tests: UDP and TCP on one local port, answering from a table the
tests fill (TXT, A, AAAA, MX, CNAME), with names that time out or answer SERVFAIL.

Unknown names are NXDOMAIN, known names asked for another type NODATA, both with an SOA in
the authority section (so a resolver may cache them, as it would a real zone's). Every query
is logged, so a test can count the lookups a check made.

    python -m tests.dns_server [--port 5353] [--txt NAME=TEXT ...]

serves until interrupted (the benchmarks point DISPATCH_DNS_SERVER at it).
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 300
_SOA = "ns.local.test. hostmaster.local.test. 1 3600 600 86400 60"


def txt_rdata(value: str) -> str:
    """A TXT record's text as DNS presentation: quoted strings of at most 255 octets."""
    data = value.encode()
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join(
        '"' + chunk.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks
    )


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class LocalDns:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], list[str]] = {}
        self._behaviour: dict[str, str] = {}
        self.queries: list[tuple[str, str]] = []
        self.udp, self.tcp = _bind_both(host, port)
        self.port: int = self.udp.getsockname()[1]
        self.host = host
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="local-dns")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> LocalDns:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.udp.close()
        self.tcp.close()

    # -- the table ---------------------------------------------------------------------

    def add(self, name: str, rdtype: str, *rdatas: str) -> None:
        with self._lock:
            self._records.setdefault((_key(name), rdtype.upper()), []).extend(rdatas)

    def add_txt(self, name: str, *values: str) -> None:
        self.add(name, "TXT", *(txt_rdata(v) for v in values))

    def set_txt(self, name: str, *values: str) -> None:
        with self._lock:
            self._records[(_key(name), "TXT")] = [txt_rdata(v) for v in values]

    def remove(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._records if k[0] == _key(name)]:
                del self._records[key]
            self._behaviour.pop(_key(name), None)

    def time_out(self, name: str) -> None:
        """Queries for `name` get no answer at all."""
        with self._lock:
            self._behaviour[_key(name)] = "timeout"

    def fail(self, name: str) -> None:
        """Queries for `name` are answered SERVFAIL."""
        with self._lock:
            self._behaviour[_key(name)] = "servfail"

    def lookups_of(self, suffix: str) -> list[tuple[str, str]]:
        suffix = _key(suffix)
        with self._lock:
            return [q for q in self.queries if q[0] == suffix or q[0].endswith("." + suffix)]

    # -- answering ---------------------------------------------------------------------

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = _key(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append((name, rdtype))
            behaviour = self._behaviour.get(name)
            found = self._records.get((name, rdtype))
            cname = self._records.get((name, "CNAME"))
            exists = any(key[0] == name for key in self._records)
        if behaviour == "timeout":
            return None
        if behaviour == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if found:
            response.answer.append(
                dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, rdtype, found)
            )
        elif cname and rdtype != "CNAME":
            response.answer.append(
                dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, "CNAME", cname)
            )
        else:
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            zone = dns.name.from_text(".".join(name.split(".")[-2:]) or ".")
            response.authority.append(
                dns.rrset.from_text_list(zone, 60, dns.rdataclass.IN, "SOA", [_SOA])
            )
        return response.to_wire()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.udp, selectors.EVENT_READ, "udp")
        selector.register(self.tcp, selectors.EVENT_READ, "tcp")
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                with contextlib.suppress(OSError):
                    if key.data == "udp":
                        self._serve_udp()
                    else:
                        self._serve_tcp()
        selector.close()

    def _serve_udp(self) -> None:
        wire, client = self.udp.recvfrom(65535)
        reply = self.answer(wire)
        if reply is None:
            return
        query = dns.message.from_wire(wire)
        limit = max(512, query.payload if query.edns >= 0 else 512)
        if len(reply) > limit:  # too big for UDP: the header and question, truncated
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            reply = truncated.to_wire()
        self.udp.sendto(reply, client)

    def _serve_tcp(self) -> None:
        connection, _ = self.tcp.accept()
        with connection:
            connection.settimeout(2)
            head = _read_exactly(connection, 2)
            wire = _read_exactly(connection, struct.unpack("!H", head)[0])
            reply = self.answer(wire)
            if reply is not None:
                connection.sendall(struct.pack("!H", len(reply)) + reply)


def _bind_both(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on one port: `port`, or (0) one free for both, which a port
    the system picks for UDP need not be for TCP, so a few are tried."""
    for _ in range(1 if port else 50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(16)
            return udp, tcp
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
    raise OSError("no port free for both UDP and TCP")


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


_SHARED: LocalDns | None = None
_SHARED_LOCK = threading.Lock()


def shared_dns() -> LocalDns:
    """The one DNS server of a test process (started on first use)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = LocalDns().start()
        return _SHARED


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5353)
    parser.add_argument("--txt", action="append", default=[], metavar="NAME=TEXT")
    args = parser.parse_args(None if argv is None else list(argv))
    server = LocalDns(port=args.port)
    for item in args.txt:
        name, value = item.split("=", 1)
        server.add_txt(name, value)
    print(f"serving DNS on {server.address}", flush=True)
    server.start()
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()


if __name__ == "__main__":
    main()
