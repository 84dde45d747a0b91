"""The responder's sockets and upstream forwarding, over loopback only."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import RR, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from controller.plugins.dns import forward
from controller.plugins.dns.server import DnsServer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        for _ in range(50):
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            try:
                t.bind(("127.0.0.1", port))
                return port
            except OSError:
                u.close()
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raise RuntimeError("no free port")


class Zone(BaseResolver):  # type: ignore[misc]
    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        if str(request.q.qname) == "outside.example.":
            reply.add_answer(*RR.fromZone("outside.example. 60 A 10.9.9.9"))
        else:
            reply.header.rcode = 3
        return reply


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    port = free_port()
    servers = [DNSServer(Zone(), port=port, address="127.0.0.1", tcp=tcp) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    try:
        yield ("127.0.0.1", port)
    finally:
        for s in servers:
            s.stop()


def test_parse_upstream_forms() -> None:
    assert forward.parse_upstream("10.0.0.1") == ("10.0.0.1", 53)
    assert forward.parse_upstream("10.0.0.1:5353") == ("10.0.0.1", 5353)
    assert forward.parse_upstream("[fd00::1]:54") == ("fd00::1", 54)
    assert forward.parse_upstream("fd00::1") == ("fd00::1", 53)
    with pytest.raises(ValueError):
        forward.parse_upstream("resolver.example")


def test_upstream_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search x\nnameserver 127.0.0.53\nnameserver 10.0.0.9\n")
    assert forward.node_upstreams(conf) == [("127.0.0.53", 53), ("10.0.0.9", 53)]
    monkeypatch.setattr(forward, "node_upstreams", lambda: [("10.0.0.9", 53)])
    assert forward.upstreams([], ["10.0.0.7"]) == [("10.0.0.7", 53)]
    assert forward.upstreams(["10.0.0.8:5353"], []) == [("10.0.0.8", 5353)]
    assert forward.upstreams([], []) == [("10.0.0.9", 53)]


def test_forward_udp_and_tcp_skips_dead_servers(upstream: tuple[str, int]) -> None:
    dead = ("127.0.0.1", free_port())
    query = bytes(DNSRecord.question("outside.example").pack())
    for tcp in (False, True):
        raw = forward.forward(query, [dead, upstream], tcp, timeout=0.5)
        assert raw is not None
        reply = DNSRecord.parse(raw)
        assert reply.header.id == DNSRecord.parse(query).header.id
        assert [str(rr.rdata) for rr in reply.rr] == ["10.9.9.9"]
    assert forward.forward(query, [dead], False, timeout=0.3) is None


def test_server_answers_udp_and_tcp_and_forgets() -> None:
    seen: list[tuple[str, str, bool]] = []

    def handler(network_id: str, source: str, wire: bytes, tcp: bool) -> bytes:
        seen.append((network_id, source, tcp))
        reply = DNSRecord.parse(wire).reply()
        reply.add_answer(*RR.fromZone("x. 60 A 10.1.2.3"))
        return bytes(reply.pack())

    port = free_port()
    server = DnsServer(handler, port)
    server.start()
    try:
        server.listen("net1", "127.0.0.1")
        server.listen("net1", "127.0.0.1")  # idempotent
        q = DNSRecord.question("x")
        udp = DNSRecord.parse(q.send("127.0.0.1", port, timeout=2))
        assert str(udp.rr[0].rdata) == "10.1.2.3"
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            for _ in range(2):  # several questions on one connection
                wire = bytes(q.pack())
                s.sendall(struct.pack("!H", len(wire)) + wire)
                (n,) = struct.unpack("!H", s.recv(2))
                assert DNSRecord.parse(s.recv(n)).rr
        assert seen[0] == ("net1", "127.0.0.1", False) and seen[-1][2] is True
        server.forget("net1")
        assert server.addresses() == {}
        with pytest.raises(OSError):
            q.send("127.0.0.1", port, timeout=0.5, tcp=True)
    finally:
        server.close()
