"""The three cluster options, Docker's names: ``--cluster-store``, ``--cluster-store-opt`` and
``--cluster-advertise``. Pure parsing; nothing here opens a connection.

- ``--cluster-store etcd://HOST[:PORT][,HOST[:PORT]…][/PREFIX]``: the etcd endpoints (port
  2379 when left out) and the key prefix (``/hawser`` by default, so that several clusters
  can share one etcd).
- ``--cluster-store-opt KEY=VALUE[,KEY=VALUE…]`` (repeatable): ``kv.cacertfile``,
  ``kv.certfile``, ``kv.keyfile`` (TLS; any of them switches to https) and Docker's
  ``discovery.ttl`` (lease TTL, default 20 s) and ``discovery.heartbeat`` (keepalive
  interval, default a third of the TTL).
- ``--cluster-advertise IP|IFACE[:PORT]``: the node's underlay address (the VXLAN tunnel
  endpoint); an interface name stands for its first IPv4 address. A port is accepted, as
  Docker's syntax had one, and ignored: the tunnel always uses UDP 4789.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.errors import InvalidArgument

DEFAULT_PORT = 2379
DEFAULT_PREFIX = "/hawser"
DEFAULT_TTL = 20.0
MIN_TTL = 2.0  # etcd refuses shorter leases with its default election timeout
TLS_OPTS = ("kv.cacertfile", "kv.certfile", "kv.keyfile")
KNOWN_OPTS = (*TLS_OPTS, "discovery.ttl", "discovery.heartbeat")

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_PREFIX = re.compile(r"(/[A-Za-z0-9_.-]+)+")
_IFACE = re.compile(r"[^\s/:]{1,15}")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class StoreConfig:
    """Where the cluster store is and how to talk to it."""

    endpoints: tuple[Endpoint, ...]
    prefix: str = DEFAULT_PREFIX
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    ttl: float = DEFAULT_TTL
    heartbeat: float | None = None

    @property
    def tls(self) -> bool:
        return bool(self.cacert or self.cert or self.key)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def keepalive_interval(self) -> float:
        return self.heartbeat if self.heartbeat is not None else self.ttl / 3

    @property
    def url(self) -> str:
        """The store as the user named it: what every error message shows."""
        hosts = ",".join(str(e) for e in self.endpoints)
        suffix = "" if self.prefix == DEFAULT_PREFIX else self.prefix
        return f"etcd://{hosts}{suffix}"


def _endpoint(text: str, url: str) -> Endpoint:
    host, port = text, ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise InvalidArgument(f"invalid cluster store {url}: bad address {text!r}")
        host, rest = text[1:close], text[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidArgument(f"invalid cluster store {url}: bad address {text!r}") from None
        if rest and not rest.startswith(":"):
            raise InvalidArgument(f"invalid cluster store {url}: bad address {text!r}")
        port = rest[1:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not host or (not text.startswith("[") and not _HOST.fullmatch(host)):
        raise InvalidArgument(f"invalid cluster store {url}: bad host {host!r}")
    if port == "":
        return Endpoint(host, DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid cluster store {url}: bad port {port!r}")
    return Endpoint(host, int(port))


def parse_store_url(url: str) -> tuple[tuple[Endpoint, ...], str]:
    """``etcd://h1:p1,h2:p2/prefix`` -> (endpoints, key prefix)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise InvalidArgument(
            f"invalid cluster store {url!r}: expected etcd://HOST:PORT[,HOST:PORT...]"
        )
    if scheme != "etcd":
        raise InvalidArgument(
            f"unsupported cluster store {url!r}: only etcd:// is supported (etcd v3 API)"
        )
    hosts, slash, path = rest.partition("/")
    prefix = DEFAULT_PREFIX
    if slash and path.strip("/"):
        prefix = "/" + path.strip("/")
        if not _PREFIX.fullmatch(prefix):
            raise InvalidArgument(f"invalid cluster store {url}: bad key prefix {prefix!r}")
    endpoints = tuple(_endpoint(part, url) for part in hosts.split(","))
    if len(set(endpoints)) != len(endpoints):
        raise InvalidArgument(f"invalid cluster store {url}: an endpoint is listed twice")
    return endpoints, prefix


