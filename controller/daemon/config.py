"""Daemon configuration: each parameter declared once, read from flag, environment or file.

Precedence: command-line flag > environment variable (``HAWSER_<NAME>``) > config file
(JSON object, ``--config-file``) > default. Unknown keys in the file are an error.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.cluster import options as cluster_options
from controller.errors import InvalidArgument


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v)]
    return [part for part in re.split(r"[,\s]+", str(value)) if part]


def _cidr_or_empty(value: Any) -> str:
    text = str(value or "")
    if text:
        ipaddress.IPv4Interface(text)
    return text


def _ip_or_empty(value: Any) -> str:
    text = str(value or "")
    if text:
        ipaddress.IPv4Address(text)
    return text


def _pools(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value] if value else []
    return [str(v) for v in items]


def _upstreams(value: Any) -> list[str]:
    items = _str_list(value)
    for item in items:
        host, sep, port = item.rpartition(":") if item.count(":") == 1 else ("", "", "")
        ipaddress.ip_address(host if sep else item)
        if sep and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"bad port in {item!r}")
    return items


def _cluster(check: Callable[[str], Any]) -> Callable[[Any], str]:
    """A cluster option's syntax check (controller.cluster.options), as a ValueError."""

    def parse(value: Any) -> str:
        text = str(value or "").strip()
        if text:
            try:
                check(text)
            except InvalidArgument as exc:
                raise ValueError(exc.message) from None
        return text

    return parse


def _store_opts(value: Any) -> list[str]:
    items = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value or "")]
    items = [item for item in items if item.strip()]
    try:
        cluster_options.parse_store_opts(items)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None
    return items


def _docker_host(value: Any) -> str:
    text = str(value or "")
    if text and (not text.startswith("unix://") or text == "unix://"):
        raise ValueError('use unix:///PATH (or "" for none)')
    return text


def _sample_rate(value: Any) -> int:
    rate = int(str(value).strip())
    if not 0 <= rate < 2**32:
        raise ValueError("use 0 (off) or N >= 1: one traced packet in N")
    return rate


