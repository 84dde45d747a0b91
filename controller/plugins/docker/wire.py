"""Docker's plugin JSON, decoded into the typed requests of :mod:`.backend` and encoded back.

Pure functions, no I/O. Field names and shapes are libnetwork's (the remote driver and remote
IPAM APIs of Docker 20.10): CIDRs and addresses are strings, ports carry IP protocol numbers,
absent maps may come as ``null``. A malformed field raises ``InvalidArgument`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_interface
from typing import Any

from controller.errors import InvalidArgument
from controller.plugins.docker.backend import (
    AddressKind,
    AddressRequest,
    Connectivity,
    EndpointSpec,
    ExposedPort,
    JoinResult,
    NetworkSpec,
    Pool,
    PoolRequest,
)
from controller.rules.portspec import PortBinding

# option keys of libnetwork's netlabel package
GENERIC = "com.docker.network.generic"
INTERNAL = "com.docker.network.internal"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
PORTMAP = "com.docker.network.portmap"
EXPOSED_PORTS = "com.docker.network.endpoint.exposedports"
MAC_ADDRESS = "com.docker.network.endpoint.macaddress"
GATEWAY = "com.docker.network.gateway"
REQUEST_ADDRESS_TYPE = "RequestAddressType"

PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}
PROTOCOL_NUMBERS = {name: number for number, name in PROTOCOLS.items()}


def text_field(body: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise InvalidArgument(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string, not {value!r}")
    return value


def _map(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{key} must be an object, not {value!r}")
    return value


def _str_map(body: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = _map(body, key)
    if not all(isinstance(v, str) for v in raw.values()):
        raise InvalidArgument(f"{key} must map strings to strings")
    return dict(raw)


def _ipv4(label: str, text: str) -> IPv4Address:
    try:
        addr = ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {label}: {text!r}") from None
    if not isinstance(addr, IPv4Address):
        raise InvalidArgument(f"IPv6 is not supported by Hawser: {label} {text}")
    return addr


def _ipv4_interface(label: str, text: str) -> IPv4Interface:
    """``a.b.c.d/nn``, or a bare address (taken as /32)."""
    try:
        iface = ip_interface(text)
    except ValueError:
        raise InvalidArgument(f"invalid {label}: {text!r}") from None
    if not isinstance(iface, IPv4Interface):
        raise InvalidArgument(f"IPv6 is not supported by Hawser: {label} {text}")
    return iface


def _ipv4_network(label: str, text: str) -> IPv4Network:
    net = _ipv4_interface(label, text).network
    if str(net.network_address) != text.split("/")[0]:
        raise InvalidArgument(f"invalid {label}: {text!r} has host bits set")
    return net


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidArgument(f"{key} must be a boolean, not {value!r}")


# --- IPAM -----------------------------------------------------------------------------------


def pool_request(body: Mapping[str, Any]) -> PoolRequest:
    if _bool(body, "V6"):
        raise InvalidArgument("IPv6 pools are not supported by Hawser")
    pool = text_field(body, "Pool")
    sub_pool = text_field(body, "SubPool")
    if sub_pool and not pool:
        raise InvalidArgument("SubPool given without Pool")
    parsed_pool = _ipv4_network("Pool", pool) if pool else None
    parsed_sub = _ipv4_network("SubPool", sub_pool) if sub_pool else None
    if parsed_pool and parsed_sub and not parsed_sub.subnet_of(parsed_pool):
        raise InvalidArgument(f"SubPool {sub_pool} is not inside Pool {pool}")
    return PoolRequest(
        address_space=text_field(body, "AddressSpace"),
        pool=parsed_pool,
        sub_pool=parsed_sub,
        options=_str_map(body, "Options"),
    )


def pool_response(pool: Pool) -> dict[str, Any]:
    data = {GATEWAY: str(pool.gateway)} if pool.gateway is not None else {}
    return {"PoolID": pool.pool_id, "Pool": str(pool.network), "Data": data}


def address_request(body: Mapping[str, Any]) -> AddressRequest:
    options = _str_map(body, "Options")
    address = text_field(body, "Address")
    kind = AddressKind.GATEWAY if options.get(REQUEST_ADDRESS_TYPE) == GATEWAY else None
    return AddressRequest(
        pool_id=text_field(body, "PoolID", required=True),
        address=_ipv4("Address", address) if address else None,
        kind=kind or AddressKind.ENDPOINT,
        mac=options.get(MAC_ADDRESS) or None,
    )


def address_response(address: IPv4Interface) -> dict[str, Any]:
    return {"Address": str(address), "Data": {}}


def release_address(body: Mapping[str, Any]) -> tuple[str, IPv4Address]:
    return text_field(body, "PoolID", required=True), _ipv4(
        "Address", text_field(body, "Address", required=True)
    )


# --- networks -------------------------------------------------------------------------------


def network_spec(body: Mapping[str, Any]) -> NetworkSpec:
    options = _map(body, "Options")
    if _bool(options, ENABLE_IPV6) or body.get("IPv6Data"):
        raise InvalidArgument("IPv6 is not supported by Hawser networks")
    ipv4 = body.get("IPv4Data") or []
    if not isinstance(ipv4, list) or len(ipv4) != 1 or not isinstance(ipv4[0], dict):
        raise InvalidArgument(f"IPv4Data must hold exactly one pool, not {ipv4!r}")
    data = ipv4[0]
    pool = text_field(data, "Pool", required=True)
    gateway = text_field(data, "Gateway")
    aux = {
        name: _ipv4_interface(f"AuxAddresses[{name}]", text).ip
        for name, text in _str_map(data, "AuxAddresses").items()
    }
    generic = _map(options, GENERIC)
    if not all(isinstance(v, str) for v in generic.values()):
        raise InvalidArgument(f"{GENERIC} must map strings to strings")
    return NetworkSpec(
        network_id=text_field(body, "NetworkID", required=True),
        subnet=_ipv4_interface("Pool", pool).network,
        gateway=_ipv4_interface("Gateway", gateway) if gateway else None,
        aux_addresses=aux,
        options=dict(generic),
        internal=_bool(options, INTERNAL),
        address_space=text_field(data, "AddressSpace"),
    )


def ids(body: Mapping[str, Any]) -> tuple[str, str]:
    return text_field(body, "NetworkID", required=True), text_field(
        body, "EndpointID", required=True
    )


# --- endpoints ------------------------------------------------------------------------------


def endpoint_spec(body: Mapping[str, Any]) -> EndpointSpec:
    network_id, endpoint_id = ids(body)
    iface = _map(body, "Interface")
    if text_field(iface, "AddressIPv6"):
        raise InvalidArgument("IPv6 is not supported by Hawser: Interface.AddressIPv6")
    address = text_field(iface, "Address")
    return EndpointSpec(
        network_id=network_id,
        endpoint_id=endpoint_id,
        address=_ipv4_interface("Interface.Address", address) if address else None,
        mac=text_field(iface, "MacAddress") or None,
        options=_map(body, "Options"),
    )


def endpoint_response(spec: EndpointSpec, mac: str) -> dict[str, Any]:
    """Only what Docker did not give: it rolls the endpoint back if a driver changes a field
    it set (libnetwork: "driver modified interface MAC address")."""
    return {"Interface": {"MacAddress": mac} if spec.mac is None else None}


def join_response(result: JoinResult) -> dict[str, Any]:
    return {
        "InterfaceName": {"SrcName": result.src_name, "DstPrefix": result.dst_prefix},
        "Gateway": str(result.gateway) if result.gateway is not None else "",
        "GatewayIPv6": "",
        "StaticRoutes": [
            {
                "Destination": str(route.destination),
                "RouteType": 1 if route.next_hop is None else 0,
                "NextHop": str(route.next_hop) if route.next_hop is not None else "",
            }
            for route in result.static_routes
        ],
        # never let libnetwork add docker_gwbridge (it would when a join has no gateway)
        "DisableGatewayService": True,
    }


# --- published ports ------------------------------------------------------------------------


def _proto(entry: Mapping[str, Any], where: str) -> str:
    number = entry.get("Proto")
    if number not in PROTOCOLS:
        raise InvalidArgument(f"{where}: unknown protocol number {number!r}")
    return PROTOCOLS[number]


def _port(entry: Mapping[str, Any], key: str, where: str, *, zero: bool) -> int:
    value = entry.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise InvalidArgument(f"{where}: invalid {key} {value!r}")
    if value == 0 and not zero:
        raise InvalidArgument(f"{where}: {key} is required")
    return value


def _host_ip(text: str, where: str) -> str:
    """ "" for every address; IPv6 is refused with portspec's wording."""
    if text in ("", "0.0.0.0"):
        return ""
    try:
        addr = ip_address(text)
    except ValueError:
        raise InvalidArgument(f"{where}: invalid HostIP {text!r}") from None
    if not isinstance(addr, IPv4Address):
        raise InvalidArgument(f"IPv6 host addresses are not supported: {text}")
    return str(addr)


