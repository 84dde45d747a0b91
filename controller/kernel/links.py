"""Bridges, veths, addresses and routes over netlink (pyroute2).

Everything here is idempotent by errno: creating what exists (EEXIST) or deleting what is
gone (ENODEV) is not an error; any other refusal leaves as a ``KernelError`` naming the link
(``kernel.errors``). ``ipr`` is an IPRoute (or the node's ``NodeNetlink``) in the daemon's
own netns.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from controller.errors import KernelError
from controller.kernel.errors import refusal

IFF_UP = 0x1


def _ignore(codes: tuple[int, ...], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code in codes:
            return None
        raise


@refusal("look up link {name}")
def ifindex(ipr: IPRoute, name: str) -> int | None:
    """The kernel's answer for one name (link_lookup would dump every link)."""
    try:
        return int(ipr.link("get", ifname=name)[0]["index"])
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


@refusal("look up link {name}")
def link_kind(ipr: IPRoute, name: str) -> str | None:
    """The driver of a link ("bridge", "veth"…; "" for lo and hardware), None if absent."""
    try:
        link = ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise
    return str(link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "")


@refusal("read the addresses of {name}")
def has_address(ipr: IPRoute, name: str, address: str, prefixlen: int) -> bool:
    index = ifindex(ipr, name)
    if index is None:
        return False
    return any(
        a.get("address") == address and int(a["prefixlen"]) == prefixlen
        for a in ipr.get_addr(family=2, index=index)
    )


@refusal("delete address {address}/{prefixlen} of {name}")
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


@refusal("list the links")
def link_names(ipr: IPRoute) -> list[str]:
    return [str(link.get("ifname")) for link in ipr.get_links()]


@refusal("read the MAC address of link {index}")
def link_mac(ipr: IPRoute, index: int) -> str:
    return str(ipr.get_links(index)[0].get("address"))


@refusal("set up bridge {name} with {gateway}/{prefixlen}")
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


@refusal("delete link {name}")
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


@refusal(
    "create veth {spec.inside_name} ({spec.ip}/{spec.prefixlen}) and its peer {spec.host_name}"
)
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


@refusal("create veth {host_name} and its peer {peer_name}")
def create_veth_pair(ipr: IPRoute, host_name: str, peer_name: str, mac: str, mtu: int) -> int:
    """Both ends in this netns, the peer with the endpoint's MAC (an engine moves it into its
    sandbox and sets the address itself); return the host end's ifindex."""
    _ignore(
        (errno.EEXIST,),
        ipr.link,
        "add",
        ifname=host_name,
        kind="veth",
        mtu=mtu,
        peer={"ifname": peer_name, "address": mac, "mtu": mtu},
    )
    index = ifindex(ipr, host_name)
    if index is None:
        raise KernelError(f"veth {host_name} did not appear")
    return index


@refusal("put veth {host_name} on its bridge")
def enslave(ipr: IPRoute, host_name: str, bridge_index: int, index: int = 0) -> int:
    """Put the node end of a veth on its bridge and up; return its ifindex."""
    index = index or ifindex(ipr, host_name) or 0
    if not index:
        raise KernelError(f"veth {host_name} did not appear in the node")
    ipr.link("set", index=index, master=bridge_index, state="up")
    return index


@refusal("list the node's addresses")
def node_addresses(ipr: IPRoute) -> list[tuple[str, str, int]]:
    """(ifname, address, prefixlen) of every IPv4 address in this netns."""
    names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
    return [
        (str(names.get(a["index"], "")), str(a.get("address")), int(a["prefixlen"]))
        for a in ipr.get_addr(family=2)
    ]


@refusal("list the node's routes")
def node_routes(
    ipr: IPRoute, except_via: AbstractSet[str] = frozenset()
) -> list[ipaddress.IPv4Network]:
    """Destinations of the main table's non-default IPv4 routes, but those through the
    links named in ``except_via``."""
    names = {link["index"]: link.get("ifname") for link in ipr.get_links()} if except_via else {}
    out = []
    for route in ipr.get_routes(family=2, table=254):
        dst = route.get("dst")
        if not dst or route["dst_len"] == 0 or names.get(route.get("oif")) in except_via:
            continue
        out.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
    return out


@refusal("list the links")
def links_by_name(ipr: IPRoute) -> dict[str, tuple[int, bool]]:
    """ifname → (ifindex, administratively up) of every link in this netns."""
    return {
        str(link.get("ifname")): (int(link["index"]), bool(link.get("flags", 0) & IFF_UP))
        for link in ipr.get_links()
    }


@refusal("set sysctl {name} to {value}")
def write_sysctl(name: str, value: str) -> None:
    """Write a sysctl of the daemon's own netns (/proc/sys/net is per netns)."""
    Path("/proc/sys", *name.split(".")).write_text(value)
