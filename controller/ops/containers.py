"""Container (sandbox) operations: run, remove, exec, logs, inspect — Docker's rules per mode."""

from __future__ import annotations

import functools
import logging
import random
import signal
import socket
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from controller.errors import Conflict, InvalidArgument, NotFound
from controller.kernel import links, netns, sandbox_files
from controller.kernel.supervisor import ProcessSpec, command_line, pid_alive, run_streaming
from controller.ops import endpoints, lookup
from controller.ops.datapath_sync import DATAPATH_PROTOCOLS, publish_bindings, unpublish_bindings
from controller.ops.networks import now_iso
from controller.ops.node import Node
from controller.ops.ports import PortAllocator
from controller.rules import hostsfile, legacy_links, names, netopts, portspec
from controller.rules.model import Container, Endpoint, Network
from controller.store.transaction import Undo, operation

log = logging.getLogger(__name__)

_FILE_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hawser-files")
HOST_PORTS_DISCARDED = "Published ports are discarded when using host network mode"
_ADJECTIVES = ("brave", "calm", "eager", "fond", "keen", "lucid", "quiet", "swift", "tidy", "wise")
_NOUNS = ("anchor", "buoy", "cleat", "dock", "harbor", "keel", "mast", "pier", "rope", "sail")


@dataclass
class RunRequest:
    name: str | None = None
    network: str = "bridge"
    ip: str | None = None
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    expose: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    auto_remove: bool = False
    detach: bool = True  # False: created now, started by an attached `start`

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> RunRequest:
        def strings(key: str) -> list[str]:
            value = body.get(key) or []
            if not isinstance(value, list):
                raise InvalidArgument(f"{key} must be a list of strings")
            return [str(v) for v in value]

        return cls(
            name=body.get("Name") or None,
            network=str(body.get("Network") or "bridge"),
            ip=body.get("IP") or None,
            hostname=body.get("Hostname") or None,
            dns=strings("Dns"),
            env=strings("Env"),
            cmd=strings("Cmd"),
            publish=strings("Publish"),
            publish_all=bool(body.get("PublishAll")),
            expose=strings("Expose"),
            links=strings("Links"),
            aliases=strings("NetworkAliases"),
            auto_remove=bool(body.get("AutoRemove")),
            detach=bool(body.get("Detach", True)),
        )


def _random_name(node: Node) -> str:
    taken = node.store.container_names()
    while True:
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}{random.randint(0, 99)}"
        if name not in taken:
            return name


def _mode_kind(network: str) -> str:
    if network in ("bridge", "default"):
        return "bridge"
    if network in ("host", "none"):
        return network
    if network.startswith("container:"):
        return "container"
    return "user"


def _check_mode_conflicts(node: Node, req: RunRequest, kind: str) -> list[str]:
    """Docker's refusals per network mode; returns warnings."""
    warnings: list[str] = []
    if kind == "host":
        if req.links:
            raise Conflict(
                "conflicting options: host type networking can't be used with links. "
                "This would result in undefined behavior"
            )
        if req.publish or req.publish_all:
            warnings.append(HOST_PORTS_DISCARDED)
    if kind == "container":
        if req.publish or req.publish_all or req.expose:
            raise Conflict(
                "conflicting options: port publishing and the container type network mode"
            )
        if req.links:
            raise Conflict(
                "conflicting options: container type network can't be used with links. "
                "This would result in undefined behavior"
            )
        if req.dns:
            raise Conflict("conflicting options: dns and the network mode")
        if req.hostname:
            raise Conflict("conflicting options: hostname and the network mode")
    if req.ip and kind != "user":
        raise InvalidArgument(
            "user specified IP address is supported on user defined networks only"
        )
    if req.aliases and kind != "user":
        raise InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    return warnings


def _exposed(req: RunRequest, requests: list[portspec.PortRequest]) -> list[str]:
    ports: list[tuple[int, str]] = []
    for spec in req.expose:
        ports += portspec.parse_expose(spec)
    ports += [(r.container_port, r.proto) for r in requests]
    seen: list[str] = []
    for port, proto in ports:
        key = f"{port}/{proto}"
        if key not in seen:
            seen.append(key)
    return seen


def parse_exposed(items: list[str]) -> list[tuple[int, str]]:
    out = []
    for item in items:
        port, _, proto = item.partition("/")
        out.append((int(port), proto or "tcp"))
    return out


