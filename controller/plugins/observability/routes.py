"""``GET /v1/bpf/*`` and ``GET /v1/monitor``, added to the daemon's router."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.api.server import Request, Router, Stream
from controller.ops import lookup

from . import inspect
from .monitor import EventHub
from .names import NameIndex, NameSource

if TYPE_CHECKING:
    from controller.ops.node import Node

Table = Callable[[Any, NameIndex], list[dict[str, Any]]]

TABLES: dict[str, tuple[Table, str]] = {
    "maps": (inspect.maps, "The datapath's BPF maps: type, entries, capacity, pressure"),
    "ports": (inspect.ports, "Published ports as programmed in the datapath, with counters"),
    "nat": (inspect.nat, "Masquerade (SNAT) reverse entries"),
    "policy": (inspect.policy, "icc allow entries (links)"),
    "endpoints": (inspect.endpoints, "Endpoints known to the datapath, with counters"),
    "stats": (inspect.stats, "Forward and drop counters per direction and reason"),
    "counters": (inspect.counters, "Flow events: published-port connections, masquerade"),
    "tunnel": (inspect.tunnel, "Overlay endpoints on other nodes (the tunnel map)"),
}


def installer(hub: EventHub, names: NameSource) -> Callable[[Router, Node], None]:
    """The ``node.extra_routes`` entry that adds the inspection and monitor routes."""

    def install_routes(router: Router, node: Node) -> None:
        for name, (table, summary) in TABLES.items():
            router.add("GET", f"/v1/bpf/{name}", summary)(_table_handler(node, names, name, table))

        @router.add("GET", "/v1/bpf/ct", "Conntrack entries (filters: addr, port, proto)")
        def bpf_ct(req: Request) -> Any:
            flt = inspect.CtFilter(req.query)
            return inspect.ct(node.datapath, names.get(), flt)

        @router.add("GET", "/v1/monitor", "Stream datapath drop/trace events (type, container)")
        def monitor(req: Request) -> Any:
            container_id = None
            ref = req.query.get("container") or ""
            if ref:
                with node.lock:
                    container_id = lookup.container(node.store, ref).id
            sub = hub.subscribe(req.query.get("type") or None, container_id)
            return Stream(hub.stream(sub))

    return install_routes


def _table_handler(
    node: Node, names: NameSource, name: str, table: Table
) -> Callable[[Request], Any]:
    def handler(req: Request) -> Any:
        return table(node.datapath, names.get())

    handler.__name__ = f"bpf_{name}"
    return handler