def _group(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?|[0-9]+", text):
        raise ValueError("use a group name or a numeric group id")
    return text


def _node_name(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,15}", text):
        raise ValueError("use 1-16 lower-case letters, digits or '-'")
    return text


@dataclass(frozen=True)
class Parameter:
    name: str  # python attribute and file key
    flag: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    multiple: bool = False

    @property
    def env(self) -> str:
        return "HAWSER_" + self.name.upper()


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("state_dir", "--state-dir", str, "/var/lib/hawser", "where the store and logs live"),
    Parameter("socket", "--socket", str, "/run/hawser/hawser.sock", "API unix socket"),
    Parameter(
        "metrics_address",
        "--metrics-address",
        str,
        "127.0.0.1:9323",
        "Prometheus endpoint HOST:PORT (empty disables)",
    ),
    Parameter(
        "group",
        "--group",
        _group,
        "hawser",
        "group that owns the API socket (mode 0660); the default group may be missing "
        "(the socket is then root's), a group named here must exist",
    ),
    Parameter("uplink", "--uplink", _str_list, [], "uplink interface (repeatable)", True),
    Parameter("node_name", "--node-name", _node_name, "main", "prefix of netns and bpffs pins"),
    Parameter(
        "bip", "--bip", _cidr_or_empty, "", "default bridge IP and prefix, e.g. 172.17.0.1/16"
    ),
    Parameter(
        "fixed_cidr", "--fixed-cidr", _cidr_or_empty, "", "IPv4 range for the default bridge"
    ),
    Parameter("icc", "--icc", _bool, True, "inter-container communication on the default bridge"),
    Parameter("ip_masq", "--ip-masq", _bool, True, "masquerade the default bridge's egress"),
    Parameter("ip", "--ip", _ip_or_empty, "0.0.0.0", "default host IP for published ports"),
    Parameter("mtu", "--mtu", int, 1500, "MTU of the default bridge"),
    Parameter(
        "default_address_pool",
        "--default-address-pool",
        _pools,
        [],
        "base=CIDR,size=N (repeatable)",
        True,
    ),
    Parameter(
        "trace_sample_rate",
        "--trace-sample-rate",
        _sample_rate,
        0,
        "trace 1 of N forwarded packets for `hawser monitor --type trace` (0 = off); "
        "PUT /v1/monitor/config changes it at run time, and a `hawser monitor "
        "--trace-sample-rate N` raises it while it runs",
    ),
    Parameter(
        "metrics_port_detail",
        "--metrics-port-detail",
        _bool,
        False,
        "also export one series per published host port (hawser_port_detail_*); by default "
        "a binding, a whole range included, is one series",
    ),
    Parameter(
        "cgroup_path", "--cgroup-path", str, "", "cgroup v2 for socket hooks (default: v2 root)"
    ),
    Parameter("log_level", "--log-level", str, "info", "debug, info, warning or error"),
    Parameter(
        "docker_plugin_socket",
        "--docker-plugin-socket",
        str,
        "/run/docker/plugins/hawser.sock",
        "unix socket of the Docker network and IPAM plugin (its file name is the driver's "
        'name: docker network create -d hawser); "" turns it off',
    ),
    Parameter(
        "docker_host",
        "--docker-host",
        _docker_host,
        "unix:///run/docker.sock",
        "dockerd's API socket, asked for the names of the networks and containers it makes "
        'through the plugin; "" never asks',
    ),
    Parameter(
        "resync_interval",
        "--resync-interval",
        float,
        30.0,
        "seconds between checks that the kernel still matches the store (jittered; 0 = off)",
    ),
    Parameter(
        "dns_upstream",
        "--dns-upstream",
        _upstreams,
        [],
        "resolver (IP or IP:PORT, repeatable) that the embedded DNS forwards to "
        "(default: the node's /etc/resolv.conf)",
        True,
    ),
    Parameter(
        "cluster_store",
        "--cluster-store",
        _cluster(cluster_options.parse_store_url),
        "",
        "etcd://HOST:PORT[,HOST:PORT...][/PREFIX] of the cluster store for overlay networks "
        "(empty: single node)",
    ),
    Parameter(
        "cluster_advertise",
        "--cluster-advertise",
        _cluster(cluster_options.parse_advertise),
        "",
        "IP or IFACE[:PORT] this node's overlay tunnels use (its underlay address)",
    ),
    Parameter(
        "cluster_store_opt",
        "--cluster-store-opt",
        _store_opts,
        [],
        "KEY=VALUE for the cluster store (repeatable): kv.cacertfile, kv.certfile, kv.keyfile, "
        "discovery.ttl (lease TTL, default 20 s), discovery.heartbeat",
        True,
    ),
)

BY_NAME = {p.name: p for p in PARAMETERS}


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def describe(self) -> str:
        return ", ".join(f"{k}={self.values[k]!r} ({self.sources[k]})" for k in sorted(self.values))

    @property
    def state_path(self) -> Path:
        return Path(self.values["state_dir"])


def load(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Merge the sources; raise InvalidArgument naming the parameter and value on bad input."""
    env = os.environ if env is None else env
    file_values: dict[str, Any] = {}
    path = config_file or env.get("HAWSER_CONFIG_FILE")
    if path:
        try:
            file_values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read config file {path}: {exc}") from None
        if not isinstance(file_values, dict):
            raise InvalidArgument(f"config file {path} must hold a JSON object")
        unknown = sorted(set(file_values) - set(BY_NAME))
        if unknown:
            raise InvalidArgument(f"unknown configuration key(s) in {path}: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for param in PARAMETERS:
        raw: Any = None
        source = "default"
        flag_value = flags.get(param.name)
        if flag_value not in (None, (), []):
            raw, source = flag_value, "flag"
        elif param.env in env:
            raw, source = env[param.env], "env"
        elif param.name in file_values:
            raw, source = file_values[param.name], "file"
        if source == "default":
            values[param.name] = param.default
        else:
            try:
                values[param.name] = param.parse(raw)
            except (ValueError, TypeError) as exc:
                raise InvalidArgument(
                    f"invalid value {raw!r} for {param.flag} ({source}): {exc}"
                ) from None
        sources[param.name] = source
    return Config(values, sources)
