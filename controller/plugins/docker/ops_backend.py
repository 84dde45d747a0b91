"""The Docker backend over Hawser's operations: Docker's networks, sandboxes and ports become
Hawser's own rows, bridges, veths and map entries (owner ``docker``).

State between calls lives in the store (``plugin_state``, plugin ``docker``), so a restarted
Hawser answers Docker's next call as if it had never stopped (Docker replays nothing):

- ``pool:<pool id>``: an IPAM pool — its subnet, optional range (``--ip-range``) and the
  addresses reserved in it (gateway, aux, endpoints) — from RequestPool to ReleasePool,
  which comes before DeleteNetwork (``docker network rm`` releases IPAM first);
- ``endpoint:<endpoint id>``: an endpoint between CreateEndpoint and Join (Docker names the
  sandbox only at Join, and the veth is made then).

The network's id is Docker's. Docker names neither networks nor containers in its calls:
they start as ``docker-<id12>`` and :mod:`.names` gives them Docker's names once dockerd shows
them. Docker's containers are sandboxes keyed by Docker's ``SandboxKey``; Hawser makes both
ends of each veth in the node (the container end ``hwp<id11>``) and Docker moves one in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from controller.errors import Conflict, InvalidArgument, NotFound
from controller.kernel import links
from controller.ops import endpoints, engines, networks
from controller.ops.node import Node
from controller.plugins.docker.backend import (
    GLOBAL_ADDRESS_SPACE,
    AddressKind,
    AddressRequest,
    Connectivity,
    EndpointSpec,
    JoinResult,
    NetworkSpec,
    Pool,
    PoolRequest,
)
from controller.plugins.docker.wire import PORTMAP, PROTOCOL_NUMBERS
from controller.rules import ipam
from controller.rules.model import Network
from controller.rules.portspec import Port
from controller.store.transaction import operation

log = logging.getLogger(__name__)

PLUGIN = "docker"
OWNER = "docker"
PEER_PREFIX = "hwp"  # names.py: the peer of a veth before it is moved


def peer_name(endpoint_id: str) -> str:
    return PEER_PREFIX + endpoint_id[:11]


def placeholder_name(object_id: str) -> str:
    """What a Docker network or container is called until Docker's name is known."""
    return f"{OWNER}-{object_id[:12]}"


