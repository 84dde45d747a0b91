"""``network create`` driver options (``-o``) and the ``Env`` and ``Dns`` of a container.

Texts follow Docker 20.10: bridge driver ``fromLabels``/``parseErr``
(``failed to parse <option> value: <value> (<reason>)``) with Go's
``strconv`` messages as reasons. Unknown option keys are kept, as Docker
ignores them but shows them in ``inspect``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from controller.errors import InvalidArgument, shown
from controller.rules.names import validate_interface_name

BRIDGE_NAME = "com.docker.network.bridge.name"
ENABLE_IP_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
DRIVER_MTU = "com.docker.network.driver.mtu"
HOST_IPV4 = "com.docker.network.host_ipv4"

DEFAULT_MTU = 1500
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_GO_INT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class BridgeOptions:
    bridge_name: str | None = None  # None = Hawser's default (hw-<id12>)
    enable_ip_masquerade: bool = True
    enable_icc: bool = True
    host_binding_ipv4: IPv4Address = IPv4Address("0.0.0.0")
    mtu: int = DEFAULT_MTU
    host_ipv4: IPv4Address | None = None  # SNAT source; None = the egress address
    extra: dict[str, str] = field(default_factory=dict)  # unknown keys, kept verbatim


def _parse_err(label: str, value: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"failed to parse {shown(label)} value: {shown(value)} ({reason})")


def parse_bool(label: str, value: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _parse_err(label, value, f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _parse_int(label: str, value: str) -> int:
    """Go's ``strconv.Atoi`` on 64-bit."""
    if not _GO_INT.fullmatch(value):
        raise _parse_err(label, value, f'strconv.Atoi: parsing "{value}": invalid syntax')
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise _parse_err(label, value, f'strconv.Atoi: parsing "{value}": value out of range')
    return number


def _parse_ipv4(label: str, value: str) -> IPv4Address:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise _parse_err(label, value, "nil ip") from None
    if not isinstance(addr, IPv4Address):
        raise _parse_err(label, value, "IPv6 is not supported")
    return addr


def parse_bridge_options(opts: Mapping[str, str]) -> BridgeOptions:
    name: str | None = None
    masq = icc = True
    binding = IPv4Address("0.0.0.0")
    mtu = DEFAULT_MTU
    host_ip: IPv4Address | None = None
    extra: dict[str, str] = {}
    for label, value in opts.items():
        if label == BRIDGE_NAME:
            try:
                name = validate_interface_name(value)
            except InvalidArgument:
                raise _parse_err(label, value, "invalid interface name") from None
        elif label == ENABLE_IP_MASQUERADE:
            masq = parse_bool(label, value)
        elif label == ENABLE_ICC:
            icc = parse_bool(label, value)
        elif label == HOST_BINDING_IPV4:
            binding = _parse_ipv4(label, value)
        elif label == HOST_IPV4:
            host_ip = _parse_ipv4(label, value)
        elif label == DRIVER_MTU:
            mtu = _parse_int(label, value)
            if mtu == 0:
                mtu = DEFAULT_MTU
            elif not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU number: {mtu}")
        else:
            extra[label] = value
    return BridgeOptions(name, masq, icc, binding, mtu, host_ip, extra)


VXLAN_ID_LIST = "com.docker.network.driver.overlay.vxlanid_list"


def parse_overlay_options(opts: Mapping[str, str]) -> int | None:
    """An overlay's ``-o``: its MTU (``com.docker.network.driver.mtu``; None = the node's
    uplink MTU - 50). Other keys are kept, as Docker does, but a VNI is the store's to give."""
    mtu: int | None = None
    for label, value in opts.items():
        if label == DRIVER_MTU:
            mtu = _parse_int(label, value) or None
            if mtu is not None and not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU number: {mtu}")
        elif label == VXLAN_ID_LIST:
            raise InvalidArgument(
                f"option {VXLAN_ID_LIST} is not supported: the cluster store allocates VNIs"
            )
    return mtu


def parse_env(items: Iterable[str]) -> list[str]:
    """An API body's ``Env``: ``K=V`` entries (Docker's ValidateEnv); a bare ``K`` is dropped.

    The CLI has given ``-e K`` its own value already (it is the one with that environment).
    """
    result: list[str] = []
    for item in items:
        key, sep, _ = item.partition("=")
        if key == "":
            raise InvalidArgument(f"invalid environment variable: {shown(item)}")
        if sep:
            result.append(item)
    return result


def parse_dns(items: Iterable[str]) -> list[str]:
    """``--dns`` servers: IP addresses only (they become ``nameserver`` lines of resolv.conf).

    Docker's CLI refuses anything ``net.ParseIP`` does not take (``invalid argument "X" for
    "--dns" flag: X is not an ip address``); the API says the same of its ``Dns`` field and
    is stricter about spaces and scope ids (``fe80::1%eth0``), which resolv.conf cannot carry.
    """
    servers: list[str] = []
    for item in items:
        try:
            if "%" in item or item != item.strip():
                raise ValueError(item)
            addr = ipaddress.ip_address(item)
        except ValueError:
            raise InvalidArgument(
                f"invalid argument {shown(item, quote_always=True)} for Dns: "
                f"{shown(item)} is not an ip address"
            ) from None
        servers.append(str(addr))
    return servers
