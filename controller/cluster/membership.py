"""Node membership: one etcd lease per node, kept alive by a thread.

A node registers ``nodes/NAME`` (its advertise address, TTL, lease id, join time) under a
lease of its own, and puts every endpoint key it creates under the same lease. The lease is
the node's life in the cluster:

- alive: the keepalive thread renews it every ``interval`` (a third of the TTL by default);
- dead (crash, power, partition from etcd): renewals stop; when the TTL runs out etcd
  deletes the node record and every endpoint, name and address key of the node in one
  revision. Nothing is released before that: there is no sweep by other nodes to race
  with a slow node, and nothing to clean up if every node died at once. Survivors see the
  deletes on their watch and drop the node's endpoints from their maps and DNS.
- restart within the TTL (``kill -9`` and start again): ``join`` finds its record with the
  same advertise address and adopts the live lease, so its endpoints never disappear for
  the other nodes. A record of the same name with another address is another node: refused.
- lease lost while running (etcd unreachable for longer than the TTL *from this node* while
  the cluster went on): the thread joins again under a new lease and calls ``on_lease_lost``
  so the owner can claim its endpoints again.

If etcd itself stops, no lease expires meanwhile: etcd gives every lease a fresh TTL when it
comes back, so the nodes' renewals resume in time.

``list_nodes`` shows each node with its state and last renewal, taken from the lease's
remaining TTL (``last renewal = now - (granted TTL - TTL left)``, to the second): no write
per renewal, so renewals cost the watchers nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from controller import __version__
from controller.cluster.client import Store
from controller.cluster.txn import Compare, Get, Put
from controller.errors import Conflict, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeRecord:
    name: str
    address: str
    lease: int
    ttl: float
    interval: float  # between renewals
    joined: float
    version: str = __version__

    def document(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> NodeRecord:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str
    state: str  # "ready" (renewed on time) or "unreachable" (renewals late, lease alive)
    ttl: float
    expires_in: int  # seconds left on the lease
    last_renewal: float  # seconds since the epoch
    endpoints: int
    joined: float


@dataclass(frozen=True)
class MembershipStats:
    lease: int = 0
    renewals: int = 0
    errors: int = 0
    lease_losses: int = 0
    last_renewal: float = 0.0  # seconds since the epoch
    last_error: str = ""


class Membership:
    def __init__(
        self,
        store: Store,
        name: str,
        address: str,
        *,
        ttl: float | None = None,
        interval: float | None = None,
        on_lease_lost: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.address = address
        self.ttl = ttl if ttl is not None else store.config.ttl
        if interval is None:
            interval = store.config.heartbeat if ttl is None else None
        self.interval = interval if interval is not None else self.ttl / 3
        self._on_lease_lost = on_lease_lost
        self._stats = MembershipStats()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> int:
        return self._stats.lease

    def stats(self) -> MembershipStats:
        with self._lock:
            return self._stats

    def _set(self, **changes: object) -> None:
        with self._lock:
            self._stats = replace(self._stats, **changes)  # type: ignore[arg-type]

    # joining -----------------------------------------------------------------------------
    def join(self) -> int:
        """Register (or re-adopt a live registration); returns the lease id."""
        key = self.store.keys.node(self.name)
        for _ in range(8):
            kv = self.store.get(key)
            if kv is not None:
                old = NodeRecord.from_json(kv.json())
                if old.address != self.address:
                    left, _ = self.store.lease_ttl(kv.lease)
                    raise Conflict(
                        f"node name {self.name} is already in the cluster with address "
                        f"{old.address} (its lease expires in {max(left, 0)} s)"
                    )
                if self.store.keepalive(kv.lease) > 0:
                    self._set(lease=kv.lease, last_renewal=time.time())
                    log.info("cluster: %s adopted its live lease %x", self.name, kv.lease)
                    return kv.lease
            lease = self.store.grant(self.ttl)
            record = NodeRecord(
                self.name, self.address, lease, self.ttl, self.interval, time.time()
            )
            guard = (
                Compare.absent(key)
                if kv is None
                else Compare.mod_revision(key, "EQUAL", kv.mod_revision)
            )
            result = self.store.txn([guard], [Put(key, record.document(), lease)], [Get(key)])
            if result.succeeded:
                self._set(lease=lease, last_renewal=time.time())
                log.info("cluster: %s joined as %s (lease %x)", self.name, self.address, lease)
                return lease
            self.store.revoke(lease)
        raise StoreError(f"cluster store {self.store.url}: could not register node {self.name}")

    # keepalive ---------------------------------------------------------------------------
    def start(self) -> Membership:
        """Join (if not yet) and keep the lease alive from a thread."""
        if not self.lease:
            self.join()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="hawser-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, revoke: bool = False) -> None:
        """Stop renewing. ``revoke`` leaves the cluster now (the node's keys go at once);
        without it they stay until the TTL runs out, so that a restart can adopt them."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if revoke and self.lease:
            self.store.revoke(self.lease)
            self._set(lease=0)

    def renew(self) -> bool:
        """One renewal; False (after joining again) when the lease was found expired."""
        ttl = self.store.keepalive(self.lease)
        if ttl > 0:
            with self._lock:
                s = self._stats
                self._stats = replace(s, renewals=s.renewals + 1, last_renewal=time.time())
            return True
        old = self.lease
        log.warning("cluster: lease %x of node %s expired; joining again", old, self.name)
        self._set(lease=0)
        new = self.join()
        with self._lock:
            self._stats = replace(self._stats, lease_losses=self._stats.lease_losses + 1)
        if self._on_lease_lost is not None:
            self._on_lease_lost(old, new)
        return False

    def _run(self) -> None:
        delay = self.interval
        while not self._stopping.wait(delay):
            try:
                self.renew()
                delay = self.interval
            except StoreError as exc:
                with self._lock:
                    s = self._stats
                    self._stats = replace(s, errors=s.errors + 1, last_error=exc.message)
                log.warning("cluster: renewing the lease of %s: %s", self.name, exc.message)
                delay = min(1.0, self.interval)


def list_nodes(store: Store, now: float | None = None) -> list[NodeInfo]:
    """Every registered node, with its state and last renewal (from the lease's TTL)."""
    now = time.time() if now is None else now
    kvs, _ = store.range(store.keys.kind("nodes"))
    eps, _ = store.range(store.keys.endpoints())
    per_node = Counter(json.loads(kv.value).get("node") for kv in eps)
    out = []
    for kv in kvs:
        rec = NodeRecord.from_json(kv.json())
        left, granted = store.lease_ttl(kv.lease)
        if left < 0:
            continue  # expired between the two reads
        since = max(0, granted - left)
        state = "ready" if since <= 2 * rec.interval + 1 else "unreachable"
        out.append(
            NodeInfo(
                name=rec.name,
                address=rec.address,
                state=state,
                ttl=rec.ttl,
                expires_in=left,
                last_renewal=now - since,
                endpoints=per_node.get(rec.name, 0),
                joined=rec.joined,
            )
        )
    return out
