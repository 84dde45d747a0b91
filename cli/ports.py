"""Published ports as Docker's CLI shows them: the ``ps`` PORTS column and ``port`` lines.

Both are formatted here from the API's JSON, as Docker's CLI does (``DisplayablePorts``,
``docker port``): the list entry's ``Ports`` (``IP``/``PrivatePort``/``PublicPort``/``Type``;
no ``PublicPort`` for a port that is only exposed) and inspect's ``NetworkSettings.Ports``
(``"80/tcp": [{"HostIp", "HostPort"}]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from cli.client import CliError

PROTOCOLS = ("tcp", "udp", "sctp")
_DIGITS = re.compile(r"[0-9]+")


def _display_ip(host_ip: str) -> str:
    return host_ip or "0.0.0.0"


def _group(ip: str, proto: str, first: int, last: int) -> str:
    span = str(first) if first == last else f"{first}-{last}"
    if ip:
        span = f"{ip}:{span}->{span}"
    return f"{span}/{proto}"


def ports_column(ports: Iterable[Mapping[str, Any]]) -> str:
    """Docker's ``ps`` PORTS column.

    Ports whose host port equals the container port are grouped into ranges per (host IP,
    proto), as are exposed-only ports; other mappings are listed one by one after the groups.
    """
    published = [p for p in ports if p.get("PublicPort")]
    bound = {(int(p["PrivatePort"]), p.get("Type", "tcp")) for p in published}
    # (private, ip, public, proto); ip "" marks an exposed-only port
    rows = {
        (int(p["PrivatePort"]), _display_ip(p.get("IP") or ""), int(p["PublicPort"]),
         p.get("Type", "tcp"))
        for p in published
    }  # fmt: skip
    rows |= {
        (int(p["PrivatePort"]), "", 0, p.get("Type", "tcp"))
        for p in ports
        if not p.get("PublicPort") and (int(p["PrivatePort"]), p.get("Type", "tcp")) not in bound
    }
    groups: dict[tuple[str, str], list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in sorted(rows):
        if ip and public != private:
            mappings.append(f"{ip}:{public}->{private}/{proto}")
            continue
        group = groups.get((ip, proto))
        if group is None:
            groups[(ip, proto)] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_group(ip, proto, *group))
            groups[(ip, proto)] = [private, private]
    result += [_group(ip, proto, *span) for (ip, proto), span in groups.items()]
    return ", ".join(result + mappings)


def parse_private_port(spec: str) -> tuple[int, str]:
    """``80`` or ``80/udp`` as given to ``port NAME PRIVATE`` (Docker's texts)."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise CliError(f"invalid proto: {proto}")
    if not _DIGITS.fullmatch(port) or int(port) > 65535:
        raise CliError(f'strconv.ParseUint: parsing "{port}": invalid syntax')
    return int(port), proto


def port_lines(
    ports: Mapping[str, Any], private: str | None = None, container: str = ""
) -> list[str]:
    """``hawser port NAME [PRIVATE]`` lines, sorted, from inspect's ``NetworkSettings.Ports``.

    Without ``private``: ``80/tcp -> 0.0.0.0:8080``; with it: ``0.0.0.0:8080``.
    """
    items = []
    for key, hosts in ports.items():
        number, _, proto = key.partition("/")
        for host in hosts or []:
            ip = _display_ip(host.get("HostIp") or "")
            items.append((int(number), proto or "tcp", ip, int(host["HostPort"])))
    items.sort()
    if private is None:
        return [f"{port}/{proto} -> {ip}:{host_port}" for port, proto, ip, host_port in items]
    want = parse_private_port(private)
    lines = [f"{ip}:{host_port}" for port, proto, ip, host_port in items if (port, proto) == want]
    if not lines:
        raise CliError(f"no public port '{want[0]}/{want[1]}' published for {container}")
    return lines
