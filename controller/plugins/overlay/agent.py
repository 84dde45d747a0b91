"""The node's agent in the cluster: membership, the watch, and what it applies on this node.

- **Membership**: the node registers under its lease with its advertise address (a restart
  within the lease adopts it). When etcd cannot be reached at start the daemon starts all
  the same and the agent keeps trying in the background; overlay operations meanwhile fail
  with one line naming the store.
- **The watch** (``cluster.watch.Watcher``) reads the whole key space first, then follows it
  from the next revision, and after a disconnect resumes from the last revision it
  delivered. A full read (``_on_reset``) is applied whole and synchronously: the overlays
  mirrored as local networks, this node's own endpoints checked against the store, the
  tunnel map and the DNS view made from the complete picture. Events (``_on_event``)
  update the view; network changes are applied at once (a ``network create`` waits for
  its own), endpoint and node changes wake the applier thread, which programs the
  differences in batches (a burst of 10,000 remote endpoints costs a few passes, not
  10,000).
- **The tunnel map** is only ever diffed against the view once a full read was applied:
  before that (etcd unreachable since the start) it is left as the pins kept it, so flows
  to other nodes survive a restart of the daemon or of etcd.
- **Own endpoints**: under the node's lock (no ``run`` half-way), an endpoint of this node
  that the store has and the node does not is deleted from the store (a removal made while
  etcd was away, or a crash between the claim and the commit), and one the node has and the
  store does not is claimed again (after this node's lease expired).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.cluster import endpoints as cluster_endpoints
from controller.cluster.client import Store
from controller.cluster.endpoints import EndpointSpec
from controller.cluster.membership import Membership
from controller.cluster.networks import GlobalNetwork
from controller.cluster.options import StoreConfig, resolve_advertise
from controller.cluster.txn import KV
from controller.cluster.watch import Event, Watcher
from controller.datapath.types import TunnelEntry
from controller.errors import Conflict, HawserError, InvalidArgument, StoreError, StoreUnavailable
from controller.kernel import links, vxlan
from controller.ops import networks
from controller.ops.node import Node
from controller.plugins.overlay import mirror
from controller.plugins.overlay.view import ClusterView
from controller.rules.model import RemoteEndpoint

log = logging.getLogger(__name__)

STARTUP_WAIT = 5.0  # seconds the start waits for the first full read when etcd answers
JOIN_RETRY = 1.0


class ClusterAgent:
    def __init__(self, node: Node, config: StoreConfig, advertise: str) -> None:
        self.node = node
        self.store = Store(config)
        self.keys = self.store.keys
        self.name = node.name
        self.advertise_option = advertise
        self.advertise = ""  # the address, resolved at start
        self.uplink = ""
        self.uplink_mtu = 0
        self.view = ClusterView(self.keys, self.name)
        self.membership: Membership | None = None
        self.watcher: Watcher | None = None
        self.skipped: dict[str, str] = {}  # global networks not applied here: id → why
        self.sync_seconds = 0.0  # how long the last full read took to apply
        self._lock = threading.Lock()  # the view and what is derived from it
        self._remote: list[RemoteEndpoint] | None = None
        # the tunnel map as last read or written by this agent (None: read it again; the
        # periodic resync may have changed it)
        self._programmed: dict[str, TunnelEntry] | None = None
        self._wake = threading.Condition()
        self._pending = False
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Tunnel device, membership (or its retries), the watch; waits a little for the
        first full read so that the API starts with the overlays applied."""
        self.advertise, self.uplink = self._advertise()
        self.uplink_mtu = vxlan.link_mtu(self.node.ipr, self.uplink)
        self.ensure_device()
        self.membership = Membership(
            self.store, self.name, self.advertise, on_lease_lost=self._lease_lost
        )
        self._spawn(self._applier, "hawser-overlay")
        joined = self._join()
        if not joined:
            self._spawn(self._join_later, "hawser-cluster-join")
        self.watcher = Watcher(
            self.store, self.keys.root, self._on_event, self._on_reset, name="hawser-cluster-watch"
        ).start()
        if joined and not self._synced.wait(STARTUP_WAIT):
            log.warning("cluster: no full read of %s within %.0f s", self.store.url, STARTUP_WAIT)

    def stop(self) -> None:
        """Stop watching and renewing; the lease runs out by itself (a restart within it
        adopts it), the tunnel device and the maps stay (flows keep flowing)."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self.watcher is not None:
            self.watcher.stop()
        if self.membership is not None:
            self.membership.stop()
        for thread in self._threads:
            thread.join(5)
        self.store.close()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _advertise(self) -> tuple[str, str]:
        """(address, interface) this node's tunnels use."""
        found = links.node_addresses(self.node.ipr)
        address = resolve_advertise(self.advertise_option, found)
        for ifname, addr, _ in found:
            if addr == address:
                return address, ifname
        raise InvalidArgument(f"cluster advertise address {address} is not an address of this node")

    def ensure_device(self, *, repair: bool = False) -> None:
        """The node's VXLAN device, up, with this daemon's tunnel program on it; ``repair``
        touches it only when it is missing or changed."""
        current = vxlan.get(self.node.ipr)
        if (
            repair
            and current is not None
            and current.matches(vxlan.PORT)
            and current.up
            and current.mtu == self.uplink_mtu
            and "hawser_from_tunnel" in self.node.datapath.tc_programs(current.index)
        ):
            return
        index = vxlan.ensure(self.node.ipr, self.uplink_mtu)
        # the datapath encapsulates itself, out of the advertise address's interface
        uplink = links.links_by_name(self.node.ipr).get(self.uplink, (0, False))[0]
        self.node.datapath.attach_tunnel_device(index, self.advertise, uplink)
        if repair:
            log.warning("cluster: the tunnel device %s was repaired", vxlan.DEVICE)

    def _join(self) -> bool:
        assert self.membership is not None
        try:
            self.membership.start()
        except StoreUnavailable as exc:
            log.warning("cluster: %s; overlays wait for it", exc.message)
            return False
        return True

    def _join_later(self) -> None:
        assert self.membership is not None
        while not self._stopping.wait(JOIN_RETRY):
            try:
                self.membership.start()
            except StoreUnavailable:
                continue
            except HawserError as exc:  # e.g. the name is another node's: say it, keep trying
                log.error("cluster: cannot join: %s", exc.message)
                continue
            log.info("cluster: joined %s", self.store.url)
            if self._synced.is_set():
                self.reconcile_own()
            return

    # state for the API and the hooks -------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def lease(self) -> int:
        return self.membership.lease if self.membership is not None else 0

    def unreachable(self) -> StoreUnavailable:
        why = ""
        if self.watcher is not None:
            why = self.watcher.stats().last_error
        if not why and self.membership is not None:
            why = self.membership.stats().last_error
        return StoreUnavailable(
            f"cluster store {self.store.url} is unreachable: {why or 'not joined yet'}"
        )

    def require_store(self) -> None:
        """Refuse at once when the node has not joined or the watch is down."""
        connected = self.watcher is not None and self.watcher.stats().connected
        if not self.lease or not connected or not self.synced:
            raise self.unreachable()

    def network(self, net_id: str) -> GlobalNetwork | None:
        with self._lock:
            return self.view.networks.get(net_id)

    def remote_endpoints(self) -> list[RemoteEndpoint]:
        with self._lock:
            return self.remote_endpoints_locked()

    def tunnel_entries(self) -> Mapping[str, TunnelEntry] | None:
        """What the tunnel map should hold (the reconcile asks, holding ``tunnel_lock``)."""
        self._programmed = None  # the reconcile is about to write: read the map next time
        if not self._synced.is_set():
            return None
        with self._lock:
            return self.view.tunnel()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "nodes": len(self.view.nodes),
                "networks": len(self.view.networks),
                "remote_endpoints": len(self.remote_endpoints_locked()),
            }

    def remote_endpoints_locked(self) -> list[RemoteEndpoint]:
        if self._remote is None:
            self._remote = self.view.remote()
        return self._remote

    def on_resynced(self) -> None:
        """The periodic repair: the tunnel device, this node's endpoints in the store."""
        if not self.uplink_mtu or self._stopping.is_set():
            return  # not started (the start-up sync runs before ``started``)
        try:
            self.ensure_device(repair=True)
        except HawserError as exc:
            log.error("cluster: the tunnel device: %s", exc.message)
        self.reconcile_own()

    def wait_applied(self, revision: int, timeout: float = 5.0) -> None:
        assert self.watcher is not None
        if not self.watcher.wait_for_revision(revision, timeout):
            raise StoreError(
                f"cluster store {self.store.url}: the change (revision {revision}) did not come "
                f"back on this node's watch within {timeout:.0f} s"
            )

    # the watch -----------------------------------------------------------------------------
    def _on_reset(self, kvs: list[KV], revision: int) -> None:
        started = time.monotonic()
        with self._lock:
            self.view.reset(kvs, revision)
            nets = dict(self.view.networks)
            self._remote = None
        self._apply_networks(nets, full=True)
        self._program()
        first = not self._synced.is_set()
        self._synced.set()
        self.reconcile_own()
        self.sync_seconds = time.monotonic() - started
        log.info(
            "cluster: %s at revision %d: %d networks, %d endpoints, %d nodes (%.3f s)",
            "synced" if first else "re-synced",
            revision,
            len(nets),
            len(self.view.endpoints),
            len(self.view.nodes),
            self.sync_seconds,
        )

    def _on_event(self, event: Event) -> None:
        with self._lock:
            change = self.view.apply(event)
            nets = {i: self.view.networks.get(i) for i in change.networks}
            if change:
                self._remote = None
        if nets:
            self._apply_networks(nets, full=False)
        if change:
            with self._wake:
                self._pending = True
                self._wake.notify()

    def _apply_networks(self, nets: Mapping[str, GlobalNetwork | None], *, full: bool) -> None:
        """Mirror global networks as local rows (or withdraw them); ``full``: ``nets`` is
        every global network, so overlay rows it lacks go too."""
        node = self.node
        with node.lock:
            rows = {n.id: n for n in node.store.networks() if n.is_overlay}
            wanted: dict[str, GlobalNetwork | None] = dict(nets)
            if full:
                wanted.update({i: None for i in rows if i not in nets})
            for net_id, gnet in wanted.items():
                try:
                    if gnet is None:
                        self.skipped.pop(net_id, None)
                        if net_id in rows and networks.withdraw_network(node, net_id):
                            log.info("cluster: network %s removed", rows[net_id].name)
                        continue
                    local = mirror.local_network(gnet, self.uplink_mtu)
                    old = rows.get(net_id)
                    if old is not None and mirror.same(old, local):
                        continue
                    networks.apply_network(node, local)
                    self.skipped.pop(net_id, None)
                    log.info("cluster: network %s (VNI %d) applied", gnet.name, gnet.vni)
                except Conflict as exc:
                    self.skipped[net_id] = exc.message
                    log.warning(
                        "cluster: network %s not applied here: %s", net_id[:12], exc.message
                    )
                except HawserError as exc:
                    self.skipped[net_id] = exc.message
                    log.error("cluster: network %s: %s", net_id[:12], exc.message)

    # programming the datapath and the DNS ------------------------------------------------
    def _applier(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                while not self._pending and not self._stopping.is_set():
                    self._wake.wait()
                self._pending = False
            if self._stopping.is_set():
                return
            if not self._synced.is_set():
                continue  # the first full read programs everything
            try:
                self._program()
            except Exception:
                log.exception("cluster: programming the tunnel map failed")

    def _program(self) -> None:
        """Make the tunnel map the view's (diffed against the map as this agent last saw
        it, read again after a resync), then tell the DNS (and anyone else) that the remote
        endpoints changed."""
        dp = self.node.datapath
        with self.node.tunnel_lock:
            with self._lock:
                want = self.view.tunnel()
            have = self._programmed
            if have is None:
                have = {
                    str(r["ip"]): TunnelEntry(str(r["node"]), int(r["vni"]), str(r["mac"]))
                    for r in dp.tunnel()
                }
            self._programmed = None  # unknown until the writes went through
            wrong = {ip: entry for ip, entry in want.items() if have.get(ip) != entry}
            stale = [ip for ip in have if ip not in want]
            if wrong:
                dp.set_tunnel_endpoints(wrong)
            if stale:
                dp.delete_tunnel_endpoints(stale)
            self._programmed = want
        self.node.emit("remote_endpoints_changed")

    # this node's endpoints in the store ----------------------------------------------------
    def reconcile_own(self) -> None:
        """Store and node agree on this node's endpoints (see the module's docstring)."""
        if not self._synced.is_set() or not self.lease:
            return
        node = self.node
        with node.lock:
            local = {}
            for ep in node.store.endpoints():
                net = node.store.network(ep.network_id)
                if net is not None and net.is_overlay:
                    local[ep.id] = ep
            with self._lock:
                mine = self.view.mine()
            for ep_id, rec in mine.items():
                if ep_id in local:
                    continue
                try:
                    if cluster_endpoints.remove(self.store, rec.network, ep_id):
                        log.info("cluster: released %s of gone endpoint %s", rec.ip, ep_id[:12])
                except StoreError as exc:
                    log.warning("cluster: releasing endpoint %s: %s", ep_id[:12], exc.message)
            missing = [ep for ep_id, ep in local.items() if ep_id not in mine]
            self._claim_again(missing)

    def _claim_again(self, eps: list[Any]) -> None:
        node = self.node
        for ep in eps:
            gnet = self.network(ep.network_id)
            ctr = node.store.container(ep.container_id)
            if gnet is None or ctr is None:
                continue
            spec = EndpointSpec(
                id=ep.id,
                name=ctr.name,
                node=self.name,
                lease=self.lease,
                container=ctr.id[:12],
                aliases=tuple(ep.aliases),
                ip=ep.ip,
                mac=ep.mac,
            )
            try:
                cluster_endpoints.create(self.store, gnet, spec)
            except HawserError as exc:
                log.error(
                    "cluster: endpoint %s of %s (%s) could not be claimed again: %s",
                    ep.id[:12],
                    ctr.name,
                    ep.ip,
                    exc.message,
                )

    def _lease_lost(self, old: int, new: int) -> None:
        """Our keys went with the old lease: claim every endpoint of this node again."""
        node = self.node
        with node.lock:
            eps = []
            for ep in node.store.endpoints():
                net = node.store.network(ep.network_id)
                if net is not None and net.is_overlay:
                    eps.append(ep)
            self._claim_again(eps)
        log.warning("cluster: lease %x expired; %d endpoints claimed under %x", old, len(eps), new)
