"""CNI spec 1.0.0 for a plugin: the environment, the stdin configuration, results and errors.

Pure and cheap to import (json only; no dataclasses, typing or ipaddress at run time): the
plugin is a fresh process per call and its wall time is the runtime's.
"""

from __future__ import annotations

import json

CNI_VERSION = "1.0.0"
SUPPORTED_VERSIONS = ("0.3.1", "0.4.0", "1.0.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION")

# the spec's well-known error codes; 100 and up are the plugin's own
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
HAWSER_REFUSED = 100  # the daemon refused the request (its message says why)

PORT_PROTOCOLS = ("tcp", "udp", "sctp")


class CniError(Exception):
    """Printed on stdout as the spec's error object; the plugin exits 1."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str = CNI_VERSION) -> dict[str, object]:
        out: dict[str, object] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


class Invocation:
    """One call: the CNI_* environment and the parsed stdin configuration."""

    __slots__ = ("command", "container_id", "netns", "ifname", "args", "path", "config")

    def __init__(
        self,
        command: str,
        container_id: str,
        netns: str,
        ifname: str,
        args: dict[str, str],
        path: list[str],
        config: dict[str, object],
    ) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
        self.config = config

    @property
    def version(self) -> str:
        return str(self.config.get("cniVersion", CNI_VERSION))

    @property
    def network(self) -> str:
        """The Hawser network: the config's ``network`` key, else the CNI network's name."""
        return str(self.config.get("network") or self.config.get("name") or "")


def parse_args(raw: str) -> dict[str, str]:
    """``CNI_ARGS``: ``K=V;K2=V2`` (``IgnoreUnknown=1`` included like any other pair)."""
    out = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CniError(INVALID_ENVIRONMENT, f"invalid CNI_ARGS pair {item!r}: want KEY=VALUE")
        out[key] = value
    return out


def _need(env: dict[str, str], name: str, command: str) -> str:
    value = env.get(name, "")
    if not value:
        raise CniError(INVALID_ENVIRONMENT, f"{name} is required for {command}")
    return value


def check_version(version: object) -> str:
    if not isinstance(version, str) or not version:
        raise CniError(INVALID_CONFIG, "cniVersion is required in the network configuration")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"incompatible CNI versions: config is {version!r}, "
            f"plugin supports {list(SUPPORTED_VERSIONS)}",
        )
    return version


def parse_config(stdin: bytes) -> dict[str, object]:
    try:
        config = json.loads(stdin) if stdin.strip() else {}
    except ValueError as exc:
        raise CniError(
            DECODING_FAILURE, f"network configuration is not valid JSON: {exc}"
        ) from None
    if not isinstance(config, dict):
        raise CniError(DECODING_FAILURE, "network configuration must be a JSON object")
    return config


def parse_invocation(env: dict[str, str], stdin: bytes) -> Invocation:
    """Validate what the runtime passed. ``VERSION`` needs nothing but the command; ``DEL``
    needs no netns (the runtime may have deleted it already)."""
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(INVALID_ENVIRONMENT, f"CNI_COMMAND must be one of {', '.join(COMMANDS)}")
    config = parse_config(stdin)
    if command == "VERSION":
        return Invocation(command, "", "", "", {}, [], config)
    check_version(config.get("cniVersion"))
    if not isinstance(config.get("name"), str) or not config["name"]:
        raise CniError(INVALID_CONFIG, "name is required in the network configuration")
    container_id = _need(env, "CNI_CONTAINERID", command)
    ifname = _need(env, "CNI_IFNAME", command)
    netns = env.get("CNI_NETNS", "")
    if command != "DEL" and not netns:
        raise CniError(INVALID_ENVIRONMENT, f"CNI_NETNS is required for {command}")
    if command == "CHECK":
        if config["cniVersion"] == "0.3.1":
            raise CniError(INCOMPATIBLE_VERSION, "CHECK is not supported before CNI 0.4.0")
        if not isinstance(config.get("prevResult"), dict):
            raise CniError(INVALID_CONFIG, "CHECK needs prevResult in the network configuration")
    prev = config.get("prevResult")
    if prev is not None and not isinstance(prev, dict):
        raise CniError(INVALID_CONFIG, "prevResult must be an object")
    return Invocation(
        command,
        container_id,
        netns,
        ifname,
        parse_args(env.get("CNI_ARGS", "")),
        [p for p in env.get("CNI_PATH", "").split(":") if p],
        config,
    )


def port_mappings(config: dict[str, object]) -> list[dict[str, object]]:
    """``runtimeConfig.portMappings`` (libcni fills it when the plugin's config declares
    ``"capabilities": {"portMappings": true}``), checked and normalised: protocol lower-case,
    ``hostIP`` "" for every address."""
    runtime = config.get("runtimeConfig") or {}
    if not isinstance(runtime, dict):
        raise CniError(INVALID_CONFIG, "runtimeConfig must be an object")
    raw = runtime.get("portMappings") or []
    if not isinstance(raw, list):
        raise CniError(INVALID_CONFIG, "runtimeConfig.portMappings must be a list")
    out = []
    for i, item in enumerate(raw):
        where = f"runtimeConfig.portMappings[{i}]"
        if not isinstance(item, dict):
            raise CniError(INVALID_CONFIG, f"{where} must be an object")
        ports = {}
        for key in ("hostPort", "containerPort"):
            value = item.get(key)
            low = 0 if key == "hostPort" else 1
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 65535:
                raise CniError(
                    INVALID_CONFIG, f"{where}.{key} must be a port number, not {value!r}"
                )
            ports[key] = value
        proto = str(item.get("protocol") or "tcp").lower()
        if proto not in PORT_PROTOCOLS:
            raise CniError(INVALID_CONFIG, f"{where}.protocol {proto!r} is not tcp, udp or sctp")
        host_ip = item.get("hostIP") or ""
        if not isinstance(host_ip, str):
            raise CniError(INVALID_CONFIG, f"{where}.hostIP must be a string")
        out.append(
            {
                "hostPort": ports["hostPort"],
                "containerPort": ports["containerPort"],
                "protocol": proto,
                "hostIP": "" if host_ip == "0.0.0.0" else host_ip,
            }
        )
    return out


def version_result(config: dict[str, object]) -> dict[str, object]:
    """The ``VERSION`` answer; its ``cniVersion`` echoes the caller's when we support it."""
    asked = config.get("cniVersion")
    version = asked if asked in SUPPORTED_VERSIONS else CNI_VERSION
    return {"cniVersion": version, "supportedVersions": list(SUPPORTED_VERSIONS)}


