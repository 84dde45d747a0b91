"""Legacy ``--link`` with icc off: the datapath's allow entries, as a function of the store.

Docker opens, for each link on the default bridge with ``--icc=false``, the
child's exposed ports from the parent (replies follow through conntrack).
Here the wanted set of ``(parent IP, child IP, proto, port)`` entries is
recomputed from the store at every change that can alter it and the policy
map is made equal to it; this module is the map's only writer, so entries it
does not want (a removed container, a daemon restarted with ``--icc=true``)
are deleted.

A child is only the one linked if it was created before the parent: a
container created later under a removed child's name is not linked (Docker
keeps links by container, not by name).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

from controller.ops.node import Node
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import DATAPATH_PROTOCOLS

log = logging.getLogger(__name__)


class Allow(NamedTuple):
    src: str
    dst: str
    proto: str
    dport: int


def _find(containers: list[Container], ref: str) -> Container | None:
    """Docker's reference rules: full id or name, else a unique id prefix."""
    ref = ref.removeprefix("/")
    for c in containers:
        if c.id == ref or c.name == ref:
            return c
    matches = [c for c in containers if ref and c.id.startswith(ref)]
    return matches[0] if len(matches) == 1 else None


def wanted(
    networks: Iterable[Network],
    containers: Iterable[Container],
    endpoints: Iterable[Endpoint],
) -> set[Allow]:
    """Allow entries the links of these containers need (empty when the bridge has icc on)."""
    bridge = next((n for n in networks if n.name == "bridge"), None)
    if bridge is None or bridge.icc:
        return set()
    ctrs = list(containers)
    ip_on_bridge = {ep.container_id: ep.ip for ep in endpoints if ep.network_id == bridge.id}
    out: set[Allow] = set()
    for parent in ctrs:
        src = ip_on_bridge.get(parent.id)
        if src is None:
            continue
        for spec in parent.links:
            name = spec.rsplit(":", 1)[0] if ":" in spec else spec
            child = _find(ctrs, name)
            if child is None or child.id == parent.id or child.created > parent.created:
                continue
            dst = ip_on_bridge.get(child.id)
            if dst is None:
                continue
            out |= {
                Allow(src, dst, proto, port)
                for port, proto in child.expose
                if proto in DATAPATH_PROTOCOLS
            }
    return out


class LinkPolicy:
    """Keeps the datapath's allow map equal to :func:`wanted` of the store."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def wanted_now(self, without_container: str = "", without_endpoint: str = "") -> set[Allow]:
        store = self.node.store
        ctrs = [c for c in store.containers() if c.id != without_container]
        eps = [
            ep
            for ep in store.endpoints()
            if ep.container_id != without_container and ep.id != without_endpoint
        ]
        return wanted(store.networks(), ctrs, eps)

    def installed(self) -> set[Allow]:
        return {
            Allow(e["src"], e["dst"], e["proto"], int(e["dport"]))
            for e in self.node.datapath.policy()
        }

    def sync(self, without_container: str = "", without_endpoint: str = "") -> tuple[int, int]:
        """Make the map equal to the wanted set; returns (added, removed)."""
        with self.node.lock:
            want = self.wanted_now(without_container, without_endpoint)
            have = self.installed()
            for entry in sorted(want - have):
                self.node.datapath.allow(*entry)
            for entry in sorted(have - want):
                self.node.datapath.disallow(*entry)
        added, removed = len(want - have), len(have - want)
        if added or removed:
            log.info("link policy: %d allow entries added, %d removed", added, removed)
        return added, removed

    def concerns(self, ctr: Container) -> bool:
        """Whether a change to ``ctr`` can change the allow set.

        A container without links of its own changes it only when entries exist (it may be
        a link's child); skipping the rest keeps creating linkless containers O(1) here.
        """
        return bool(ctr.links) or bool(self.node.datapath.policy())

    # listeners ------------------------------------------------------------------
    def on_started(self) -> None:
        self.sync()

    def on_resynced(self) -> None:
        """Reconcile made the other maps match the store: entries a crash left go too."""
        self.sync()

    def on_container_created(self, ctr: Container) -> None:
        if self.concerns(ctr):
            self.sync()

    def on_container_removed(self, ctr: Container) -> None:
        if self.concerns(ctr):
            self.sync(without_container=ctr.id)

    def on_endpoint_added(self, ctr: Container, net: Network, ep: Endpoint) -> None:
        if net.name == "bridge" and self.concerns(ctr):
            self.sync()

    def on_endpoint_removed(self, ctr: Container, net: Network, ep: Endpoint) -> None:
        if net.name == "bridge" and self.concerns(ctr):
            self.sync(without_endpoint=ep.id)


def install(node: Node) -> LinkPolicy:
    """Register the listeners; the map is first synced at ``started``. Safe to call in tests."""
    policy = LinkPolicy(node)
    node.on("started", policy.on_started)
    node.on("resynced", policy.on_resynced)
    node.on("container_created", policy.on_container_created)
    node.on("container_removed", policy.on_container_removed)
    node.on("endpoint_added", policy.on_endpoint_added)
    node.on("endpoint_removed", policy.on_endpoint_removed)
    return policy
