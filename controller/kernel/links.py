"""Bridges, veths, addresses and routes over netlink (pyroute2).

Everything here is idempotent by errno: creating what exists (EEXIST) or deleting what is
gone (ENODEV) is not an error. ``ipr`` is an IPRoute in the daemon's own netns.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError


def _ignore(codes: tuple[int, ...], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code in codes:
            return None
        raise


def ifindex(ipr: IPRoute, name: str) -> int | None:
    """The kernel's answer for one name (link_lookup would dump every link)."""
    try:
        return int(ipr.link("get", ifname=name)[0]["index"])
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def link_kind(ipr: IPRoute, name: str) -> str | None:
    """The driver of a link ("bridge", "veth"…; "" for lo and hardware), None if absent."""
    try:
        link = ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise
    return str(link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "")


def has_address(ipr: IPRoute, name: str, address: str, prefixlen: int) -> bool:
    index = ifindex(ipr, name)
    if index is None:
        return False
    return any(
        a.get("address") == address and int(a["prefixlen"]) == prefixlen
        for a in ipr.get_addr(family=2, index=index)
    )


def delete_address(ipr: IPRoute, name: str, address: str, prefixlen: int) -> None:
    index = ifindex(ipr, name)
    if index is not None:
        _ignore(
            (errno.EADDRNOTAVAIL, errno.ENODEV),
            ipr.addr,
            "del",
            index=index,
            address=address,
            prefixlen=prefixlen,
        )


def link_names(ipr: IPRoute) -> list[str]:
    return [str(link.get("ifname")) for link in ipr.get_links()]


def link_mac(ipr: IPRoute, index: int) -> str:
    return str(ipr.get_links(index)[0].get("address"))


def ensure_bridge(
    ipr: IPRoute, name: str, gateway: str, prefixlen: int, mtu: int | None, mac: str | None
) -> int:
    """Create (or take up) bridge ``name`` with the gateway address; return its ifindex.

    The MAC is set explicitly: a bridge left to choose its own takes the lowest MAC of its
    ports and changes it as veths come and go, which strands the containers' ARP entries
    for the gateway and the datapath's copy of the bridge MAC. ``mac=None`` pins the MAC the
    bridge has now (an adopted bridge keeps its address); ``mtu=None`` leaves the MTU alone.
    """
    index = ifindex(ipr, name)
    if index is None:
        _ignore((errno.EEXIST,), ipr.link, "add", ifname=name, kind="bridge", address=mac)
        index = ifindex(ipr, name)
        assert index is not None
    current = link_mac(ipr, index)
    if mac is None or current != mac:
        ipr.link("set", index=index, address=mac or current)  # marks it set: it stays put
    if mtu is not None:
        ipr.link("set", index=index, mtu=mtu)
    _ignore((errno.EEXIST,), ipr.addr, "add", index=index, address=gateway, prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")
    return index


def delete_link(ipr: IPRoute, name: str) -> None:
    index = ifindex(ipr, name)
    if index is not None:
        _ignore((errno.ENODEV,), ipr.link, "del", index=index)


@dataclass(frozen=True)
class VethSpec:
    host_name: str
    inside_name: str
    ip: str
    prefixlen: int
    mac: str
    mtu: int
    gateway: str | None  # default route via it, None for internal/secondary


def node_netns_path() -> str:
    """The daemon's own netns, as seen from any of its threads."""
    return f"/proc/{os.getpid()}/ns/net"


def create_veth_inside(ns: IPRoute, spec: VethSpec) -> int:
    """From inside the sandbox: the veth pair (host end sent to the node), address, route.

    Returns the host end's ifindex in the node (the inside end's IFLA_LINK), which saves a
    lookup on the hot path of container creation.
    """
    _ignore(
        (errno.EEXIST,),
        ns.link,
        "add",
        ifname=spec.inside_name,
        kind="veth",
        address=spec.mac,
        mtu=spec.mtu,
        peer={"ifname": spec.host_name, "net_ns_fd": node_netns_path(), "mtu": spec.mtu},
    )
    inside = ns.link("get", ifname=spec.inside_name)[0]
    index = int(inside["index"])
    _ignore((errno.EEXIST,), ns.addr, "add", index=index, address=spec.ip, prefixlen=spec.prefixlen)
    ns.link("set", index=index, state="up")
    if spec.gateway:
        _ignore((errno.EEXIST,), ns.route, "add", dst="default", gateway=spec.gateway)
    return int(inside.get("link") or 0)


def enslave(ipr: IPRoute, host_name: str, bridge_index: int, index: int = 0) -> int:
    """Put the node end of a veth on its bridge and up; return its ifindex."""
    index = index or ifindex(ipr, host_name) or 0
    if not index:
        raise RuntimeError(f"veth {host_name} did not appear in the node")
    ipr.link("set", index=index, master=bridge_index, state="up")
    return index


def node_addresses(ipr: IPRoute) -> list[tuple[str, str, int]]:
    """(ifname, address, prefixlen) of every IPv4 address in this netns."""
    names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
    return [
        (str(names.get(a["index"], "")), str(a.get("address")), int(a["prefixlen"]))
        for a in ipr.get_addr(family=2)
    ]


def node_routes(ipr: IPRoute) -> list[ipaddress.IPv4Network]:
    """Destinations of the main table's non-default IPv4 routes."""
    out = []
    for route in ipr.get_routes(family=2, table=254):
        dst = route.get("dst")
        if dst and route["dst_len"] > 0:
            out.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
    return out


def write_sysctl(name: str, value: str) -> None:
    """Write a sysctl of the daemon's own netns (/proc/sys/net is per netns)."""
    Path("/proc/sys", *name.split(".")).write_text(value)
