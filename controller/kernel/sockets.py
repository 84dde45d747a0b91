"""Which host ports the node's own processes hold, for the allocator of published ports.

A published port is refused when a socket of the node already holds it, as docker-proxy's
``bind()`` would have failed. A ``bind()`` probe per port costs ~12 µs (0.4 s for a 30,000-port
range); the kernel's socket tables of this thread's netns (``/proc/thread-self/net/tcp``,
``tcp6``, ``udp``, ``udp6``) list every socket with a local port in one read, which costs
~10 ms whatever the number of ports (the kernel walks its whole hash tables). So the first
``PROBES_BEFORE_TABLES`` ports are probed, and only a larger check reads the tables: a port
they show is confirmed by a real ``bind()`` (they do not say ``IPV6_V6ONLY`` or
``SO_REUSEADDR``), a port they do not show is free. The tables' one blind spot: a TCP socket
that is bound but neither listens nor connects is in none (it carries no traffic).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

ANY = "0.0.0.0"
#: Probes cost ~12 µs each, a read of the tables ~10 ms: past this many, read the tables.
PROBES_BEFORE_TABLES = 256
SOCK_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
_V4_MAPPED = bytes(10) + b"\xff\xff"
_TABLES = Path("/proc/thread-self/net")


def bind_errno(proto: str, host_ip: str, port: int) -> int:
    """0 when ``bind((host_ip, port))`` succeeds for ``proto`` here, else its errno.

    Port 0 asks only whether the address is the node's (``EADDRNOTAVAIL`` when not).
    A protocol the node has no socket type for (SCTP) is never held.
    """
    kind = SOCK_TYPES.get(proto)
    if kind is None:
        return 0
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host_ip, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return 0


def _address(hex_text: str) -> str | None:
    """A /proc/net table's local address as an IPv4 text; "0.0.0.0" for an IPv6 wildcard
    (a dual-stack socket holds the port on every IPv4 address); None for other IPv6."""
    words = [int(hex_text[i : i + 8], 16).to_bytes(4, "little") for i in range(0, len(hex_text), 8)]
    raw = b"".join(words)
    if len(raw) == 4:
        return socket.inet_ntoa(raw)
    if raw == bytes(16):
        return ANY
    if raw[:12] == _V4_MAPPED:
        return socket.inet_ntoa(raw[12:])
    return None


def parse_table(text: str) -> dict[int, set[str]]:
    """port → IPv4 addresses (``0.0.0.0`` = all) that sockets of one table hold it on."""
    out: dict[int, set[str]] = {}
    for line in text.splitlines()[1:]:
        fields = line.split(None, 2)
        if len(fields) < 2:
            continue
        addr_hex, _, port_hex = fields[1].partition(":")
        addr = _address(addr_hex)
        if addr is not None:
            out.setdefault(int(port_hex, 16), set()).add(addr)
    return out


def _read(name: str) -> str:
    try:
        return (_TABLES / name).read_text()
    except FileNotFoundError:  # no IPv6 in this kernel
        return ""


class HostPorts:
    """The node's held ports, read once per protocol; ``free()`` answers like a bind() probe."""

    def __init__(
        self,
        read: Callable[[str], str] = _read,
        probe: Callable[[str, str, int], int] = bind_errno,
    ) -> None:
        self._read = read
        self._probe = probe
        self._held: dict[str, dict[int, set[str]]] = {}
        self._addresses: dict[tuple[str, str], int] = {}
        self._probes = 0

    def held(self, proto: str) -> dict[int, set[str]]:
        if proto not in self._held:
            merged: dict[int, set[str]] = {}
            if proto in SOCK_TYPES:
                for table in (proto, proto + "6"):
                    for port, addrs in parse_table(self._read(table)).items():
                        merged.setdefault(port, set()).update(addrs)
            self._held[proto] = merged
        return self._held[proto]

    def bind_errno(self, proto: str, host_ip: str, port: int) -> int:
        """What a bind() probe says: probed while few ports were asked about, then only for
        the ports the tables show."""
        if proto not in self._held and self._probes < PROBES_BEFORE_TABLES:
            self._probes += 1
            return self._probe(proto, host_ip, port)
        addrs = self.held(proto).get(port)
        if not addrs or (host_ip != ANY and ANY not in addrs and host_ip not in addrs):
            return 0
        return self._probe(proto, host_ip, port)

    def address_errno(self, proto: str, host_ip: str) -> int:
        """``EADDRNOTAVAIL`` when ``host_ip`` is not an address of the node, else 0 (asked
        once per address)."""
        key = (proto, host_ip)
        if host_ip == ANY:
            return 0
        if key not in self._addresses:
            self._addresses[key] = self._probe(proto, host_ip, 0)
        return self._addresses[key]
