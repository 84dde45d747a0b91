"""Names for what the BPF maps know only by number: IPs, ifindexes, network keys, ports.

A ``NameIndex`` is a snapshot of the store taken under ``node.lock``; the maps are
read afterwards without the lock, so a row may name nothing (``""``) when a
container was removed in between.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.ops.node import Node

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointName:
    container_id: str
    container: str
    network: str
    host_ifname: str
    ip: str


@dataclass
class NameIndex:
    by_ip: dict[str, EndpointName] = field(default_factory=dict)
    by_ifname: dict[str, EndpointName] = field(default_factory=dict)
    network_by_key: dict[int, str] = field(default_factory=dict)
    # (proto, host_ip, host_port) → container name, and id
    port_owner: dict[tuple[str, str, int], str] = field(default_factory=dict)
    port_owner_id: dict[tuple[str, str, int], str] = field(default_factory=dict)
    uplink_by_index: dict[int, str] = field(default_factory=dict)
    # the node's own addresses (uplinks, gateways, loopback): where published ports answer
    node_addrs: set[str] = field(default_factory=lambda: {"127.0.0.1"})
    # ifindex → EndpointName, learnt from the endpoints map (ip → ifindex)
    by_ifindex: dict[int, EndpointName] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        containers: Iterable[Any],
        networks: Iterable[Any],
        endpoints: Iterable[Any],
        bindings: Mapping[str, Iterable[Any]],
        uplinks: dict[str, tuple[int, str]],
    ) -> NameIndex:
        """Index store objects (Container, Network, Endpoint; bound PortBindings by container)."""
        ctr_names = {c.id: c.name for c in containers}
        net_names: dict[str, str] = {}
        index = cls()
        for net in networks:
            net_names[net.id] = net.name
            index.network_by_key[int(net.key)] = net.name
            if getattr(net, "gateway", ""):
                index.node_addrs.add(net.gateway)
        for ep in endpoints:
            name = EndpointName(
                container_id=ep.container_id,
                container=ctr_names.get(ep.container_id, ""),
                network=net_names.get(ep.network_id, ""),
                host_ifname=ep.host_ifname,
                ip=ep.ip,
            )
            if ep.ip:
                index.by_ip[ep.ip] = name
            if ep.host_ifname:
                index.by_ifname[ep.host_ifname] = name
        for ctr_id, bound in bindings.items():
            owner = ctr_names.get(ctr_id, "")
            for b in bound:
                key = (b.proto, b.host_ip, int(b.host_port))
                index.port_owner[key] = owner
                index.port_owner_id[key] = ctr_id
        index.uplink_by_index = {idx: ifname for ifname, (idx, _) in uplinks.items()}
        index.node_addrs |= {addr for _, addr in uplinks.values()}
        return index

    def learn_ifindexes(self, dp_endpoints: Iterable[dict[str, Any]]) -> None:
        """Map ifindex → endpoint from the datapath's endpoint rows ({ip, ifindex, …})."""
        for row in dp_endpoints:
            found = self.by_ip.get(str(row.get("ip")))
            if found is not None:
                self.by_ifindex[int(row["ifindex"])] = found

    def container_of_ip(self, ip: str | None) -> str:
        found = self.by_ip.get(str(ip)) if ip else None
        return found.container if found else ""

    def ifname(self, ifindex: int) -> str:
        if ifindex in self.uplink_by_index:
            return self.uplink_by_index[ifindex]
        found = self.by_ifindex.get(ifindex)
        return found.host_ifname if found else str(ifindex)

    def container_of_ifindex(self, ifindex: int) -> str:
        found = self.by_ifindex.get(ifindex)
        return found.container if found else ""


def _index_store(node: Node) -> NameIndex:
    store = node.store
    index = NameIndex.build(
        store.containers(),
        store.networks(),
        store.endpoints(),
        store.all_bindings(),
        dict(node.uplinks),
    )
    nets = {n.id: n.name for n in store.networks()}
    for rep in node.remote_endpoints():  # overlays: containers of other nodes, by address
        index.by_ip.setdefault(
            rep.ip,
            EndpointName("", f"{rep.name}@{rep.node}", nets.get(rep.network_id, ""), "", rep.ip),
        )
    return index


def _learn(node: Node, index: NameIndex) -> NameIndex:
    # datapath not started (or closing): ifindexes stay unresolved
    with contextlib.suppress(Exception):
        index.learn_ifindexes(node.datapath.endpoints())
    return index


def snapshot(node: Node) -> NameIndex:
    """Index the node's store (under the node lock) and learn ifindexes from the datapath."""
    with node.lock:
        index = _index_store(node)
    return _learn(node, index)


class NameSource:
    """Snapshots for scrapes, API tables and events, never stuck behind a long operation.

    The store is read under ``node.lock``; when an operation holds it longer than
    ``lock_timeout`` the previous snapshot is used (names may lag that operation).
    ``get(max_age)`` reuses a snapshot younger than ``max_age`` seconds (per-event lookups).
    """

    def __init__(self, node: Node, lock_timeout: float = 1.0) -> None:
        self.node = node
        self.lock_timeout = lock_timeout
        self._index: NameIndex | None = None
        self._at = 0.0

    def get(self, max_age: float = 0.0) -> NameIndex:
        now = time.monotonic()
        if self._index is not None and now - self._at <= max_age:
            return self._index
        if self.node.lock.acquire(timeout=self.lock_timeout):
            try:
                index = _index_store(self.node)
            finally:
                self.node.lock.release()
        elif self._index is not None:
            log.debug("node busy: using names from %.1f s ago", now - self._at)
            return self._index
        else:
            index = NameIndex(uplink_by_index={i: n for n, (i, _) in self.node.uplinks.items()})
        self._index, self._at = _learn(self.node, index), now
        return self._index
