"""The narrow interface between Docker's plugin protocol and Hawser's operations layer.

The protocol layer (:mod:`.wire`, :mod:`.handlers`) turns each JSON call into one typed call on
a :class:`DockerBackend`; :mod:`.ops_backend` implements it over controller/ops. A backend raises
:class:`controller.errors.HawserError` (its one-line message reaches the user as
``Error response from daemon: remote: <message>``); anything else is reported as
``internal error: …`` and logged.

IPAM calls come before the network and endpoint calls that use their result, and carry no
network or endpoint id: Docker asks for a pool (``RequestPool``), then the gateway and aux
addresses (``RequestAddress``), and only then ``CreateNetwork`` with the pool's CIDR; an
endpoint's address is requested before ``CreateEndpoint``. The backend therefore keeps pools
and addresses on their own, keyed by pool id, and ``create_network``/``create_endpoint`` adopt
what was reserved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Protocol

from controller.rules.portspec import PortBinding

LOCAL_ADDRESS_SPACE = "hawser-local"
GLOBAL_ADDRESS_SPACE = "hawser-global"


class AddressKind(Enum):
    """Why Docker asks for an address: only the gateway is marked (``RequestAddressType``);
    an endpoint's address and an ``--aux-address`` come alike (the latter with a preferred
    address and before ``CreateNetwork``)."""

    ENDPOINT = "endpoint"
    GATEWAY = "gateway"


@dataclass(frozen=True)
class PoolRequest:
    """``IpamDriver.RequestPool``: ``pool`` None means "any free pool" (``V6`` is refused
    before the backend is called: Hawser is IPv4-only)."""

    address_space: str
    pool: IPv4Network | None
    sub_pool: IPv4Network | None
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pool:
    """What the backend reserved. ``gateway`` goes back in ``Data`` so that Docker uses it
    when the user gave no ``--gateway``."""

    pool_id: str
    network: IPv4Network
    gateway: IPv4Interface | None = None


@dataclass(frozen=True)
class AddressRequest:
    pool_id: str
    address: IPv4Address | None  # the preferred address, None = any free one
    kind: AddressKind
    mac: str | None = None  # com.docker.network.endpoint.macaddress, when Docker sends one


@dataclass(frozen=True)
class NetworkSpec:
    """``NetworkDriver.CreateNetwork``. ``options`` are the user's ``-o`` options
    (``com.docker.network.generic``), unparsed: the backend validates them with Hawser's
    bridge option rules so errors read the same as ``hawser network create``."""

    network_id: str
    subnet: IPv4Network
    gateway: IPv4Interface | None
    aux_addresses: dict[str, IPv4Address]
    options: dict[str, str]
    internal: bool = False
    address_space: str = ""


@dataclass(frozen=True)
class EndpointSpec:
    """``NetworkDriver.CreateEndpoint``: the address comes from IPAM (Hawser's or Docker's
    default), the MAC from the user (``--mac-address``) or None (the backend picks one)."""

    network_id: str
    endpoint_id: str
    address: IPv4Interface | None
    mac: str | None
    options: dict[str, object]


@dataclass(frozen=True)
class StaticRoute:
    destination: IPv4Network
    next_hop: IPv4Address | None  # None = a connected route (RouteType 1)


@dataclass(frozen=True)
class JoinResult:
    """``NetworkDriver.Join``: ``src_name`` is the container-side veth the backend made in the
    node's netns; Docker moves it into the sandbox and names it ``<dst_prefix><n>``."""

    src_name: str
    dst_prefix: str = "eth"
    gateway: IPv4Address | None = None  # None (internal network): no default route
    static_routes: tuple[StaticRoute, ...] = ()


@dataclass(frozen=True)
class ExposedPort:
    port: int
    proto: str  # "tcp" | "udp" | "sctp"


@dataclass(frozen=True)
class Connectivity:
    """``NetworkDriver.ProgramExternalConnectivity``: the container's ``-p``/``-P`` bindings
    (host port None = Hawser picks) and its exposed ports (for icc-off allow rules)."""

    network_id: str
    endpoint_id: str
    ports: tuple[PortBinding, ...]
    exposed: tuple[ExposedPort, ...]


class DockerBackend(Protocol):
    """What each protocol call does to Hawser. Every method is idempotent by id where Docker
    may replay it (it retries after restarts): deleting what is gone succeeds."""

    # IpamDriver.*
    def request_pool(self, request: PoolRequest) -> Pool: ...
    def release_pool(self, pool_id: str) -> None: ...
    def request_address(self, request: AddressRequest) -> IPv4Interface: ...
    def release_address(self, pool_id: str, address: IPv4Address) -> None: ...

    # NetworkDriver.*
    def create_network(self, spec: NetworkSpec) -> None: ...
    def delete_network(self, network_id: str) -> None: ...
    def create_endpoint(self, spec: EndpointSpec) -> str:
        """Make the endpoint (not yet in a sandbox); return its MAC address."""
        ...

    def endpoint_info(self, network_id: str, endpoint_id: str) -> dict[str, object]: ...
    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None: ...
    def join(self, network_id: str, endpoint_id: str, sandbox_key: str) -> JoinResult: ...
    def leave(self, network_id: str, endpoint_id: str) -> None: ...
    def program_external_connectivity(self, request: Connectivity) -> None:
        """Publish the ports; remember them by endpoint (Revoke carries no options)."""
        ...

    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        """Withdraw what program_external_connectivity published for this endpoint."""
        ...
