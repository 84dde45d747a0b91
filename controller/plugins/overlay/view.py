"""What this node knows of the cluster store: networks, endpoints and nodes, by key. Pure.

The agent feeds it the watcher's full reads (``reset``) and events (``apply``) and asks it
what the datapath and the DNS should hold: the remote endpoints (every endpoint of a known
network that another node owns) and the tunnel map (those whose node's address is known).
A ``Change`` says what an input changed, so the agent touches only that.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.cluster.endpoints import EndpointRecord
from controller.cluster.keys import Keys
from controller.cluster.membership import NodeRecord
from controller.cluster.networks import GlobalNetwork
from controller.cluster.txn import KV
from controller.cluster.watch import Event
from controller.datapath.types import TunnelEntry
from controller.rules.model import RemoteEndpoint

log = logging.getLogger(__name__)


@dataclass
class Change:
    networks: set[str] = field(default_factory=set)  # ids put or deleted
    endpoints: bool = False  # some endpoint of another node came, went or moved
    nodes: bool = False

    def __bool__(self) -> bool:
        return bool(self.networks) or self.endpoints or self.nodes


class ClusterView:
    def __init__(self, keys: Keys, me: str) -> None:
        self.keys = keys
        self.me = me  # this node's name: its own endpoints are local ones, not remote
        self.networks: dict[str, GlobalNetwork] = {}
        self.endpoints: dict[str, EndpointRecord] = {}  # by endpoint id
        self.nodes: dict[str, NodeRecord] = {}
        self.revision = 0

    # input -------------------------------------------------------------------------------
    def reset(self, kvs: Iterable[KV], revision: int) -> Change:
        """Replace everything with a full read; what differs from before."""
        old_nets = {n.id: n.mod_revision for n in self.networks.values()}
        old_remote = self.remote_map()
        old_nodes = {n.name: n.address for n in self.nodes.values()}
        self.networks, self.endpoints, self.nodes = {}, {}, {}
        for kv in kvs:
            self._put(kv)
        self.revision = revision
        new_nets = {n.id: n.mod_revision for n in self.networks.values()}
        changed = {
            i for i in old_nets.keys() | new_nets.keys() if old_nets.get(i) != new_nets.get(i)
        }
        return Change(
            networks=changed,
            endpoints=old_remote != self.remote_map(),
            nodes=old_nodes != {n.name: n.address for n in self.nodes.values()},
        )

    def apply(self, event: Event) -> Change:
        parsed = self.keys.parse(event.key)
        if parsed is None:
            return Change()
        self.revision = max(self.revision, event.revision)
        if event.type == "put":
            try:
                return self._put(event.kv)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("cluster: ignoring malformed %s: %s", event.key, exc)
                return Change()
        kind, parts = parsed.kind, parsed.parts
        if kind == "networks" and self.networks.pop(parts[0], None) is not None:
            return Change(networks={parts[0]})
        if kind == "endpoints":
            rec = self.endpoints.pop(parts[1], None)
            return Change(endpoints=rec is not None and rec.node != self.me)
        if kind == "nodes" and self.nodes.pop(parts[0], None) is not None:
            return Change(nodes=True)
        return Change()

    def _put(self, kv: KV) -> Change:
        parsed = self.keys.parse(kv.key)
        if parsed is None:
            return Change()
        if parsed.kind == "networks":
            net = GlobalNetwork.from_kv(kv)
            self.networks[net.id] = net
            return Change(networks={net.id})
        if parsed.kind == "endpoints":
            rec = EndpointRecord.from_kv(kv)
            old = self.endpoints.get(rec.id)
            self.endpoints[rec.id] = rec
            return Change(endpoints=rec.node != self.me and old != rec)
        if parsed.kind == "nodes":
            node = NodeRecord.from_json(json.loads(kv.value))
            old_node = self.nodes.get(node.name)
            self.nodes[node.name] = node
            return Change(nodes=old_node is None or old_node.address != node.address)
        return Change()

    # output ------------------------------------------------------------------------------
    def address_of(self, node: str) -> str:
        rec = self.nodes.get(node)
        return rec.address if rec is not None else ""

    def remote(self) -> list[RemoteEndpoint]:
        """Endpoints of known networks on other nodes."""
        out = []
        for rec in self.endpoints.values():
            if rec.node == self.me or rec.network not in self.networks:
                continue
            out.append(
                RemoteEndpoint(
                    id=rec.id,
                    network_id=rec.network,
                    name=rec.name,
                    container=rec.container,
                    ip=rec.ip,
                    mac=rec.mac,
                    node=rec.node,
                    node_address=self.address_of(rec.node),
                    aliases=tuple(rec.aliases),
                )
            )
        return out

    def remote_map(self) -> dict[str, tuple[str, str, str, str]]:
        """endpoint id → (network, ip, mac, node) of the remote endpoints (for diffs)."""
        return {r.id: (r.network_id, r.ip, r.mac, r.node) for r in self.remote()}

    def tunnel(self) -> dict[str, TunnelEntry]:
        """The tunnel map: remote endpoint address → (its node's address, VNI, MAC)."""
        out = {}
        for r in self.remote():
            if r.node_address:
                out[r.ip] = TunnelEntry(r.node_address, self.networks[r.network_id].vni, r.mac)
        return out

    def mine(self) -> dict[str, EndpointRecord]:
        """This node's endpoints as the store has them, by id."""
        return {i: rec for i, rec in self.endpoints.items() if rec.node == self.me}

    def endpoints_of(self, node: str) -> int:
        return sum(1 for rec in self.endpoints.values() if rec.node == node)