def _list(obj: dict[str, object], key: str) -> list[object]:
    value = obj.get(key)
    return list(value) if isinstance(value, list) else []


def merge_prev(prev: dict[str, object] | None, ours: dict[str, object]) -> dict[str, object]:
    """Chained after another interface plugin: keep its interfaces and IPs, append ours (our
    IPs' ``interface`` indexes shifted), routes added to its, our DNS unless we have none."""
    if not prev:
        return ours
    shift = len(_list(prev, "interfaces"))
    ips = _list(prev, "ips")
    for ip in _list(ours, "ips"):
        if isinstance(ip, dict) and isinstance(ip.get("interface"), int):
            ip = {**ip, "interface": ip["interface"] + shift}
        ips.append(ip)
    merged: dict[str, object] = {
        "interfaces": _list(prev, "interfaces") + _list(ours, "interfaces"),
        "ips": ips,
        "routes": _list(prev, "routes") + _list(ours, "routes"),
    }
    dns = ours.get("dns") or prev.get("dns")
    if dns:
        merged["dns"] = dns
    return merged


def convert_result(result: dict[str, object], version: str) -> dict[str, object]:
    """A 1.0.0-shaped result in the caller's version: 0.3.1 and 0.4.0 mark each IP with
    ``"version": "4"`` (or ``"6"``); 1.0.0 has no such field."""
    out: dict[str, object] = {"cniVersion": version}
    out.update((k, v) for k, v in result.items() if k != "cniVersion")
    ips = []
    for ip in _list(result, "ips"):
        if isinstance(ip, dict):
            ip = {k: v for k, v in ip.items() if k != "version"}
            if version != "1.0.0":
                ip["version"] = "6" if ":" in str(ip.get("address", "")) else "4"
        ips.append(ip)
    out["ips"] = ips
    return out