def _port_requests(req: RunRequest) -> tuple[list[portspec.PortRequest], list[str]]:
    """-p specs parsed, plus -P's ephemeral requests; and the exposed ports ("80/tcp")."""
    requests: list[portspec.PortRequest] = []
    for spec in req.publish:
        requests += portspec.parse_publish(spec)
    for request in requests:
        if request.proto not in DATAPATH_PROTOCOLS:
            raise InvalidArgument(
                f"publishing {request.proto} ports is not supported by Hawser's datapath: "
                f"{request.container_port}/{request.proto}"
            )
    exposed = _exposed(req, requests)
    if req.publish_all:
        published = {(r.container_port, r.proto) for r in requests}
        for port, proto in parse_exposed(exposed):
            if (port, proto) not in published:
                requests.append(portspec.PortRequest(proto, port, "", None, None))
    return requests, exposed


def _claim_name(node: Node, wanted: str | None) -> str:
    if not wanted:
        return _random_name(node)
    name = names.validate_container_name(wanted)
    existing = node.store.container_by_name(name)
    if existing is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{existing.id}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )
    return name


@dataclass
class _Mode:
    kind: str  # bridge | user | host | none | container
    network: Network | None = None  # the bridge network joined (bridge, user)
    joined: Container | None = None  # the sandbox shared (container:)

    def text(self, requested: str) -> str:
        """HostConfig.NetworkMode as Docker shows it."""
        if self.joined:
            return f"container:{self.joined.id}"
        if self.kind == "bridge":
            return "default" if requested == "default" else "bridge"
        return requested


def _resolve_mode(node: Node, req: RunRequest, kind: str) -> tuple[_Mode, list[str]]:
    """The network mode with its objects; a named network may turn out host, none or bridge."""
    if kind == "container":
        joined = lookup.container(node.store, req.network.split(":", 1)[1])
        if joined.owns_no_netns_mode:
            joined = lookup.container(node.store, joined.joined_container)
        if not is_running(joined):
            raise Conflict(f"cannot join network of a non running container: {joined.id}")
        return _Mode("container", joined=joined), []
    if kind not in ("bridge", "user"):
        return _Mode(kind), []
    net = lookup.network(node.store, "bridge" if kind == "bridge" else req.network)
    if net.driver == "host":
        return _Mode("host"), _check_mode_conflicts(node, req, "host")
    if net.driver == "null":
        return _Mode("none"), []
    if net.name == "bridge":
        _check_mode_conflicts(node, req, "bridge")
        return _Mode("bridge", network=net), []
    return _Mode("user", network=net), []


def _publish(
    node: Node,
    undo: Undo,
    ctr: Container,
    net: Network,
    endpoint: Endpoint,
    requests: list[portspec.PortRequest],
) -> None:
    allocator = PortAllocator(
        {p: node.store.bound_ports(p) for p in ("tcp", "udp", "sctp")},
        portspec.ephemeral_port_range(),
    )
    bindings = allocator.allocate(ctr.id, requests, net.host_binding_ipv4 or "0.0.0.0")
    node.store.add_bindings(bindings)
    publish_bindings(node, bindings, endpoint)
    undo.push(unpublish_bindings, node, bindings, endpoint)


def run(node: Node, req: RunRequest) -> tuple[Container, list[str]]:
    """Create the sandbox, attach it, publish its ports, start its process; all or nothing."""
    warnings = _check_mode_conflicts(node, req, _mode_kind(req.network))
    env = netopts.parse_env(req.env)
    dns = netopts.parse_dns(req.dns)  # values that reach a file are checked before anything
    if req.hostname:
        names.validate_hostname(req.hostname)
    for alias in req.aliases:
        names.validate_alias(alias)
    requests, exposed = _port_requests(req)
    parsed_links = [legacy_links.validate_link(spec) for spec in req.links]
    with node.lock:
        name = _claim_name(node, req.name)
        mode, more = _resolve_mode(node, req, _mode_kind(req.network))
        warnings += more
        link_targets = _resolve_links(node, parsed_links, mode.kind, mode.network, name)
        ctr_id = names.new_id()
        joined = mode.joined
        if joined:
            hostname, ns_name = joined.hostname, joined.netns
        elif mode.kind == "host":
            hostname, ns_name = socket.gethostname(), ""
        else:
            hostname, ns_name = ctr_id[:12], names.netns_name(node.name, ctr_id)
        ctr = Container(
            id=ctr_id,
            name=name,
            created=now_iso(),
            network_mode=mode.text(req.network),
            hostname=req.hostname or hostname,
            netns=ns_name,
            dns=dns,
            env=env,
            cmd=list(req.cmd),
            expose=exposed,
            publish=list(req.publish) if mode.kind != "host" else [],
            publish_all=req.publish_all,
            links=[f"{n}:{a}" for n, a in parsed_links],
            auto_remove=req.auto_remove,
        )
        with operation(node.store) as undo:
            node.store.put_container(ctr)
            _build_sandbox(node, undo, ctr, mode, req, requests, link_targets)
            if req.detach or not ctr.cmd:
                _start_process(node, ctr, link_targets, undo)
            node.store.put_container(ctr)
        return ctr, warnings


