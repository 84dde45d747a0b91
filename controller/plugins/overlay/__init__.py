"""Multi-host overlay networks over the cluster store (issue 9): the ``overlay`` driver.

Installed by the daemon with the other plugins; it does nothing unless ``--cluster-store``
is set. Then it brings:

- ``agent.ClusterAgent``: the node's membership (lease, advertise address), the watch on the
  store, the overlays mirrored as local networks, the tunnel map and the DNS view of the
  endpoints on other nodes, this node's endpoints kept in step with the store;
- ``driver.OverlayDriver``: ``network create|rm -d overlay``, address and name claims, the
  gateway network (``hawser_gwbridge``) for the containers' way out;
- ``GET /v1/nodes`` (``hawser node ls``), ``Cluster Store``/``Cluster Advertise`` in
  ``/v1/info``, and the watch's and lease's metrics.

What it asks of the layers below is generic (``ops.node.Node``): ``drivers``,
``remote_endpoints``, ``tunnel_entries``/``tunnel_lock``, ``kernel_links``,
``metric_sources``, ``info_sections``. The key layout is ``controller/cluster/KEYS.md``.
"""

from __future__ import annotations

from controller.cluster.options import store_config
from controller.errors import InvalidArgument
from controller.ops.node import Node
from controller.plugins.overlay import metrics, routes
from controller.plugins.overlay.agent import ClusterAgent
from controller.plugins.overlay.driver import OverlayDriver
from controller.rules import names
from controller.rules.model import OVERLAY

__all__ = ["ClusterAgent", "OverlayDriver", "install"]


def install(node: Node) -> ClusterAgent | None:
    """Wire the overlay into ``node`` when the configuration names a cluster store."""
    values = node.config.values
    url = str(values.get("cluster_store") or "")
    if not url:
        return None
    advertise = str(values.get("cluster_advertise") or "")
    if not advertise:
        raise InvalidArgument(
            "--cluster-advertise is required with --cluster-store: the address (or interface) "
            "other nodes reach this one's tunnel at"
        )
    config = store_config(url, list(values.get("cluster_store_opt") or []))
    agent = ClusterAgent(node, config, advertise)
    node.drivers[OVERLAY] = OverlayDriver(agent)
    node.remote_endpoints = agent.remote_endpoints
    node.tunnel_entries = agent.tunnel_entries
    node.kernel_links.add(names.VXLAN_DEVICE)  # never an orphan, not even before the start
    node.metric_sources.append(lambda: metrics.families(agent))
    node.info_sections.append(
        lambda: {"ClusterStore": config.url, "ClusterAdvertise": agent.advertise or advertise}
    )
    node.extra_routes.append(routes.installer(agent))
    node.on("started", agent.start)
    node.on("resynced", agent.on_resynced)
    node.on("stopping", agent.stop)
    return agent
