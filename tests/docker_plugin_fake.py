"""An in-memory DockerBackend for the protocol tests: it records every call and answers like
Hawser will (pools, addresses, MACs), so the protocol layer can be driven by unit tests and
by a real dockerd without the operations layer (the real backend: plugins/docker/ops_backend)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from controller.errors import Conflict, InvalidArgument, NotFound
from controller.plugins.docker.backend import (
    AddressKind,
    AddressRequest,
    Connectivity,
    EndpointSpec,
    JoinResult,
    NetworkSpec,
    Pool,
    PoolRequest,
)

DEFAULT_POOL = IPv4Network("10.200.0.0/24")


def mac_for(ip: IPv4Address) -> str:
    """Docker's convention: 02:42 and the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


@dataclass
class FakeBackend:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    pools: dict[str, Pool] = field(default_factory=dict)
    taken: dict[str, set[IPv4Address]] = field(default_factory=dict)
    networks: dict[str, NetworkSpec] = field(default_factory=dict)
    endpoints: dict[str, EndpointSpec] = field(default_factory=dict)
    bindings: dict[str, Connectivity] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, name: str, arg: Any) -> None:
        with self.lock:
            self.calls.append((name, arg))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def last(self, name: str) -> Any:
        return [arg for n, arg in self.calls if n == name][-1]

    # IPAM ---------------------------------------------------------------------------------
    def request_pool(self, request: PoolRequest) -> Pool:
        self._record("request_pool", request)
        net = request.pool or DEFAULT_POOL
        gateway = IPv4Interface(f"{net.network_address + 1}/{net.prefixlen}")
        pool = Pool(f"hawser-{net}", net, gateway)
        self.pools[pool.pool_id] = pool
        # Docker does not ask for a gateway it got in Data: reserve it now
        self.taken[pool.pool_id] = {gateway.ip}
        return pool

    def release_pool(self, pool_id: str) -> None:
        self._record("release_pool", pool_id)
        self.pools.pop(pool_id, None)
        self.taken.pop(pool_id, None)

    def request_address(self, request: AddressRequest) -> IPv4Interface:
        self._record("request_address", request)
        pool = self.pools.get(request.pool_id)
        if pool is None:
            raise NotFound(f"unknown pool {request.pool_id}")
        taken = self.taken[request.pool_id]
        if request.kind is AddressKind.GATEWAY and pool.gateway is not None:
            taken.discard(pool.gateway.ip)  # Docker asks only with --gateway: drop our pick
        if request.address is not None:
            if request.address not in pool.network:
                raise InvalidArgument(f"{request.address} is not in {pool.network}")
            if request.address in taken:
                raise Conflict(f"Address already in use: {request.address}")
            ip = request.address
        else:
            ip = next(h for h in pool.network.hosts() if h not in taken)
        taken.add(ip)
        return IPv4Interface(f"{ip}/{pool.network.prefixlen}")

    def release_address(self, pool_id: str, address: IPv4Address) -> None:
        self._record("release_address", (pool_id, address))
        self.taken.get(pool_id, set()).discard(address)

    # networks -----------------------------------------------------------------------------
    def create_network(self, spec: NetworkSpec) -> None:
        self._record("create_network", spec)
        if spec.options.get("com.docker.network.bridge.enable_icc") == "maybe":
            raise InvalidArgument(
                "invalid value for com.docker.network.bridge.enable_icc (maybe): "
                'strconv.ParseBool: parsing "maybe": invalid syntax'
            )
        self.networks[spec.network_id] = spec

    def delete_network(self, network_id: str) -> None:
        self._record("delete_network", network_id)
        self.networks.pop(network_id, None)

    def create_endpoint(self, spec: EndpointSpec) -> str:
        self._record("create_endpoint", spec)
        self.endpoints[spec.endpoint_id] = spec
        if spec.mac:
            return spec.mac
        assert spec.address is not None
        return mac_for(spec.address.ip)

    def endpoint_info(self, network_id: str, endpoint_id: str) -> dict[str, object]:
        self._record("endpoint_info", (network_id, endpoint_id))
        # the bindings in Docker's own JSON shape: even so Docker shows none (see the live test)
        bound = self.bindings.get(endpoint_id)
        portmap = [
            {"Proto": {"tcp": 6, "udp": 17}[p.proto], "IP": "", "Port": p.container_port,
             "HostIP": p.host_ip, "HostPort": p.host_port_low or 0,
             "HostPortEnd": p.host_port_high or 0}
            for p in (bound.ports if bound else ())
        ]  # fmt: skip
        return {"com.docker.network.portmap": portmap}

    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        self._record("delete_endpoint", (network_id, endpoint_id))
        self.endpoints.pop(endpoint_id, None)

    def join(self, network_id: str, endpoint_id: str, sandbox_key: str) -> JoinResult:
        self._record("join", (network_id, endpoint_id, sandbox_key))
        net = self.networks[network_id]
        gateway = None if net.internal or net.gateway is None else net.gateway.ip
        return JoinResult(src_name=container_side(endpoint_id), gateway=gateway)

    def leave(self, network_id: str, endpoint_id: str) -> None:
        self._record("leave", (network_id, endpoint_id))

    def program_external_connectivity(self, request: Connectivity) -> None:
        self._record("program", request)
        self.bindings[request.endpoint_id] = request

    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        self._record("revoke", (network_id, endpoint_id))
        self.bindings.pop(endpoint_id, None)


def container_side(endpoint_id: str) -> str:
    return f"hwc{endpoint_id[:11]}"


def host_side(endpoint_id: str) -> str:
    return f"hwv{endpoint_id[:11]}"