class OpsBackend:
    """:class:`~controller.plugins.docker.backend.DockerBackend` over controller/ops.

    ``learned`` is called after a call that made something Docker will name (the name
    resolver's wake-up)."""

    def __init__(self, node: Node, learned: Callable[[], None] = lambda: None) -> None:
        self.node = node
        self.learned = learned

    # --- IPAM ------------------------------------------------------------------------------
    def _pool(self, pool_id: str) -> dict[str, Any]:
        doc = self.node.store.plugin_state(PLUGIN, f"pool:{pool_id}")
        if doc is None:
            raise NotFound(f"no IPAM pool {pool_id}")
        return dict(doc)

    def _save_pool(self, pool_id: str, doc: dict[str, Any]) -> None:
        with operation(self.node.store):
            self.node.store.put_plugin_state(PLUGIN, f"pool:{pool_id}", doc)

    def _pools(self) -> dict[str, dict[str, Any]]:
        return {
            key.removeprefix("pool:"): doc
            for key, doc in self.node.store.plugin_states(PLUGIN, "pool:").items()
        }

    def request_pool(self, request: PoolRequest) -> Pool:
        if request.address_space == GLOBAL_ADDRESS_SPACE:
            raise InvalidArgument("Hawser's IPAM serves local-scope networks only")
        with self.node.lock:
            pooled = [IPv4Network(doc["subnet"]) for doc in self._pools().values()]
            if request.pool is None:
                subnet = networks.free_subnet(self.node, pooled)
            else:
                subnet = request.pool
                if subnet.prefixlen > 30:
                    raise InvalidArgument(f"subnet {subnet} is too small for a network")
                ipam.check_reserved(subnet)
                ipam.check_overlap(subnet, pooled + networks.taken_subnets(self.node))
            gateway = subnet.network_address + 1
            pool_id = f"hawser-{subnet}"
            doc = {
                "subnet": str(subnet),
                "range": str(request.sub_pool) if request.sub_pool else "",
                "addresses": {str(gateway): "gateway"},
            }
            self._save_pool(pool_id, doc)
        return Pool(pool_id, subnet, IPv4Interface(f"{gateway}/{subnet.prefixlen}"))

    def release_pool(self, pool_id: str) -> None:
        with self.node.lock, operation(self.node.store):
            self.node.store.delete_plugin_state(PLUGIN, f"pool:{pool_id}")

    def request_address(self, request: AddressRequest) -> IPv4Interface:
        with self.node.lock:
            doc = self._pool(request.pool_id)
            subnet = IPv4Network(doc["subnet"])
            addresses: dict[str, str] = doc["addresses"]
            if request.kind is AddressKind.GATEWAY:  # asked only with --gateway: drop our pick
                for picked in [a for a, kind in addresses.items() if kind == "gateway"]:
                    del addresses[picked]
            used = set(addresses) | self._endpoint_ips(subnet)
            if request.address is not None:
                ip = request.address
                if ip not in subnet:
                    raise InvalidArgument(
                        f"Invalid address {ip}: It does not belong to any of this network's subnets"
                    )
                if ip in (subnet.network_address, subnet.broadcast_address) or str(ip) in used:
                    raise Conflict(f"{ipam.ADDRESS_IN_USE}: {ip}")
            else:
                ip = self._first_free(subnet, doc["range"], used)
            addresses[str(ip)] = request.kind.value
            self._save_pool(request.pool_id, doc)
        return IPv4Interface(f"{ip}/{subnet.prefixlen}")

    def _endpoint_ips(self, subnet: IPv4Network) -> set[str]:
        """Addresses of the network on this subnet that its pool does not list (none,
        normally: a safety net for a store from before the pool)."""
        for net in self.node.store.networks():
            if net.subnet == str(subnet):
                return set(self.node.store.endpoint_ips(net.id))
        return set()

    @staticmethod
    def _first_free(subnet: IPv4Network, within: str, used: set[str]) -> IPv4Address:
        space = IPv4Network(within) if within else subnet
        for ip in space.hosts() if space.prefixlen < 31 else space:
            if ip in subnet and ip != subnet.broadcast_address and str(ip) not in used:
                return ip
        raise Conflict(f"no available IPv4 addresses on this network's address pools: {subnet}")

    def release_address(self, pool_id: str, address: IPv4Address) -> None:
        with self.node.lock:
            doc = self.node.store.plugin_state(PLUGIN, f"pool:{pool_id}")
            if doc is None or str(address) not in doc["addresses"]:
                return  # released already (Docker replays after restarts)
            del doc["addresses"][str(address)]
            self._save_pool(pool_id, doc)

    # --- networks --------------------------------------------------------------------------
    def create_network(self, spec: NetworkSpec) -> None:
        with self.node.lock:
            existing = self.node.store.network(spec.network_id)
            if existing is not None and existing.owner == OWNER:
                return  # a replay
            request = networks.NetworkRequest(
                name=placeholder_name(spec.network_id),
                subnet=str(spec.subnet),
                gateway=str(spec.gateway.ip) if spec.gateway is not None else None,
                aux={name: str(ip) for name, ip in spec.aux_addresses.items()},
                internal=spec.internal,
                options=dict(spec.options),
                network_id=spec.network_id,
                owner=OWNER,
            )
            networks.create(self.node, request)
        self.learned()

    def delete_network(self, network_id: str) -> None:
        with self.node.lock:
            net = self.node.store.network(network_id)
            if net is None:
                return
            with operation(self.node.store):
                for ep in self.node.store.endpoints(network_id=network_id):
                    ctr = self.node.store.container(ep.container_id)
                    if ctr is not None and ctr.owner == OWNER:  # left by a dockerd crash
                        log.info("removing endpoint %s left on network %s", ep.id[:12], net.name)
                        engines.detach(self.node, ctr, ep)
                for key, doc in self.node.store.plugin_states(PLUGIN, "endpoint:").items():
                    if doc["network_id"] == network_id:
                        self.node.store.delete_plugin_state(PLUGIN, key)
            networks.remove(self.node, network_id, owner=OWNER)

    # --- endpoints -------------------------------------------------------------------------
    def _network(self, network_id: str) -> Network:
        net = self.node.store.network(network_id)
        if net is None:
            raise NotFound(f"network {network_id} not found")
        engines.check_network(net, OWNER)
        return net

    def create_endpoint(self, spec: EndpointSpec) -> str:
        with self.node.lock:
            key = f"endpoint:{spec.endpoint_id}"
            made = self.node.store.endpoint(spec.endpoint_id)
            pending = self.node.store.plugin_state(PLUGIN, key)
            if made is not None or pending is not None:  # a replay
                return str(made.mac if made is not None else pending["mac"])
            net = self._network(spec.network_id)
            if spec.address is None:
                raise InvalidArgument("an endpoint of a Hawser network needs an IPv4 address")
            subnet = IPv4Network(net.subnet)
            if spec.address.ip not in subnet:
                raise InvalidArgument(
                    f"Invalid address {spec.address.ip}: It does not belong to any of this "
                    "network's subnets"
                )
            mac = spec.mac or endpoints.mac_for(str(spec.address.ip))
            doc = {"network_id": net.id, "ip": str(spec.address.ip), "mac": mac}
            with operation(self.node.store):
                self.node.store.put_plugin_state(PLUGIN, key, doc)
            return mac

    def endpoint_info(self, network_id: str, endpoint_id: str) -> dict[str, object]:
        with self.node.lock:
            found = engines.endpoint_of(self.node, endpoint_id)
            if found is None or found[0].ports_endpoint != endpoint_id:
                return {}
            portmap = [
                {"Proto": PROTOCOL_NUMBERS[b.proto], "IP": found[1].ip, "Port": b.container_port,
                 "HostIP": b.host_ip, "HostPort": b.host_port, "HostPortEnd": b.host_port}
                for b in self.node.store.bindings(found[0].id)
            ]  # fmt: skip
            return {PORTMAP: portmap}

    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        with self.node.lock, operation(self.node.store):
            self.node.store.delete_plugin_state(PLUGIN, f"endpoint:{endpoint_id}")
            found = engines.endpoint_of(self.node, endpoint_id)
            if found is not None and found[0].owner == OWNER:
                engines.detach(self.node, *found)

    def join(self, network_id: str, endpoint_id: str, sandbox_key: str) -> JoinResult:
        node = self.node
        with node.lock:
            net = self._network(network_id)
            gateway = None if net.internal else IPv4Address(net.gateway)
            if node.store.endpoint(endpoint_id) is not None:  # a replay
                return JoinResult(src_name=peer_name(endpoint_id), gateway=gateway)
            pending = node.store.plugin_state(PLUGIN, f"endpoint:{endpoint_id}")
            if pending is None:
                raise NotFound(f"endpoint {endpoint_id} not found")
            if not sandbox_key:
                raise InvalidArgument("SandboxKey is required")
            found = node.store.engine_containers(OWNER, sandbox_key=sandbox_key)
            ctr = found[0] if found else None
            if ctr is None:
                ctr = engines.new_sandbox(
                    node, OWNER, engine_id="", sandbox_key=sandbox_key, network=net
                )

            def plumb(spec: links.VethSpec) -> int:
                peer = peer_name(endpoint_id)
                return links.create_veth_pair(node.ipr, spec.host_name, peer, spec.mac, spec.mtu)

            with operation(node.store) as undo:
                engines.attach(
                    node, undo, ctr, net, plumb,
                    ifname=endpoints.next_ifname(node, ctr),
                    ip=pending["ip"], mac=pending["mac"], endpoint_id=endpoint_id,
                )  # fmt: skip
                if not found:
                    node.emit("container_created", ctr)
                node.store.delete_plugin_state(PLUGIN, f"endpoint:{endpoint_id}")
        self.learned()
        return JoinResult(src_name=peer_name(endpoint_id), gateway=gateway)

    def leave(self, network_id: str, endpoint_id: str) -> None:
        """Nothing to undo: Docker moves the interface back and deletes the endpoint next."""

    # --- published ports -------------------------------------------------------------------
    def program_external_connectivity(self, request: Connectivity) -> None:
        with self.node.lock:
            found = engines.endpoint_of(self.node, request.endpoint_id)
            if found is None:
                raise NotFound(f"endpoint {request.endpoint_id} not found")
            ctr, ep = found
            exposed = [Port(e.port, e.proto) for e in request.exposed]
            with operation(self.node.store) as undo:
                engines.publish(self.node, undo, ctr, ep, list(request.ports), exposed)

    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        with self.node.lock:
            found = engines.endpoint_of(self.node, endpoint_id)
            if found is None:
                return
            ctr, _ = found
            if ctr.ports_endpoint in ("", endpoint_id):
                with operation(self.node.store) as undo:
                    engines.withdraw(self.node, undo, ctr)