def _build_sandbox(
    node: Node,
    undo: Undo,
    ctr: Container,
    mode: _Mode,
    req: RunRequest,
    requests: list[portspec.PortRequest],
    link_targets: list[LinkTarget],
) -> None:
    """netns, endpoint, published ports and /etc files of a new container."""
    endpoint: Endpoint | None = None
    net = mode.network
    if mode.kind in ("bridge", "user", "none"):
        inside = None
        if net is not None:
            endpoint = endpoints.prepare(node, ctr, net, requested_ip=req.ip, aliases=req.aliases)
            spec = endpoints.veth_spec(endpoint, net, default_route=not net.internal)
            inside = functools.partial(links.create_veth_inside, spec=spec)
            undo.push(links.delete_link, node.ipr, endpoint.host_ifname)
        # the /etc files go to disk while the kernel builds the sandbox
        undo.push(sandbox_files.remove, ctr.netns)
        files = _FILE_WRITER.submit(
            sandbox_files.write,
            ctr.netns,
            _hosts_text(ctr, endpoint, link_targets),
            sandbox_files.resolv_text(ctr.dns, None),
            ctr.hostname,
        )
        undo.push(netns.remove, ctr.netns)
        try:
            host_index = netns.create(ctr.netns, inside)  # sandbox and veth in one step
        finally:
            files.result()
        if net is not None and endpoint is not None:
            endpoints.finish(node, net, endpoint, undo, host_index or 0)
            if requests:
                _publish(node, undo, ctr, net, endpoint, requests)
    if endpoint is not None and net is not None:
        node.emit("endpoint_added", ctr, net, endpoint)
    node.emit("container_created", ctr)


@dataclass
class LinkTarget:
    alias: str
    child: Container
    endpoint: Endpoint | None


def _resolve_links(
    node: Node, parsed: list[tuple[str, str]], kind: str, net: Network | None, parent: str
) -> list[LinkTarget]:
    targets = []
    for name, alias in parsed:
        child = lookup.container_or_none(node.store, name)
        if child is None:
            raise NotFound(f"could not get container for {name}")
        if not is_running(child):
            raise Conflict(
                f"Cannot link to a non running container: /{child.name} AS /{parent}/{alias}"
            )
        endpoint = None
        if kind == "bridge" and net is not None:
            eps = node.store.endpoints(container_id=child.id, network_id=net.id)
            if not eps:
                raise Conflict(
                    f"Cannot link to /{child.name}, as it does not belong to the default network"
                )
            endpoint = eps[0]
        targets.append(LinkTarget(alias, child, endpoint))
    return targets


def _link_env(ctr: Container, targets: list[LinkTarget]) -> list[str]:
    env: list[str] = []
    for target in targets:
        if target.endpoint is None:
            continue
        env += legacy_links.link_env(
            target.alias,
            ctr.name,
            target.child.name,
            target.endpoint.ip,
            parse_exposed(target.child.expose),
            target.child.env,
        )
    return env


def _hosts_text(ctr: Container, endpoint: Endpoint | None, targets: list[LinkTarget]) -> str:
    extra = [
        (t.endpoint.ip, legacy_links.link_hosts_names(t.alias, t.child.hostname, t.child.name))
        for t in targets
        if t.endpoint is not None
    ]
    ips = [endpoint.ip] if endpoint else []
    return hostsfile.render_hosts(ctr.hostname, ips, extra)


def restore_files(node: Node, ctr: Container) -> None:
    """Write a stored sandbox's /etc files again, as ``run`` made them (reconcile)."""
    eps = node.store.endpoints(container_id=ctr.id)
    hosts = _hosts_text(ctr, eps[0] if eps else None, _stored_link_targets(node, ctr))
    sandbox_files.write(ctr.netns, hosts, sandbox_files.resolv_text(ctr.dns, None), ctr.hostname)


def process_spec(node: Node, ctr: Container, extra_env: list[str] | None = None) -> ProcessSpec:
    targets = _stored_link_targets(node, ctr)
    return ProcessSpec(
        netns=ctr.netns,
        hostname=ctr.hostname,
        env=_link_env(ctr, targets) + ctr.env + list(extra_env or []),
        cmd=list(ctr.cmd),
    )


def _stored_link_targets(node: Node, ctr: Container) -> list[LinkTarget]:
    out = []
    for spec in ctr.links:
        name, alias = legacy_links.parse_link(spec)
        child = lookup.container_or_none(node.store, name)
        if child is None:
            continue
        eps = node.store.endpoints(container_id=child.id)
        out.append(LinkTarget(alias, child, eps[0] if eps else None))
    return out


