"""The ``overlay`` network driver (``ops.drivers.NetworkDriver``) over the cluster store.

- ``network create -d overlay``: one compare-and-swap transaction in etcd claims the name,
  a VNI and the subnet (``cluster.networks``); the network is then applied here by the
  watch, like on every other node, and the call returns once it has been.
- ``network rm``: refused while any node has an endpoint on it (one transaction again);
  applied by the watch.
- an endpoint's address and its container's name are claimed in etcd in one transaction
  under this node's lease (``cluster.endpoints``): no address is ever given twice, a name is
  unique per network cluster-wide (``service endpoint with name NAME already exists``), and
  a refusal leaves nothing in etcd or on the node. A release that cannot reach etcd is left
  to the agent's next reconcile with the store.
- the gateway network, ``hawser_gwbridge``: a local bridge network (172.18.0.0/16, or the
  next free pool), icc off, masquerading, made on first use, like Docker's docker_gwbridge.
"""

from __future__ import annotations

import contextlib
import logging

from controller.cluster import endpoints as cluster_endpoints
from controller.cluster import networks as cluster_networks
from controller.cluster.endpoints import EndpointSpec
from controller.cluster.networks import NetworkSpec
from controller.errors import Conflict, HawserError, NotFound, StoreError, network_has_endpoints
from controller.kernel import links
from controller.ops import networks
from controller.ops.networks import NetworkRequest
from controller.ops.node import Node
from controller.plugins.overlay.agent import ClusterAgent
from controller.rules import names, netopts
from controller.rules.model import GATEWAY_NETWORK, Container, Network
from controller.store.transaction import Undo

log = logging.getLogger(__name__)

GATEWAY_SUBNET = "172.18.0.0/16"  # Docker's docker_gwbridge, when free
GATEWAY_OPTIONS = {
    netopts.BRIDGE_NAME: names.GATEWAY_BRIDGE,
    netopts.ENABLE_ICC: "false",
    netopts.ENABLE_IP_MASQUERADE: "true",
}


class OverlayDriver:
    def __init__(self, agent: ClusterAgent) -> None:
        self.agent = agent

    # networks ----------------------------------------------------------------------------
    def create_network(self, node: Node, req: NetworkRequest) -> Network:
        netopts.parse_overlay_options(req.options)
        with node.lock:
            if any(n.name == req.name for n in node.store.networks()):
                raise Conflict(f"network with name {req.name} already exists")
            local = networks.local_subnets(node)
        self.agent.require_store()
        spec = NetworkSpec(
            name=req.name,
            subnet=req.subnet,
            gateway=req.gateway,
            ip_range=req.ip_range,
            aux_addresses=dict(req.aux),
            internal=req.internal,
            attachable=req.attachable,
            options=dict(req.options),
            labels=dict(req.labels),
        )
        made = cluster_networks.create(self.agent.store, spec, local=local)
        try:
            self.agent.wait_applied(made.create_revision)
            with node.lock:
                net = node.store.network(made.id)
            if net is None:
                why = self.agent.skipped.get(made.id, "not applied")
                raise HawserError(f"network {req.name} could not be applied on this node: {why}")
        except HawserError:
            with contextlib.suppress(HawserError):  # nothing half-made: not in the cluster either
                cluster_networks.remove(self.agent.store, made.id)
            raise
        return net

    def remove_network(self, node: Node, net: Network) -> None:
        with node.lock:
            if node.store.endpoints(network_id=net.id):
                raise network_has_endpoints(net.name, net.id)
        self.agent.require_store()
        with contextlib.suppress(NotFound):  # gone already: the watch takes it away here too
            cluster_networks.remove(self.agent.store, net.id)
        self.agent.wait_applied(self.agent.store.revision())

    # endpoints ---------------------------------------------------------------------------
    def claim_address(
        self,
        node: Node,
        net: Network,
        ctr: Container,
        endpoint_id: str,
        requested_ip: str | None,
        aliases: list[str],
    ) -> str:
        self.agent.require_store()
        gnet = self.agent.network(net.id)
        if gnet is None:
            raise NotFound(f"network {net.name} not found")
        spec = EndpointSpec(
            id=endpoint_id,
            name=ctr.name,
            node=self.agent.name,
            lease=self.agent.lease,
            container=ctr.id[:12],
            aliases=tuple(aliases),
            ip=requested_ip,
        )
        return cluster_endpoints.create(self.agent.store, gnet, spec).ip

    def release_address(self, node: Node, net: Network, endpoint_id: str) -> None:
        try:
            cluster_endpoints.remove(self.agent.store, net.id, endpoint_id)
        except StoreError as exc:  # etcd away: the reconcile with the store deletes it later
            log.warning(
                "cluster: endpoint %s stays in the store for now: %s", endpoint_id[:12], exc.message
            )

    # the way out -------------------------------------------------------------------------
    def gateway_network(self, node: Node, undo: Undo) -> Network:
        with node.lock:
            found = next((n for n in node.store.networks() if n.name == GATEWAY_NETWORK), None)
            if found is not None:
                return found
            made = None
            for subnet in (GATEWAY_SUBNET, None):
                req = NetworkRequest(
                    name=GATEWAY_NETWORK, subnet=subnet, options=dict(GATEWAY_OPTIONS)
                )
                try:
                    made, _ = networks.create(node, req)
                    break
                except HawserError as exc:  # 172.18/16 taken: the next free pool
                    if subnet is None:
                        raise
                    log.info("gateway network not on %s: %s", subnet, exc.message)
            assert made is not None
            # the rows go with the caller's transaction if it fails; the kernel's part too
            undo.push(node.datapath.delete_network, made.key)
            undo.push(links.delete_link, node.ipr, made.bridge)
            return made
