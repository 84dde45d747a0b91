"""``GET /v1/nodes``: the cluster's nodes (``hawser node ls``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from controller.api.server import Request, Router
from controller.cluster import membership
from controller.ops.node import Node
from controller.plugins.overlay.agent import ClusterAgent
from controller.plugins.overlay.mirror import created_iso as _iso
from controller.rules import humanize


def installer(agent: ClusterAgent) -> Callable[[Router, Node], None]:
    def install_routes(router: Router, node: Node) -> None:
        @router.add("GET", "/v1/nodes", "Nodes of the cluster (address, state, endpoints)")
        def node_list(req: Request) -> Any:
            now = time.time()
            return [
                {
                    "Name": n.name,
                    "Address": n.address,
                    "State": n.state,
                    "Endpoints": n.endpoints,
                    "LastRenewal": _iso(n.last_renewal),
                    # what the CLI shows: durations are formatted here, as for ps
                    "LastRenewalAgo": humanize.duration(max(0.0, now - n.last_renewal)) + " ago",
                    "ExpiresIn": n.expires_in,
                    "TTL": n.ttl,
                    "Joined": _iso(n.joined),
                    "Self": n.name == agent.name,
                }
                for n in membership.list_nodes(agent.store)
            ]

    return install_routes
