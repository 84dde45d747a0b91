"""Forwarding questions the embedded DNS does not own to upstream resolvers (UDP, then TCP)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from controller.rules import hostsfile

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0


def parse_upstream(spec: str) -> tuple[str, int]:
    """``IP`` or ``IP:PORT`` (IPv6 as ``[IP]:PORT`` or bare) → ``(ip, port)``."""
    text = spec.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, "53"
    ipaddress.ip_address(host)
    return host, int(port)


def node_upstreams(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[tuple[str, int]]:
    """The node's own resolvers. Loopback ones are kept: the responder runs in the node netns."""
    try:
        text = resolv_conf.read_text()
    except OSError:
        return []
    return [(ns.split("%", 1)[0], 53) for ns in hostsfile.parse_resolv(text).nameservers]


def upstreams(configured: Iterable[str], container_dns: Sequence[str]) -> list[tuple[str, int]]:
    """``--dns`` of the asking container wins, then ``--dns-upstream``, then /etc/resolv.conf."""
    if container_dns:
        return [parse_upstream(s) for s in container_dns]
    given = [parse_upstream(s) for s in configured]
    return given or node_upstreams()


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _udp(query: bytes, server: tuple[str, int], timeout: float) -> bytes | None:
    with socket.socket(_family(server[0]), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(server)
        s.send(query)
        while True:
            reply = s.recv(65535)
            if len(reply) >= 12 and reply[:2] == query[:2]:
                return reply


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("upstream closed the connection")
        buf += chunk
    return buf


def _tcp(query: bytes, server: tuple[str, int], timeout: float) -> bytes:
    with socket.create_connection(server, timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(query)) + query)
        (length,) = struct.unpack("!H", _recv_exact(s, 2))
        return _recv_exact(s, length)


def forward(
    query: bytes,
    servers: Sequence[tuple[str, int]],
    tcp: bool,
    timeout: float = TIMEOUT_SECONDS,
) -> bytes | None:
    """The first upstream answer to ``query`` (raw wire format), or None when none answers."""
    for server in servers:
        try:
            reply = _tcp(query, server, timeout) if tcp else _udp(query, server, timeout)
        except OSError as exc:
            log.debug("upstream %s:%d failed: %s", *server, exc)
            continue
        if reply is not None:
            return reply
    return None
