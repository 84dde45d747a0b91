"""The daemon's side of ``hawser-cni``: ``POST /cni/v1/{add,del,check}`` on the API socket.

The contract is in :mod:`.client`. A CNI container is a sandbox of owner ``cni`` keyed by the
runtime's ``containerId``; each ``ifName`` is one endpoint on the ``network`` the
configuration names. ADD makes the veth from inside the runtime's netns (opened through
``/proc/<caller pid>/root`` when the path exists only in the runtime's mount namespace, as
podman's does), configures it as ``run`` would, publishes ``portMappings`` (host port 0:
Hawser picks) and answers the CNI result; DEL removes what ADD made and nothing else (never
the netns), and succeeds when there is nothing left; CHECK compares the store, the kernel and
the runtime's ``prevResult``. This module is imported by the daemon only (the plugin
executable imports nothing of the daemon's).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from controller.api.server import Request, Router
from controller.errors import HawserError, InvalidArgument, NotFound
from controller.kernel import links, netns
from controller.kernel.links import VethSpec
from controller.ops import endpoints, engines, lookup
from controller.ops.node import Node
from controller.plugins.cni.spec import INVALID_ENVIRONMENT, UNKNOWN_CONTAINER
from controller.rules import names
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding
from controller.store.transaction import operation

OWNER = "cni"


class CniRefusal(HawserError):
    """A refusal with the CNI spec's error code (the plugin prints it as ``code``)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.extra = {"cniCode": code}


_STR = {"type": "string", "maxLength": 4096}
_PORT = {"type": "integer", "minimum": 0, "maximum": 65535}
BODY = {
    "type": "object",
    "properties": {
        "cniVersion": _STR,
        "network": {"type": "string", "minLength": 1, "maxLength": 256},
        "containerId": {"type": "string", "minLength": 1, "maxLength": 256},
        "ifName": {"type": "string", "minLength": 1, "maxLength": 15},
        "netns": _STR,
        "args": {"type": ["object", "null"], "additionalProperties": _STR},
        "portMappings": {
            "type": ["array", "null"],
            "maxItems": 4096,
            "items": {
                "type": "object",
                "properties": {
                    "hostPort": _PORT,
                    "containerPort": _PORT,
                    "protocol": {"type": "string", "enum": ["tcp", "udp", "sctp"]},
                    "hostIP": {"type": "string", "maxLength": 64},
                },
                "required": ["hostPort", "containerPort"],
                "additionalProperties": False,
            },
        },
        "prevResult": {"type": ["object", "null"]},
        "config": {"type": ["object", "null"]},
    },
    "required": ["network", "containerId", "ifName"],
    "additionalProperties": False,
}


def _peer_path(pid: int, path: str) -> str:
    """The runtime's netns file as this daemon can open it."""
    if pid > 0:
        seen = f"/proc/{pid}/root{path}"
        if Path(seen).exists():
            return seen
    if Path(path).exists():
        return path
    raise CniRefusal(400, INVALID_ENVIRONMENT, f"netns {path} does not exist")


def _asked(body: dict[str, Any]) -> list[PortBinding]:
    out = []
    for pm in body.get("portMappings") or []:
        host_ip = str(pm.get("hostIP") or "")
        if host_ip in ("", "0.0.0.0"):
            host_ip = ""
        else:
            try:
                ipaddress.IPv4Address(host_ip)
            except ValueError:
                raise InvalidArgument(
                    f"portMappings hostIP {host_ip!r} is not an IPv4 address"
                ) from None
        host_port = int(pm["hostPort"]) or None
        if not pm["containerPort"]:
            raise InvalidArgument("portMappings containerPort must not be 0")
        proto = str(pm.get("protocol") or "tcp")
        out.append(PortBinding(proto, int(pm["containerPort"]), host_ip, host_port, host_port))
    return out


def _network(node: Node, ref: str) -> Network:
    try:
        net = lookup.network(node.store, ref)
    except NotFound:
        raise InvalidArgument(
            f"network {ref} not found: create it with hawser network create"
        ) from None
    engines.check_network(net, OWNER)
    return net


def _sandbox(node: Node, container_id: str) -> Container | None:
    found = node.store.engine_containers(OWNER, engine_id=container_id)
    return found[0] if found else None


def result(node: Node, ctr: Container, ep: Endpoint, net: Network) -> dict[str, Any]:
    """The CNI result of one endpoint (without ``cniVersion``: the plugin sets it)."""
    routed = not net.internal and ep.ifname == _routed_ifname(node, ctr)
    ip: dict[str, Any] = {"address": f"{ep.ip}/{ep.prefixlen}", "interface": 1}
    if not net.internal:
        ip["gateway"] = net.gateway
    out: dict[str, Any] = {
        "interfaces": [
            {"name": ep.host_ifname, "mac": links.link_mac(node.ipr, ep.ifindex)},
            {"name": ep.ifname, "mac": ep.mac, "sandbox": ctr.sandbox_key},
        ],
        "ips": [ip],
        "routes": [{"dst": "0.0.0.0/0", "gw": net.gateway}] if routed else [],
        "dns": {"nameservers": [net.gateway]},  # the embedded DNS answers on the gateway
    }
    return out


