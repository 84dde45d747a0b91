"""Observability: Prometheus metrics read from the BPF maps, ``/v1/bpf/*``, ``/v1/monitor``.

Public surface: ``install(node)`` — called once by the daemon after the Node is
built and before the first full sync (and before the datapath starts; every
map read happens later, at scrape or request time).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

from .collector import DatapathCollector
from .monitor import EventHub
from .names import NameSource
from .operations import Operations
from .routes import installer
from .server import DEFAULT_ADDRESS, MetricsServer, parse_address

if TYPE_CHECKING:
    from controller.ops.node import Node

__all__ = ["DEFAULT_ADDRESS", "install"]

log = logging.getLogger(__name__)


def install(node: Node) -> None:
    """Wire metrics, the inspection/monitor routes and the metrics listener into ``node``.

    - ``node.extra_routes`` gains the ``/v1/bpf/*`` and ``/v1/monitor`` routes;
    - ``node.observe`` feeds ``hawser_operation_duration_seconds`` / ``_errors_total``;
    - the listener starts on ``node.config.metrics_address`` ("" = off, port 0 =
      ephemeral) and ``node.metrics_address`` is set to the bound ``host:port``;
    - on the node's "stopping" event the listener and the event poller stop.
    Raises InvalidArgument for a malformed address, HawserError when it cannot listen.
    """
    # counters and histograms without their `_created` series: a timestamp per series that
    # doubles the series count and that no dashboard reads (process-wide, set once here)
    disable_created_metrics()
    names = NameSource(node)
    registry = CollectorRegistry()
    ops = Operations(registry)
    registry.register(DatapathCollector(node, lambda _node: names.get()))
    registry.register(ProcessCollector(namespace="hawser", registry=None))
    node.observe = ops.observe

    hub = EventHub(node, names)
    Gauge("hawser_monitor_streams", "Open /v1/monitor streams", registry=registry).set_function(
        hub.count
    )
    node.extra_routes.append(installer(hub, names))
    node.on("stopping", hub.close)

    where = parse_address(str(node.config.metrics_address or ""))
    if where is None:
        log.info("metrics disabled (--metrics-address is empty)")
        return
    server = MetricsServer(registry, *where)
    node.metrics_address = server.address
    node.on("stopping", server.close)
    log.info("metrics on http://%s/metrics", server.address)
