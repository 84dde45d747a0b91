"""What ``run`` asks for, and Docker's rules for it that need no state: the network mode's
conflicts, the published and exposed ports, random names, signal names."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.errors import Conflict, InvalidArgument
from controller.rules import portspec
from controller.rules.portspec import Port, PortBinding

HOST_PORTS_DISCARDED = "Published ports are discarded when using host network mode"
_ADJECTIVES = ("brave", "calm", "eager", "fond", "keen", "lucid", "quiet", "swift", "tidy", "wise")
_NOUNS = ("anchor", "buoy", "cleat", "dock", "harbor", "keel", "mast", "pier", "rope", "sail")


@dataclass
class RunRequest:
    name: str | None = None
    network: str = "bridge"
    ip: str | None = None
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    expose: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    auto_remove: bool = False
    detach: bool = True  # False: created only (``create``, or started by an attached start)
    tty: bool = False
    open_stdin: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    restart_policy: str = "no"
    restart_max: int = 0
    extra_hosts: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    mac_address: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> RunRequest:
        def strings(key: str) -> list[str]:
            value = body.get(key) or []
            if not isinstance(value, list):
                raise InvalidArgument(f"{key} must be a list of strings")
            return [str(v) for v in value]

        policy = body.get("RestartPolicy") or {}
        return cls(
            name=body.get("Name") or None,
            network=str(body.get("Network") or "bridge"),
            ip=body.get("IP") or None,
            hostname=body.get("Hostname") or None,
            dns=strings("Dns"),
            env=strings("Env"),
            cmd=strings("Cmd"),
            publish=strings("Publish"),
            publish_all=bool(body.get("PublishAll")),
            expose=strings("Expose"),
            links=strings("Links"),
            aliases=strings("NetworkAliases"),
            auto_remove=bool(body.get("AutoRemove")),
            detach=bool(body.get("Detach", True)),
            tty=bool(body.get("Tty")),
            open_stdin=bool(body.get("OpenStdin")),
            labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
            restart_policy=str(policy.get("Name") or "no"),
            restart_max=int(policy.get("MaximumRetryCount") or 0),
            extra_hosts=strings("ExtraHosts"),
            dns_search=strings("DnsSearch"),
            dns_options=strings("DnsOptions"),
            mac_address=str(body.get("MacAddress") or ""),
            sysctls={str(k): str(v) for k, v in (body.get("Sysctls") or {}).items()},
        )


def random_name(taken: Callable[[str], bool]) -> str:
    """Docker-like ``adjective_noun<n>`` that ``taken`` says is free."""
    while True:
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}{random.randint(0, 99)}"
        if not taken(name):
            return name


def mode_kind(network: str) -> str:
    """``--network`` as one of bridge, host, none, container, user (a named network)."""
    if network in ("bridge", "default"):
        return "bridge"
    if network in ("host", "none"):
        return network
    if network.startswith("container:"):
        return "container"
    return "user"


def check_mode_conflicts(req: RunRequest, kind: str) -> list[str]:
    """Docker's refusals per network mode; returns warnings."""
    warnings: list[str] = []
    if kind == "host":
        if req.links:
            raise Conflict(
                "conflicting options: host type networking can't be used with links. "
                "This would result in undefined behavior"
            )
        if req.publish or req.publish_all:
            warnings.append(HOST_PORTS_DISCARDED)
    if kind == "container":
        if req.publish or req.publish_all or req.expose:
            raise Conflict(
                "conflicting options: port publishing and the container type network mode"
            )
        if req.links:
            raise Conflict(
                "conflicting options: container type network can't be used with links. "
                "This would result in undefined behavior"
            )
        if req.dns or req.dns_search or req.dns_options:
            raise Conflict("conflicting options: dns and the network mode")
        if req.extra_hosts:
            raise Conflict("conflicting options: custom host-to-IP mapping and the network mode")
        if req.hostname:
            raise Conflict("conflicting options: hostname and the network mode")
    if req.mac_address and kind not in ("bridge", "user"):
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if kind == "host" and (req.extra_hosts or req.dns_search or req.dns_options or req.dns):
        raise InvalidArgument(
            "conflicting options: --dns, --dns-search, --dns-option and --add-host with the "
            "host network mode (its processes read the node's own /etc files)"
        )
    if req.auto_remove and req.restart_policy not in ("no", ""):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if req.ip and kind != "user":
        raise InvalidArgument(
            "user specified IP address is supported on user defined networks only"
        )
    if req.aliases and kind != "user":
        raise InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    return warnings


def port_requests(req: RunRequest) -> tuple[list[PortBinding], list[PortBinding], list[Port]]:
    """The -p bindings as given; those plus -P's ephemeral ones; and the exposed ports."""
    given = [b for spec in req.publish for b in portspec.parse_publish(spec)]
    portspec.require_datapath_protocols(given)
    exposed = portspec.exposed(req.expose, given)
    asked = list(given)
    if req.publish_all:
        published = {b.port for b in given}
        asked += [
            PortBinding(p.proto, p.number, "", None, None) for p in exposed if p not in published
        ]
    return given, asked, exposed


def parse_signal(text: str) -> int:
    """Docker's signal names and numbers: KILL, SIGINT, 15 …"""
    name = text.strip().upper()
    if name.isdigit() and int(name) in {s.value for s in signal.Signals}:
        return int(name)
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {text}") from None