def _start_process(node: Node, ctr: Container, targets: list[LinkTarget], undo: Undo) -> None:
    ctr.started = now_iso()
    ctr.status = "running"
    if not ctr.cmd:
        return
    spec = ProcessSpec(
        netns=ctr.netns,
        hostname=ctr.hostname,
        env=_link_env(ctr, targets) + ctr.env,
        cmd=list(ctr.cmd),
    )
    ctr.pid = node.supervisor.start(ctr.id, spec)
    undo.push(node.supervisor.kill, ctr.pid)
    undo.push(node.supervisor.forget, ctr.id)


def start(node: Node, ref: str, attach: bool) -> Iterator[dict[str, Any]] | None:
    """Start a created container; attached, stream its output until it exits, then its code."""
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if ctr.status != "created":
            raise Conflict(f"container {ctr.name} is already started")
        if not attach:
            with operation(node.store) as undo:
                _start_process(node, ctr, _stored_link_targets(node, ctr), undo)
                node.store.put_container(ctr)
            return None
        node.supervisor.hold(ctr.id)
        try:
            with operation(node.store) as undo:
                _start_process(node, ctr, _stored_link_targets(node, ctr), undo)
                node.store.put_container(ctr)
        except BaseException:
            node.supervisor.release(ctr.id)
            raise
    return _attached_frames(node, ctr)


def _attached_frames(node: Node, ctr: Container) -> Iterator[dict[str, Any]]:
    try:
        for stream, data in node.supervisor.logs(ctr.id, True, lambda: pid_alive(ctr.pid)):
            yield {"stream": stream, "data": data}
        yield {"exit": node.supervisor.exit_code(ctr.id)}
    finally:
        node.supervisor.release(ctr.id)
        with node.lock:
            if node.store.container(ctr.id) is None:
                node.supervisor.forget(ctr.id)


def is_running(ctr: Container) -> bool:
    return ctr.status == "running" and (not ctr.cmd or pid_alive(ctr.pid))


def on_process_exit(node: Node, ctr_id: str, code: int) -> None:
    with node.lock:
        ctr = node.store.container(ctr_id)
        if ctr is None or ctr.status != "running":
            return
        node.exits[ctr_id] = node.exits[ctr.name] = code
        ctr.status, ctr.exit_code, ctr.finished = "exited", code, now_iso()
        with operation(node.store):
            node.store.put_container(ctr)
        if ctr.auto_remove:
            remove(node, ctr.id, force=True)


def remove(node: Node, ref: str, force: bool = False) -> Container:
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if is_running(ctr) and ctr.cmd and not force:
            raise Conflict(
                f"You cannot remove a running container {ctr.id}. Stop the container before "
                "attempting removal or force remove"
            )
        dependants = [
            c.name
            for c in node.store.containers()
            if c.network_mode == f"container:{ctr.id}" and c.id != ctr.id
        ]
        if dependants and not force:
            raise Conflict(
                f"cannot remove container {ctr.name}: its network namespace is used by "
                f"{', '.join(dependants)}"
            )
        node.supervisor.kill(ctr.pid)
        with operation(node.store):
            for binding_ep in node.store.endpoints(container_id=ctr.id):
                bindings = node.store.bindings(ctr.id)
                if bindings:
                    unpublish_bindings(node, bindings, binding_ep)
                    break
            for ep in node.store.endpoints(container_id=ctr.id):
                ep_net = node.store.network(ep.network_id)
                if ep_net is not None:
                    node.emit("endpoint_removed", ctr, ep_net, ep)
                endpoints.detach(node, ep)
            node.emit("container_removed", ctr)
            node.store.delete_container(ctr.id)
            if ctr.netns and not ctr.owns_no_netns_mode:
                netns.remove(ctr.netns)
                sandbox_files.remove(ctr.netns)
        node.supervisor.forget(ctr.id)  # after the commit: a crash before it keeps the logs
        return ctr


def parse_signal(text: str) -> int:
    """Docker's signal names and numbers: KILL, SIGINT, 15 …"""
    name = text.strip().upper()
    if name.isdigit() and int(name) in {s.value for s in signal.Signals}:
        return int(name)
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {text}") from None


def kill(node: Node, ref: str, signum: int) -> None:
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if not ctr.cmd or not is_running(ctr):
            raise Conflict(f"Cannot kill container: {ref}: Container {ctr.id} is not running")
        node.supervisor.signal(ctr.pid, signum)


def exec_stream(node: Node, ref: str, cmd: list[str], env: list[str]) -> Iterator[dict[str, Any]]:
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if not is_running(ctr):
            raise Conflict(f"Container {ctr.id} is not running")
        if not cmd:
            raise InvalidArgument("No exec command specified")
        spec = process_spec(node, ctr, netopts.parse_env(env))
        spec = ProcessSpec(spec.netns, spec.hostname, spec.env, list(cmd))
    return run_streaming(command_line(spec))
