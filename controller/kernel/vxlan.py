"""The node's one collect-metadata VXLAN device (the overlay's tunnel endpoint).

``ip link add hawser_vx type vxlan external dstport 4789 nolearning``: no VNI, no remote,
no FDB: the overlay's TC program sets each packet's tunnel key (VNI, remote node) from the
tunnel map, and the program on this device delivers what arrives. Its MTU is the uplink's:
the 50 bytes of encapsulation are taken from the overlay's own MTU (1450 on a 1500 uplink),
so the outer packets fit the uplink without fragmenting.

Idempotent by errno: creating what exists adopts it (a device of our name with other
settings is Hawser's own stale one and is replaced), deleting what is gone is fine. Kernel
refusals become one-line ``HawserError``s here, and a failed create leaves no device.
``ipr`` is an IPRoute or NetNS of the node's netns.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from controller.errors import HawserError, InvalidArgument
from controller.rules.names import VXLAN_DEVICE

DEVICE = VXLAN_DEVICE  # hawser_vx: 9 of the 15 characters a name may have
PORT = 4789  # IANA's VXLAN port, as Docker's overlay uses
OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8


def overlay_mtu(uplink_mtu: int) -> int:
    """The MTU of an overlay network's interfaces on an uplink of ``uplink_mtu``."""
    return uplink_mtu - OVERHEAD


@dataclass(frozen=True)
class Vxlan:
    index: int
    name: str
    mtu: int
    port: int
    external: bool
    learning: bool
    up: bool

    def matches(self, port: int) -> bool:
        return self.external and self.port == port and not self.learning


def _vxlan_of(link: Any) -> Vxlan | None:
    info = link.get("IFLA_LINKINFO")
    if info is None or info.get("IFLA_INFO_KIND") != "vxlan":
        return None
    data = info.get("IFLA_INFO_DATA")
    get = data.get if data is not None else (lambda _key: None)
    return Vxlan(
        index=int(link["index"]),
        name=str(link.get("IFLA_IFNAME")),
        mtu=int(link.get("IFLA_MTU")),
        port=int(get("IFLA_VXLAN_PORT") or 0),
        external=bool(get("IFLA_VXLAN_COLLECT_METADATA")),
        learning=bool(get("IFLA_VXLAN_LEARNING")),
        up=bool(link["flags"] & 1),  # IFF_UP
    )


def _link(ipr: Any, name: str) -> Any | None:
    try:
        return ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def get(ipr: Any, name: str = DEVICE) -> Vxlan | None:
    """The VXLAN device ``name``, or None when there is none (or it is not a VXLAN)."""
    link = _link(ipr, name)
    return _vxlan_of(link) if link is not None else None


def _holder(ipr: Any, port: int) -> str | None:
    """The name of another external VXLAN device on ``port`` (the kernel allows one)."""
    for link in ipr.get_links():
        vx = _vxlan_of(link)
        if vx is not None and vx.external and vx.port == port:
            return vx.name
    return None


def _fail(action: str, name: str, exc: NetlinkError, mtu: int) -> HawserError:
    if exc.code == errno.EINVAL:
        return InvalidArgument(f"cannot {action} VXLAN device {name}: invalid MTU {mtu}")
    return HawserError(f"cannot {action} VXLAN device {name}: {os.strerror(exc.code).lower()}")


def ensure(ipr: Any, mtu: int, name: str = DEVICE, port: int = PORT) -> int:
    """Create or adopt the device, with ``mtu`` and up; returns its ifindex."""
    if len(name.encode()) > 15:
        raise InvalidArgument(f"VXLAN device name {name!r} is longer than 15 characters")
    link = _link(ipr, name)
    current = _vxlan_of(link) if link is not None else None
    if link is not None and (current is None or not current.matches(port)):
        delete(ipr, name)  # our name, other settings: a stale device of ours
        link = current = None
    created = False
    if current is None:
        try:
            ipr.link(
                "add",
                ifname=name,
                kind="vxlan",
                vxlan_collect_metadata=1,
                vxlan_port=port,
                vxlan_learning=0,
                mtu=mtu,
            )
            created = True
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise _fail("create", name, exc, mtu) from None
        current = get(ipr, name)
        if current is None or not current.matches(port):
            holder = _holder(ipr, port)
            why = (
                f"{holder} already uses UDP port {port}"
                if holder
                else "another device took the name"
            )
            raise HawserError(f"cannot create VXLAN device {name}: {why}")
    try:
        if current.mtu != mtu:
            ipr.link("set", index=current.index, mtu=mtu)
        if not current.up:
            ipr.link("set", index=current.index, state="up")
    except NetlinkError as exc:
        if created:
            delete(ipr, name)
        raise _fail("configure", name, exc, mtu) from None
    return current.index


def delete(ipr: Any, name: str = DEVICE) -> bool:
    """Remove the device; False when there was none."""
    link = _link(ipr, name)
    if link is None:
        return False
    try:
        ipr.link("del", index=int(link["index"]))
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return False
        raise HawserError(
            f"cannot delete VXLAN device {name}: {os.strerror(exc.code).lower()}"
        ) from None
    return True


def link_mtu(ipr: Any, ifname: str) -> int:
    """The MTU of a link (the uplink whose MTU the device takes)."""
    link = _link(ipr, ifname)
    if link is None:
        raise InvalidArgument(f"no such interface: {ifname}")
    return int(link.get("IFLA_MTU"))
