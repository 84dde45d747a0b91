"""The key layout in etcd (the table is in KEYS.md beside this file). Pure.

Every key is ``<prefix>/v1/<kind>/…`` with the prefix from ``--cluster-store`` (``/hawser``
by default). Components are ids, names and addresses that contain no ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

VERSION = "v1"

#: kind -> number of components after it
KINDS = {
    "networks": 1,
    "network-names": 1,
    "vnis": 1,
    "subnets": 1,
    "ipam": 2,
    "endpoints": 2,
    "names": 2,
    "nodes": 1,
}


def range_end(prefix: str) -> str:
    """The end of etcd's range for every key starting with ``prefix``."""
    raw = prefix.encode()
    return (raw[:-1] + bytes([raw[-1] + 1])).decode("latin-1")


@dataclass(frozen=True)
class ParsedKey:
    kind: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Keys:
    prefix: str = "/hawser"

    @property
    def root(self) -> str:
        """Every Hawser key starts with this (what a node watches)."""
        return f"{self.prefix}/{VERSION}/"

    def kind(self, kind: str) -> str:
        return f"{self.root}{kind}/"

    # global objects, no lease ---------------------------------------------------------
    def network(self, net_id: str) -> str:
        return f"{self.root}networks/{net_id}"

    def network_name(self, name: str) -> str:
        return f"{self.root}network-names/{name}"

    def vni(self, vni: int) -> str:
        return f"{self.root}vnis/{vni:08d}"  # zero-padded: keys sort as numbers

    def subnet(self, subnet: IPv4Network) -> str:
        return f"{self.root}subnets/{subnet.network_address}-{subnet.prefixlen}"

    # per network, under the owning node's lease ---------------------------------------
    def address(self, net_id: str, ip: IPv4Address | str) -> str:
        return f"{self.root}ipam/{net_id}/{ip}"

    def addresses(self, net_id: str) -> str:
        return f"{self.root}ipam/{net_id}/"

    def endpoint(self, net_id: str, ep_id: str) -> str:
        return f"{self.root}endpoints/{net_id}/{ep_id}"

    def endpoints(self, net_id: str = "") -> str:
        return f"{self.root}endpoints/{net_id}/" if net_id else self.kind("endpoints")

    def name(self, net_id: str, name: str) -> str:
        return f"{self.root}names/{net_id}/{name}"

    def names(self, net_id: str) -> str:
        return f"{self.root}names/{net_id}/"

    # membership ----------------------------------------------------------------------
    def node(self, name: str) -> str:
        return f"{self.root}nodes/{name}"

    def parse(self, key: str) -> ParsedKey | None:
        """Which object a key (from a watch) is; None for keys that are not Hawser's."""
        if not key.startswith(self.root):
            return None
        kind, *parts = key[len(self.root) :].split("/")
        if KINDS.get(kind) != len(parts) or not all(parts):
            return None
        return ParsedKey(kind, tuple(parts))

    @staticmethod
    def vni_of(component: str) -> int:
        return int(component, 10)

    @staticmethod
    def subnet_of(component: str) -> IPv4Network:
        address, _, length = component.rpartition("-")
        return IPv4Network(f"{address}/{length}")
