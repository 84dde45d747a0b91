"""Bridges, veths, addresses and routes over netlink (pyroute2).

Everything here is idempotent by errno: creating what exists (EEXIST) or deleting what is
gone (ENODEV) is not an error. ``ipr`` is an IPRoute in the daemon's own netns.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from controller import kernel_netns


def _ignore(codes: tuple[int, ...], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code in codes:
            return None
        raise


def ifindex(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_names(ipr: IPRoute) -> list[str]:
    return [str(link.get("ifname")) for link in ipr.get_links()]


def link_mac(ipr: IPRoute, index: int) -> str:
    return str(ipr.get_links(index)[0].get("address"))


def ensure_bridge(ipr: IPRoute, name: str, gateway: str, prefixlen: int, mtu: int, mac: str) -> int:
    """Create (or adopt) bridge ``name`` with the gateway address; return its ifindex.

    The MAC is set explicitly: a bridge left to choose its own takes the lowest MAC of its
    ports and changes it as veths come and go, which strands the containers' ARP entries
    for the gateway and the datapath's copy of the bridge MAC.
    """
    index = ifindex(ipr, name)
    if index is None:
        _ignore((errno.EEXIST,), ipr.link, "add", ifname=name, kind="bridge", address=mac)
        index = ifindex(ipr, name)
        assert index is not None
    if link_mac(ipr, index) != mac:
        ipr.link("set", index=index, address=mac)
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
    bridge_index: int
    netns: str
    inside_name: str
    ip: str
    prefixlen: int
    mac: str
    mtu: int
    gateway: str | None  # default route via it, None for internal/secondary


def create_endpoint(ipr: IPRoute, spec: VethSpec) -> int:
    """Create the veth pair (inside end straight into the sandbox) and configure both ends."""
    _ignore(
        (errno.EEXIST,),
        ipr.link,
        "add",
        ifname=spec.host_name,
        kind="veth",
        mtu=spec.mtu,
        peer={
            "ifname": spec.inside_name,
            "net_ns_fd": str(kernel_netns.path(spec.netns)),
            "mtu": spec.mtu,
            "address": spec.mac,
        },
    )
    index = ifindex(ipr, spec.host_name)
    if index is None:
        raise RuntimeError(f"veth {spec.host_name} did not appear")
    ipr.link("set", index=index, master=spec.bridge_index, state="up")
    kernel_netns.run_in(spec.netns, lambda: _configure_inside(spec))
    return index


def _configure_inside(spec: VethSpec) -> None:
    with IPRoute() as ns:
        index = ns.link_lookup(ifname=spec.inside_name)[0]
        _ignore(
            (errno.EEXIST,),
            ns.addr,
            "add",
            index=index,
            address=spec.ip,
            prefixlen=spec.prefixlen,
        )
        ns.link("set", index=index, state="up")
        if spec.gateway:
            _ignore((errno.EEXIST,), ns.route, "add", dst="default", gateway=spec.gateway)


def sandbox_links(netns: str) -> list[str]:
    def work() -> list[str]:
        with IPRoute() as ns:
            return link_names(ns)

    return kernel_netns.run_in(netns, work)


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
