"""The node: the state every operation takes (store, netlink handle, datapath, supervisor,
configuration) and the events plugins subscribe to.

The configuration and the API's route hooks are typed from the layers above (the daemon
builds a Node from its Config; plugins add routes through it) without importing them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.datapath.types import TunnelEntry
from controller.kernel.netlink import NodeNetlink
from controller.kernel.supervisor import Supervisor
from controller.ops.drivers import NetworkDriver
from controller.rules.model import RemoteEndpoint
from controller.store.sqlite import Store

if TYPE_CHECKING:
    from controller.api.server import Router
    from controller.daemon.config import Config
    from controller.datapath import Datapath

#: Events emitted inside an operation's transaction; a listener that raises undoes it.
EVENTS = (
    "network_created",  # (network)
    "network_removed",  # (network)
    "endpoint_added",  # (container, network, endpoint)
    "endpoint_removed",  # (container, network, endpoint)
    "container_created",  # (container) — after its endpoints, before its process starts
    "container_removed",  # (container) — before its endpoints are detached
    "resynced",  # () — the maps were made to match the store (start-up, periodic repair)
    "started",  # () — after the first full sync, before the API listens
    "stopping",  # ()
    "remote_endpoints_changed",  # () — what ``Node.remote_endpoints`` returns changed
)


def _no_tunnel() -> Mapping[str, TunnelEntry] | None:
    return {}


@dataclass
class Node:
    config: Config
    store: Store
    ipr: NodeNetlink  # one netlink socket, used from any thread
    datapath: Datapath
    supervisor: Supervisor
    # one mutating operation at a time: store and kernel change together
    lock: threading.RLock = field(default_factory=threading.RLock)
    uplinks: dict[str, tuple[int, str]] = field(default_factory=dict)  # ifname → (index, addr)
    exits: dict[str, int] = field(default_factory=dict)  # exit codes of auto-removed containers
    # container id → how many exits were recorded since the daemon started (``wait`` compares)
    exit_seq: dict[str, int] = field(default_factory=dict)
    # restart policies: the pending restart of each "restarting" container, the last back-off
    restart_timers: dict[str, threading.Timer] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)
    execs: dict[str, Any] = field(default_factory=dict)  # exec id → ops.execs.ExecSession
    metrics_address: str = ""
    listeners: dict[str, list[Callable[..., None]]] = field(default_factory=dict)
    extra_routes: list[Callable[[Router, Node], None]] = field(default_factory=list)
    observe: Callable[[str, float, bool], None] = lambda operation, seconds, failed: None
    # What plugins add (the overlay plugin, for global networks):
    drivers: dict[str, NetworkDriver] = field(default_factory=dict)  # driver name → driver
    # endpoints of global networks on other nodes (DNS answers for them, inspect shows them)
    remote_endpoints: Callable[[], Sequence[RemoteEndpoint]] = lambda: ()
    # the tunnel map as it should be (remote endpoint IP → entry); None while not known
    # (no full sync with the cluster store yet): reconcile then leaves the map as it is.
    # Whoever writes the map holds ``tunnel_lock`` from reading what is wanted to writing.
    tunnel_entries: Callable[[], Mapping[str, TunnelEntry] | None] = _no_tunnel
    tunnel_lock: threading.Lock = field(default_factory=threading.Lock)
    kernel_links: set[str] = field(default_factory=set)  # links a plugin owns (never orphans)
    # more /metrics families (prometheus_client Metric objects), read at each scrape
    metric_sources: list[Callable[[], Iterable[Any]]] = field(default_factory=list)
    # more ``GET /v1/info`` fields
    info_sections: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    # notified (under lock) when a container's process exit is recorded or a container goes
    exited: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.exited = threading.Condition(self.lock)

    @property
    def name(self) -> str:
        return str(self.config.node_name)

    def cancel_restart(self, ctr_id: str) -> bool:
        """Drop a pending restart (stop, rm, start); whether there was one."""
        timer = self.restart_timers.pop(ctr_id, None)
        if timer is not None:
            timer.cancel()
        return timer is not None

    def on(self, event: str, listener: Callable[..., None]) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event}")
        self.listeners.setdefault(event, []).append(listener)

    def emit(self, event: str, *args: Any) -> None:
        for listener in self.listeners.get(event, []):
            listener(*args)
