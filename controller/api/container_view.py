"""Containers as the API shows them: Docker's list entry and inspect document."""

from __future__ import annotations

import datetime
from typing import Any

from controller.kernel import netns
from controller.kernel.supervisor import is_running
from controller.ops import lookup
from controller.ops.node import Node
from controller.rules import humanize, legacy_links, timestamps
from controller.rules.model import Container

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: never started, never finished


def state(ctr: Container) -> str:
    """Docker's ``State.Status``: created, running, restarting or exited."""
    if ctr.status == "restarting":
        return "restarting"
    return "running" if is_running(ctr) else ctr.status


def status_text(ctr: Container) -> str:
    now = datetime.datetime.now(datetime.UTC)
    if ctr.status == "restarting":
        since = humanize.duration(
            (now - timestamps.parse(ctr.finished or ctr.created)).total_seconds()
        )
        return f"Restarting ({ctr.exit_code}) {since} ago"
    if ctr.status == "running":
        return "Up " + humanize.duration(
            (now - timestamps.parse(ctr.started or ctr.created)).total_seconds()
        )
    if ctr.status == "exited":
        since = humanize.duration(
            (now - timestamps.parse(ctr.finished or ctr.created)).total_seconds()
        )
        return f"Exited ({ctr.exit_code}) {since} ago"
    return "Created"


def _ports_dicts(node: Node, ctr: Container) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The bound bindings and exposed ports as Docker's list entry (``Ports``) and inspect
    (``NetworkSettings.Ports``) show them."""
    listing: list[dict[str, Any]] = []
    mapping: dict[str, Any] = {str(port): None for port in ctr.expose}
    bound = set()
    for b in node.store.bindings(ctr.id):
        listing.append(
            {"IP": b.host_ip, "PrivatePort": b.container_port, "PublicPort": b.host_port,
             "Type": b.proto}
        )  # fmt: skip
        bound.add(b.port)
        key = str(b.port)
        mapping[key] = (mapping.get(key) or []) + [
            {"HostIp": b.host_ip, "HostPort": str(b.host_port)}
        ]
    listing += [
        {"PrivatePort": port.number, "Type": port.proto} for port in ctr.expose if port not in bound
    ]
    return listing, mapping


def _networks_dict(node: Node, ctr: Container) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ep in node.store.endpoints(container_id=ctr.id):
        net = node.store.network(ep.network_id)
        if net is None:
            continue
        out[net.name] = {
            "NetworkID": net.id,
            "EndpointID": ep.id,
            "Gateway": ep.gateway,
            "IPAddress": ep.ip,
            "IPPrefixLen": ep.prefixlen,
            "MacAddress": ep.mac,
            "Aliases": list(ep.aliases) + ([ctr.id[:12]] if net.name != "bridge" else []),
        }
    if not out and ctr.network_mode in ("host", "none"):
        net = lookup.network(node.store, ctr.network_mode)
        out[net.name] = {
            "NetworkID": net.id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "MacAddress": "",
            "Aliases": None,
        }
    return out


def summary(node: Node, ctr: Container) -> dict[str, Any]:
    """Docker's list entry, plus ``RunningFor`` (``ps``'s CREATED text, so the CLI formats no
    durations)."""
    listing, _ = _ports_dicts(node, ctr)
    created = timestamps.parse(ctr.created).timestamp()
    age = datetime.datetime.now(datetime.UTC).timestamp() - created
    return {
        "Id": ctr.id,
        "Names": ["/" + ctr.name],
        "Command": " ".join(ctr.cmd),
        "Created": int(created),
        "Labels": dict(ctr.labels),
        "State": state(ctr),
        "Status": status_text(ctr),
        "ExitCode": ctr.exit_code,
        "RunningFor": humanize.duration(max(0.0, age)) + " ago",
        "Ports": listing,
        "NetworkSettings": {"Networks": _networks_dict(node, ctr)},
        "Owner": ctr.owner,  # who made it: hawser, docker or cni (Hawser's own field)
    }


def inspect(node: Node, ctr: Container) -> dict[str, Any]:
    _, mapping = _ports_dicts(node, ctr)
    networks = _networks_dict(node, ctr)
    first = next(iter(node.store.endpoints(container_id=ctr.id)), None)
    port_bindings: dict[str, list[dict[str, str]]] = {}
    for b in node.store.port_requests(ctr.id):
        port_bindings.setdefault(str(b.port), []).append(
            {"HostIp": b.host_ip, "HostPort": b.host_port_text}
        )
    return {
        "Id": ctr.id,
        "Name": "/" + ctr.name,
        "Created": ctr.created,
        "Path": ctr.cmd[0] if ctr.cmd else "",
        "Args": ctr.cmd[1:],
        "State": {
            "Status": state(ctr),
            "Running": is_running(ctr) or ctr.status == "restarting",
            "Paused": False,
            "Restarting": ctr.status == "restarting",
            "Dead": False,
            "Pid": ctr.pid if is_running(ctr) else 0,
            "ExitCode": ctr.exit_code,
            "Error": ctr.error,
            "StartedAt": ctr.started or ZERO_TIME,
            "FinishedAt": ctr.finished or ZERO_TIME,
        },
        "RestartCount": ctr.restart_count,
        "Config": {
            "Hostname": ctr.hostname,
            "Env": list(ctr.env),
            "Cmd": list(ctr.cmd),
            "Tty": ctr.tty,
            "OpenStdin": ctr.open_stdin,
            "StdinOnce": False,
            "ExposedPorts": {str(port): {} for port in ctr.expose},
            "Labels": dict(ctr.labels),
            "MacAddress": ctr.mac_address,
        },
        "HostConfig": {
            "NetworkMode": ctr.network_mode,
            "RestartPolicy": {
                "Name": ctr.restart_policy,
                "MaximumRetryCount": ctr.restart_max,
            },
            "ExtraHosts": list(ctr.extra_hosts) or None,
            "DnsSearch": list(ctr.dns_search),
            "DnsOptions": list(ctr.dns_options),
            "Sysctls": dict(ctr.sysctls) or None,
            "PortBindings": port_bindings,
            "Links": [
                f"/{legacy_links.parse_link(s)[0]}:/{ctr.name}/{legacy_links.parse_link(s)[1]}"
                for s in ctr.links
            ]
            or None,
            "Dns": list(ctr.dns),
            "AutoRemove": ctr.auto_remove,
            "PublishAllPorts": ctr.publish_all,
        },
        "Owner": ctr.owner,
        "EngineId": ctr.engine_id,
        "NetworkSettings": {
            "SandboxKey": str(netns.path(ctr.netns)) if ctr.netns else ctr.sandbox_key,
            "IPAddress": first.ip if first else "",
            "Gateway": first.gateway if first else "",
            "MacAddress": first.mac if first else "",
            "IPPrefixLen": first.prefixlen if first else 0,
            "Ports": mapping,
            "Networks": networks,
        },
    }
