"""Published and exposed ports: Docker's ``-p`` and ``--expose`` syntax, and the one type a
published port has from parse to map.

A ``PortBinding`` is a container port published on the host. Every front end produces it
(``-p`` specs here, the Docker plugin's portmap, CNI ``portMappings``); the allocator turns an
asked binding (host port open: ephemeral or a range) into a bound one (one host port, one
address); the store keeps both, parsed (Docker's ``HostConfig.PortBindings`` and
``NetworkSettings.Ports``); the datapath's port map is written from the bound ones.

Parsing follows go-connections ``nat.ParsePortSpec`` (order of checks and error texts).
Hawser is IPv4-only: an IPv6 host address parses (brackets stripped) and is then refused
with ``IPv6 host addresses are not supported: <ip>``. Host addresses: in an asked binding
``""`` means none was given, or ``0.0.0.0`` was (the network's host binding address applies,
``0.0.0.0`` unless the network says otherwise); a bound binding always holds the address it
is bound to, ``0.0.0.0`` meaning every address of the node.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from controller.errors import InvalidArgument

#: What Docker's syntax accepts.
PROTOCOLS = ("tcp", "udp", "sctp")
#: What the datapath translates (its codec's protocol numbers are exactly these).
DATAPATH_PROTOCOLS = ("tcp", "udp")
ANY_ADDRESS = "0.0.0.0"
_DIGITS = re.compile(r"[0-9]+")


class PortBinding(NamedTuple):
    """A container port published on the host: asked (host port maybe open) or bound.

    A named tuple: a 30,000-port range makes 30,000 of them, three times faster than a
    frozen dataclass."""

    proto: str
    container_port: int
    host_ip: str  # asked: "" = not given (the network's); bound: the address, 0.0.0.0 = all
    host_port_low: int | None  # None = any free port of the ephemeral range
    host_port_high: int | None  # == low: that port; > low: any free port of low..high

    @classmethod
    def bound(cls, proto: str, container_port: int, host_ip: str, host_port: int) -> PortBinding:
        return cls(proto, container_port, host_ip, host_port, host_port)

    @property
    def host_port(self) -> int:
        """The one host port (0 while it is open: ephemeral or a range)."""
        low = self.host_port_low
        return low if low is not None and low == self.host_port_high else 0

    @property
    def host_port_text(self) -> str:
        """As Docker shows an asked binding: "", "8080" or "8000-8010"."""
        low, high = self.host_port_low, self.host_port_high
        if low is None:
            return ""
        return str(low) if high in (None, low) else f"{low}-{high}"

    @property
    def port(self) -> Port:
        return Port(self.container_port, self.proto)


class Port(NamedTuple):
    """A container port and its protocol (an exposed port); ``str()`` is ``80/tcp``."""

    number: int
    proto: str

    def __str__(self) -> str:
        return f"{self.number}/{self.proto}"


def _port_number(text: str) -> int | None:
    """Go's ``strconv.ParseUint(text, 10, 16)``: digits only, at most 65535."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= 65535 else None


def _port_range(text: str) -> tuple[int, int] | None:
    """``N`` or ``N-M`` with N <= M; None when malformed."""
    if "-" not in text:
        n = _port_number(text)
        return None if n is None else (n, n)
    low_s, sep, high_s = text.partition("-")
    low, high = _port_number(low_s), _port_number(high_s)
    if not sep or low is None or high is None or high < low:
        return None
    return low, high


def _split_parts(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _split_proto(text: str) -> tuple[str, str]:
    """``"80/udp"`` → ``("udp", "80")``; default proto tcp; no port → ``("", "")``."""
    port, _, proto = text.partition("/")
    if port == "":
        return "", ""
    return (proto or "tcp"), port


def _validate_proto(proto: str) -> str:
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    return proto


def _host_ip(ip: str) -> str:
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise InvalidArgument(f"invalid IP address {ip}: missing ']' in address")
        ip = ip[1:-1]
    if ip == "":
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {ip}") from None
    if addr.version == 6:
        raise InvalidArgument(f"IPv6 host addresses are not supported: {ip}")
    return "" if addr == ipaddress.IPv4Address(0) else str(addr)


def parse_publish(spec: str) -> list[PortBinding]:
    """Parse one ``-p`` value into one asked binding per container port."""
    ip, host_port, container_port = _split_parts(spec)
    proto, container_port = _split_proto(container_port)
    if container_port == "":
        raise InvalidArgument(f"no port specified: {spec}<empty>")
    proto = _validate_proto(proto)
    host_ip = _host_ip(ip)

    c_range = _port_range(container_port)
    if c_range is None or c_range[0] == 0:
        raise InvalidArgument(f"invalid containerPort: {container_port}")
    c_low, c_high = c_range

    h_low = h_high = 0
    if host_port != "":
        h_range = _port_range(host_port)
        if h_range is None:
            raise InvalidArgument(f"invalid hostPort: {host_port}")
        h_low, h_high = h_range
        if (c_high - c_low) != (h_high - h_low) and c_high != c_low:
            raise InvalidArgument(
                "invalid ranges specified for container and host Ports: "
                f"{container_port} and {host_port}"
            )

    ports = range(c_low, c_high + 1)
    if host_port == "" or (h_low == 0 and h_high == 0):  # ephemeral
        return [PortBinding(proto, port, host_ip, None, None) for port in ports]
    if len(ports) == 1:  # one port, or any free one of a host range
        return [PortBinding(proto, c_low, host_ip, h_low, h_high)]
    return [PortBinding(proto, port, host_ip, port - c_low + h_low, port - c_low + h_low)
            for port in ports]  # fmt: skip


def parse_expose(spec: str) -> list[Port]:
    """Parse one ``--expose`` value (``80``, ``80/udp``, ``8000-8002/tcp``)."""
    if ":" in spec:
        raise InvalidArgument(f"invalid port format for --expose: {spec}")
    proto, port = _split_proto(spec)
    proto = _validate_proto(proto or "tcp")
    rng = _port_range(port)
    if rng is None or rng[0] == 0:
        raise InvalidArgument(f"invalid range format for --expose: {spec}")
    return [Port(p, proto) for p in range(rng[0], rng[1] + 1)]


def exposed(expose: Iterable[str], published: Iterable[PortBinding]) -> list[Port]:
    """``--expose`` values and the published container ports, each once, in order given."""
    ports: dict[Port, None] = {}
    for spec in expose:
        ports.update(dict.fromkeys(parse_expose(spec)))
    ports.update(dict.fromkeys(Port(b.container_port, b.proto) for b in published))
    return list(ports)


def require_datapath_protocols(bindings: Iterable[PortBinding]) -> None:
    """Refuse a binding the datapath cannot translate (SCTP parses, as in Docker)."""
    for b in bindings:
        if b.proto not in DATAPATH_PROTOCOLS:
            raise InvalidArgument(
                f"publishing {b.proto} ports is not supported by Hawser's datapath: "
                f"{b.container_port}/{b.proto}"
            )
