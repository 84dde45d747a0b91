"""Conversions between Python values and the network-order fields of the BPF types."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from controller.errors import InvalidArgument
from controller.rules.portspec import DATAPATH_PROTOCOLS

#: IP protocol numbers of the protocols the maps key on (ports, policy), plus ICMP (flows).
PROTOS = {
    name: getattr(socket, f"IPPROTO_{name.upper()}") for name in (*DATAPATH_PROTOCOLS, "icmp")
}
PROTO_NAMES = {v: k for k, v in PROTOS.items()}


def ip_u32(ip: str, what: str = "address") -> int:
    """IPv4 text -> the integer whose in-memory bytes are the address (network order)."""
    try:
        return int.from_bytes(ipaddress.IPv4Address(ip).packed, "little")
    except (ipaddress.AddressValueError, ValueError) as e:
        raise InvalidArgument(f"invalid IP address: {ip}") from e


def u32_ip(v: int) -> str:
    return str(ipaddress.IPv4Address(int(v).to_bytes(4, "little")))


def port_u16(port: int, what: str = "port") -> int:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidArgument(f"invalid {what}: {port}")
    return socket.htons(port)


def u16_port(v: int) -> int:
    return socket.ntohs(int(v))


def proto_num(proto: str) -> int:
    """A published port's or policy entry's protocol (``DATAPATH_PROTOCOLS``) as its number."""
    if proto not in DATAPATH_PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    return PROTOS[proto]


def proto_name(n: int) -> str:
    return PROTO_NAMES.get(int(n), str(int(n)))


def mac_bytes(mac: str) -> bytes:
    try:
        b = bytes(int(x, 16) for x in mac.split(":"))
    except ValueError as e:
        raise InvalidArgument(f"invalid MAC address: {mac}") from e
    if len(b) != 6:
        raise InvalidArgument(f"invalid MAC address: {mac}")
    return b


def bytes_mac(b: Any) -> str:
    return ":".join(f"{int(x):02x}" for x in b)


def set_mac(field: Any, mac: str) -> None:
    for i, x in enumerate(mac_bytes(mac)):
        field[i] = x


def subnet(cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet: {cidr}") from e
