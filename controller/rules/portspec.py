"""Docker's port syntax: ``-p`` specs, ``--expose``, and the ``ps``/``port`` displays.

Parsing follows go-connections ``nat.ParsePortSpec`` (order of checks and error
texts). Hawser is IPv4-only: an IPv6 host address parses (brackets stripped)
and is then refused with ``IPv6 host addresses are not supported: <ip>``.
``0.0.0.0`` and an empty host IP both mean "every host address" and are
normalised to ``""``; a host port of ``0`` means ephemeral like Docker's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from controller.errors import HawserError, InvalidArgument, NotFound

PROTOCOLS = ("tcp", "udp", "sctp")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class PortRequest:
    """One container port to publish, after expanding ranges."""

    proto: str
    container_port: int
    host_ip: str  # "" = every host address
    host_port_low: int | None  # None = ephemeral
    host_port_high: int | None  # == low for a fixed port; > low for "one free port of low-high"


@dataclass(frozen=True)
class Binding:
    """A published port as stored."""

    proto: str
    container_port: int
    host_ip: str  # "" or "0.0.0.0" = every host address
    host_port: int


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


def parse_publish(spec: str) -> list[PortRequest]:
    """Parse one ``-p`` value into one request per container port."""
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

    count = c_high - c_low + 1
    requests = []
    for i in range(count):
        low: int | None
        high: int | None
        if host_port == "" or (h_low == 0 and h_high == 0):
            low = high = None
        elif count == 1:
            low, high = h_low, h_high
        else:
            low = high = h_low + i
        requests.append(PortRequest(proto, c_low + i, host_ip, low, high))
    return requests


def parse_expose(spec: str) -> list[tuple[int, str]]:
    """Parse one ``--expose`` value (``80``, ``80/udp``, ``8000-8002/tcp``)."""
    if ":" in spec:
        raise InvalidArgument(f"invalid port format for --expose: {spec}")
    proto, port = _split_proto(spec)
    proto = _validate_proto(proto or "tcp")
    rng = _port_range(port)
    if rng is None or rng[0] == 0:
        raise InvalidArgument(f"invalid range format for --expose: {spec}")
    return [(p, proto) for p in range(rng[0], rng[1] + 1)]


def parse_private_port(spec: str) -> tuple[int, str]:
    """``"80"`` or ``"80/udp"`` as given to ``port NAME PRIVATE``."""
    port, _, proto = spec.partition("/")
    proto = _validate_proto(proto or "tcp")
    number = _port_number(port)
    if number is None:
        raise InvalidArgument(f'strconv.ParseUint: parsing "{port}": invalid syntax')
    return number, proto


def ephemeral_port_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    """The kernel's ephemeral range (this function's only I/O)."""
    with open(path, encoding="ascii") as fh:
        fields = fh.read().split()
    low, high = int(fields[0]), int(fields[1])
    if not 0 < low <= high <= 65535:
        raise HawserError(f"invalid ephemeral port range in {path}: {low} {high}")
    return low, high


def _display_ip(host_ip: str) -> str:
    return host_ip or "0.0.0.0"


def _form_group(key: tuple[str, str], first: int, last: int) -> str:
    ip, proto = key
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{proto}"


def format_ports_column(
    bindings: Iterable[Binding], exposed: Iterable[tuple[int, str]] = ()
) -> str:
    """Docker's ``ps`` PORTS column (cli ``DisplayablePorts``).

    Ports whose host port equals the container port are grouped into ranges
    per (host IP, proto), as are exposed-only ports; other mappings are listed
    one by one after the groups.
    """
    published = list(bindings)
    bound = {(b.container_port, b.proto) for b in published}
    # (private, ip, public, proto); ip "" marks an exposed-only port.
    rows = [(b.container_port, _display_ip(b.host_ip), b.host_port, b.proto) for b in published]
    rows += [(p, "", 0, proto) for p, proto in set(exposed) if (p, proto) not in bound]
    rows.sort()

    groups: dict[tuple[str, str], list[int]] = {}
    order: list[tuple[str, str]] = []
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in rows:
        if ip and public != private:
            mappings.append(f"{ip}:{public}->{private}/{proto}")
            continue
        key = (ip, proto)
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(key, group[0], group[1]))
            groups[key] = [private, private]
    result += [_form_group(k, *groups[k]) for k in order]
    return ", ".join(result + mappings)


def format_port_lines(
    bindings: Iterable[Binding], private: str | None = None, container: str = ""
) -> list[str]:
    """``hawser port NAME [PRIVATE]`` output lines, sorted.

    Without ``private``: ``"80/tcp -> 0.0.0.0:8080"``; with it: ``"0.0.0.0:8080"``.
    Raises NotFound when ``private`` is not published.
    """
    items = sorted(
        bindings, key=lambda b: (b.container_port, b.proto, _display_ip(b.host_ip), b.host_port)
    )
    if private is None:
        return [
            f"{b.container_port}/{b.proto} -> {_display_ip(b.host_ip)}:{b.host_port}" for b in items
        ]
    port, proto = parse_private_port(private)
    lines = [
        f"{_display_ip(b.host_ip)}:{b.host_port}"
        for b in items
        if b.container_port == port and b.proto == proto
    ]
    if not lines:
        raise NotFound(f"no public port '{port}/{proto}' published for {container}")
    return lines