def port_requests(raw: Any) -> tuple[PortBinding, ...]:
    """``com.docker.network.portmap``: HostPort 0 = Hawser picks; HostPortEnd > HostPort =
    any free port of the range (``-p 8000-8010:80``)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidArgument(f"{PORTMAP} must be a list, not {raw!r}")
    out = []
    for i, entry in enumerate(raw):
        where = f"{PORTMAP}[{i}]"
        if not isinstance(entry, dict):
            raise InvalidArgument(f"{where} must be an object")
        low = _port(entry, "HostPort", where, zero=True)
        high = _port(entry, "HostPortEnd", where, zero=True) or low
        if high < low:
            raise InvalidArgument(f"{where}: HostPortEnd {high} is below HostPort {low}")
        out.append(
            PortBinding(
                proto=_proto(entry, where),
                container_port=_port(entry, "Port", where, zero=False),
                host_ip=_host_ip(text_field(entry, "HostIP"), where),
                host_port_low=low or None,
                host_port_high=high or None,
            )
        )
    return tuple(out)


def exposed_ports(raw: Any) -> tuple[ExposedPort, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise InvalidArgument(f"{EXPOSED_PORTS} must be a list of objects, not {raw!r}")
    return tuple(
        ExposedPort(
            port=_port(e, "Port", f"{EXPOSED_PORTS}[{i}]", zero=False),
            proto=_proto(e, f"{EXPOSED_PORTS}[{i}]"),
        )
        for i, e in enumerate(raw)
    )


def connectivity(body: Mapping[str, Any]) -> Connectivity:
    network_id, endpoint_id = ids(body)
    options = _map(body, "Options")
    return Connectivity(
        network_id=network_id,
        endpoint_id=endpoint_id,
        ports=port_requests(options.get(PORTMAP)),
        exposed=exposed_ports(options.get(EXPOSED_PORTS)),
    )