def _routed_ifname(node: Node, ctr: Container) -> str:
    """The interface holding the sandbox's default route: the first on a routed network."""
    for ep in node.store.endpoints(container_id=ctr.id):
        net = node.store.network(ep.network_id)
        if net is not None and not net.internal:
            return ep.ifname
    return ""


def add(node: Node, body: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    container_id, ifname = str(body["containerId"]), str(body["ifName"])
    names.validate_interface_name(ifname)
    asked = _asked(body)
    args = body.get("args") or {}
    with node.lock:
        net = _network(node, str(body["network"]))
        ctr = _sandbox(node, container_id)
        for ep in node.store.endpoints(container_id=ctr.id) if ctr else []:
            if ep.ifname == ifname and ep.network_id == net.id and ctr is not None:
                return result(node, ctr, ep, net)  # a replay of the same ADD
            if ep.ifname == ifname:
                raise InvalidArgument(f"container {container_id} already has interface {ifname}")
        sandbox_key = str(body.get("netns") or "")
        path = _peer_path(peer_pid, sandbox_key)
        new = ctr is None
        if ctr is None:
            name = str(args.get("K8S_POD_NAME") or "")
            ctr = engines.new_sandbox(
                node, OWNER, engine_id=container_id, sandbox_key=sandbox_key, network=net,
                name=name,
            )  # fmt: skip

        def plumb(spec: VethSpec) -> int:
            def inside(ns: Any) -> int:
                if ns.link_lookup(ifname=spec.inside_name):
                    raise InvalidArgument(f"interface {spec.inside_name} exists in {sandbox_key}")
                return links.create_veth_inside(ns, spec)

            return netns.run_in_path(path, inside)

        with operation(node.store) as undo:
            route = endpoints.wants_default_route(node, ctr, net)
            ep = engines.attach(node, undo, ctr, net, plumb, ifname=ifname, default_route=route)
            if asked:
                engines.publish(node, undo, ctr, ep, asked)
            if new:
                node.emit("container_created", ctr)
        return result(node, ctr, ep, net)


def delete(node: Node, body: dict[str, Any]) -> dict[str, Any]:
    with node.lock:
        ctr = _sandbox(node, str(body["containerId"]))
        if ctr is None:
            return {}
        for ep in node.store.endpoints(container_id=ctr.id):
            if ep.ifname == body["ifName"]:
                with operation(node.store):
                    engines.detach(node, ctr, ep)
    return {}


def check(node: Node, body: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    container_id, ifname = str(body["containerId"]), str(body["ifName"])
    with node.lock:
        ctr = _sandbox(node, container_id)
        eps = node.store.endpoints(container_id=ctr.id) if ctr is not None else []
        eps = [ep for ep in eps if ep.ifname == ifname]
        if ctr is None or not eps:
            raise CniRefusal(404, UNKNOWN_CONTAINER, f"no interface {ifname} of {container_id}")
        ep = eps[0]
        if links.ifindex(node.ipr, ep.host_ifname) is None:
            raise HawserError(f"the veth of {ifname} ({ep.host_ifname}) is gone")
        prev = body.get("prevResult") or {}
        listed = {str(ip.get("address", "")).split("/")[0] for ip in prev.get("ips") or []}
        if ep.ip not in listed:
            raise HawserError(f"prevResult does not list {ifname}'s address {ep.ip}")
        path = _peer_path(peer_pid, str(body.get("netns") or ""))

        def inside(ns: Any) -> list[str]:
            found = ns.link_lookup(ifname=ifname)
            if not found:
                return []
            return [a.get_attr("IFA_ADDRESS") for a in ns.get_addr(family=2, index=found[0])]

        if ep.ip not in netns.run_in_path(path, inside):
            raise HawserError(f"{ifname} in {body.get('netns')} does not hold {ep.ip}")
    return {}


def routes(router: Router, node: Node) -> None:
    add_route = router.add

    @add_route("POST", "/cni/v1/add", "CNI ADD: attach a runtime's netns to a network", 200, BODY)
    def cni_add(req: Request) -> Any:
        return add(node, req.body, req.peer_pid)

    @add_route("POST", "/cni/v1/del", "CNI DEL: detach it (nothing left is no error)", 200, BODY)
    def cni_del(req: Request) -> Any:
        return delete(node, req.body)

    @add_route("POST", "/cni/v1/check", "CNI CHECK: is the attachment as ADD made it", 200, BODY)
    def cni_check(req: Request) -> Any:
        return check(node, req.body, req.peer_pid)


def install(node: Node) -> None:
    node.extra_routes.append(routes)