def _seconds(key: str, value: str) -> float:
    text = value.strip().removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid cluster store option {key}={value}: not seconds") from None
    if not seconds > 0:
        raise InvalidArgument(f"invalid cluster store option {key}={value}: must be positive")
    return seconds


def parse_store_opts(items: Iterable[str]) -> dict[str, str]:
    """``["kv.certfile=a,kv.keyfile=b", "discovery.ttl=20"]`` -> one dict; names checked."""
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not value.strip():
                raise InvalidArgument(f"invalid cluster store option {part!r}: expected KEY=VALUE")
            if key not in KNOWN_OPTS:
                raise InvalidArgument(
                    f"unknown cluster store option {key!r} (known: {', '.join(KNOWN_OPTS)})"
                )
            out[key] = value.strip()
    return out


def store_config(url: str, opts: Sequence[str] = (), *, check_files: bool = True) -> StoreConfig:
    """The whole store configuration from the two flags; TLS files must be readable."""
    endpoints, prefix = parse_store_url(url)
    values = parse_store_opts(opts)
    files = {k: values.get(k) for k in TLS_OPTS}
    if bool(files["kv.certfile"]) != bool(files["kv.keyfile"]):
        raise InvalidArgument(
            "cluster store options kv.certfile and kv.keyfile must be given together"
        )
    if check_files:
        for key, path in files.items():
            if path and not Path(path).is_file():
                raise InvalidArgument(f"cluster store option {key}: no such file: {path}")
    ttl = _seconds("discovery.ttl", values["discovery.ttl"]) if "discovery.ttl" in values else None
    heartbeat = (
        _seconds("discovery.heartbeat", values["discovery.heartbeat"])
        if "discovery.heartbeat" in values
        else None
    )
    ttl = DEFAULT_TTL if ttl is None else ttl
    if ttl < MIN_TTL:
        raise InvalidArgument(
            f"invalid cluster store option discovery.ttl={ttl:g}: below {MIN_TTL:g} s"
        )
    if heartbeat is not None and heartbeat >= ttl:
        raise InvalidArgument(
            f"invalid cluster store option discovery.heartbeat={heartbeat:g}: "
            f"must be shorter than discovery.ttl ({ttl:g} s)"
        )
    return StoreConfig(
        endpoints=endpoints,
        prefix=prefix,
        cacert=files["kv.cacertfile"],
        cert=files["kv.certfile"],
        key=files["kv.keyfile"],
        ttl=ttl,
        heartbeat=heartbeat,
    )


def parse_advertise(value: str) -> str:
    """Syntax check of ``--cluster-advertise``: an IPv4 address or an interface name, with an
    optional port (dropped). Returns the address or the interface name."""
    text = value.strip()
    head, sep, port = text.rpartition(":")
    if sep:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"invalid --cluster-advertise {value!r}: bad port {port!r}")
        text = head
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    if not _IFACE.fullmatch(text):
        raise InvalidArgument(
            f"invalid --cluster-advertise {value!r}: expected an IPv4 address or an interface"
        )
    return text


def resolve_advertise(value: str, addresses: Iterable[tuple[str, str, int]]) -> str:
    """The advertise address: ``value`` itself when it is an address, else the first IPv4
    address of that interface among ``addresses`` ((ifname, address, prefixlen), as
    ``kernel_links.node_addresses`` returns them)."""
    name = parse_advertise(value)
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    for ifname, address, _prefixlen in addresses:
        if ifname == name:
            return address
    raise InvalidArgument(f"cluster advertise interface {name} not found or has no IPv4 address")
