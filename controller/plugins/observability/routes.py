"""``GET /v1/bpf/*``, ``GET /v1/monitor`` and ``GET|PUT /v1/monitor/config``, added to the
daemon's router."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.api.schemas import FLAG
from controller.api.server import Request, Router, Stream
from controller.ops import lookup

from . import inspect
from .monitor import EventHub
from .names import NameIndex, NameSource

if TYPE_CHECKING:
    from controller.ops.node import Node

Table = Callable[[Any, NameIndex], list[dict[str, Any]]]
RATE = {"type": "string", "pattern": "^[0-9]{1,10}$"}
MONITOR_CONFIG = {
    "type": "object",
    "properties": {"TraceSampleRate": {"type": ["integer", "null"], "minimum": 0,
                                       "maximum": 2**32 - 1}},
    "additionalProperties": False,
}  # fmt: skip

TABLES: dict[str, tuple[Table, str]] = {
    "maps": (inspect.maps, "The datapath's BPF maps: type, entries, capacity, pressure"),
    "ports": (inspect.ports, "Published ports as programmed in the datapath, with counters"),
    "nat": (inspect.nat, "Masquerade (SNAT) reverse entries"),
    "policy": (inspect.policy, "icc allow entries (links)"),
    "endpoints": (inspect.endpoints, "Endpoints known to the datapath, with counters"),
    "counters": (inspect.counters, "Flow events: published-port connections, masquerade"),
    "tunnel": (inspect.tunnel, "Overlay endpoints on other nodes (the tunnel map)"),
}


def installer(hub: EventHub, names: NameSource) -> Callable[[Router, Node], None]:
    """The ``node.extra_routes`` entry that adds the inspection and monitor routes."""

    def install_routes(router: Router, node: Node) -> None:
        for name, (table, summary) in TABLES.items():
            router.add("GET", f"/v1/bpf/{name}", summary)(_table_handler(node, names, name, table))

        @router.add(
            "GET",
            "/v1/bpf/stats",
            "Forward and drop counters per direction and reason (all=1: zero rows too)",
            query={"all": FLAG},
        )
        def bpf_stats(req: Request) -> Any:
            show_all = req.query.get("all", "0").lower() in ("1", "true")
            return inspect.stats(node.datapath, names.get(), show_all)

        @router.add(
            "GET",
            "/v1/bpf/ct",
            "Conntrack entries, each flow in its original direction (filters: addr, port, proto)",
        )
        def bpf_ct(req: Request) -> Any:
            flt = inspect.CtFilter(req.query)
            return inspect.ct(node.datapath, names.get(), flt)

        @router.add(
            "GET",
            "/v1/monitor",
            "Stream datapath drop/trace events (type, container; trace_sample_rate: 1 of N "
            "forwarded packets traced while the stream is open)",
            query={"trace_sample_rate": RATE},
        )
        def monitor(req: Request) -> Any:
            container_id = None
            ref = req.query.get("container") or ""
            if ref:
                with node.lock:
                    container_id = lookup.container(node.store, ref).id
            rate = int(req.query.get("trace_sample_rate") or 0)
            sub = hub.subscribe(req.query.get("type") or None, container_id, rate)
            return Stream(hub.stream(sub))

        @router.add("GET", "/v1/monitor/config", "Trace sampling and drop event budget")
        def monitor_config(req: Request) -> Any:
            return hub.settings()

        @router.add(
            "PUT",
            "/v1/monitor/config",
            "Set the node's trace sample rate (1 of N forwarded packets; 0 = off)",
            body=MONITOR_CONFIG,
        )
        def monitor_config_set(req: Request) -> Any:
            rate = req.body.get("TraceSampleRate")
            if rate is None:
                return hub.settings()
            return hub.set_base_rate(int(rate))

    return install_routes


def _table_handler(
    node: Node, names: NameSource, name: str, table: Table
) -> Callable[[Request], Any]:
    def handler(req: Request) -> Any:
        return table(node.datapath, names.get())

    handler.__name__ = f"bpf_{name}"
    return handler
