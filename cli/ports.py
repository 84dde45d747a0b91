"""Published ports as Docker's CLI shows them: the ``ps`` PORTS column and ``port``.

Both are formatted here from the API's JSON, as Docker's CLI does (``DisplayablePorts``,
``docker port``): the list entry's ``Ports`` (``IP``/``PrivatePort``/``PublicPort``/``Type``;
no ``PublicPort`` for a port that is only exposed) and inspect's ``NetworkSettings.Ports``
(``"80/tcp": [{"HostIp", "HostPort"}]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import click

from cli import formatter
from cli.client import Client, CliError, pass_client, path_for
from cli.completion import complete_containers

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


@click.command("port")
@click.option(
    "--format", "fmt", metavar="string",
    help="Format the mappings with a Go template (fields .ContainerPort .HostIP .HostPort)",
)  # fmt: skip
@click.argument("container", shell_complete=complete_containers)
@click.argument("private", required=False)
@pass_client
def port(client: Client, fmt: str | None, container: str, private: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    if fmt:
        formatter.parse(formatter.template_text(fmt))
    info = client.get(path_for("containers", container)) or {}
    lines = port_lines((info.get("NetworkSettings") or {}).get("Ports") or {}, private, container)
    if not fmt:
        for line in lines:
            click.echo(line)
        return
    rows = [formatter.PortContext(port_fields(line, private)) for line in lines]
    template, _ = formatter.listing_format(fmt, False, formatter.PORT_TABLE, fmt, fmt)
    formatter.echo(formatter.render(template, rows, formatter.PORT_HEADERS))


def port_fields(line: str, private: str | None) -> dict[str, str]:
    """One line of ``port`` (``80/tcp -> 0.0.0.0:8080``, or ``0.0.0.0:8080`` when a port
    was asked for) as the fields of ``port --format``."""
    if " -> " in line:
        container_port, _, host = line.partition(" -> ")
    else:
        container_port, host = private or "", line
        if container_port and "/" not in container_port:
            container_port += "/tcp"
    host_ip, _, host_port = host.rpartition(":")
    return {
        "ContainerPort": container_port,
        "HostIP": host_ip.strip("[]"),
        "HostPort": host_port,
    }
