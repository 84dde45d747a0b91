"""Network drivers beyond ``bridge``: what the operations ask a plugin for.

The operations layer knows one local driver, ``bridge``. A plugin that brings another (the
overlay plugin brings ``overlay``, whose networks and addresses live in the cluster store)
registers a ``NetworkDriver`` in ``Node.drivers`` under its name; the operations then call it
where the answer is not theirs to give, and keep doing every kernel and datapath step
themselves (a driver's network is applied on this node as a ``Network`` row with a bridge,
like a bridge network):

- ``network create -d NAME`` and ``network rm`` of its networks go to the driver;
- an endpoint's address comes from ``claim_address`` (and goes back with ``release_address``)
  instead of the node's own allocator;
- a container on one of its networks that is not ``--internal`` also gets an endpoint on the
  network ``gateway_network`` returns (Docker's docker_gwbridge: default route, masquerade,
  published ports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from controller.ops.networks import NetworkRequest
    from controller.ops.node import Node
    from controller.rules.model import Container, Network
    from controller.store.transaction import Undo


class NetworkDriver(Protocol):
    def create_network(self, node: Node, req: NetworkRequest) -> Network:
        """Create the network (called without the node's lock) and return it as applied on
        this node."""

    def remove_network(self, node: Node, net: Network) -> None:
        """Remove the network (called without the node's lock)."""

    def claim_address(
        self,
        node: Node,
        net: Network,
        ctr: Container,
        endpoint_id: str,
        requested_ip: str | None,
        aliases: list[str],
    ) -> str:
        """The address of a new endpoint of ``ctr`` on ``net`` (its name claimed with it)."""

    def release_address(self, node: Node, net: Network, endpoint_id: str) -> None:
        """Give back what ``claim_address`` took (nothing when it is already gone)."""

    def gateway_network(self, node: Node, undo: Undo) -> Network:
        """The node's local network that gives this driver's containers their way out."""
