"""Container operations: run and remove, with Docker's rules per network mode.

``run`` checks everything it can before the node's lock (``rules.modes``), then under it
resolves names, the mode and the links, allocates the published ports (a conflict refuses
before anything is built), builds the sandbox (``sandbox``) and starts the process
(``lifecycle``), all in one transaction.
"""

from __future__ import annotations

import logging
import socket

from controller.errors import Conflict
from controller.kernel import netns, sandbox_files
from controller.kernel.supervisor import is_running
from controller.ops import endpoints, engines, lifecycle, link_targets, lookup, ports, sandbox
from controller.ops.node import Node
from controller.ops.sandbox import Mode
from controller.rules import legacy_links, modes, names, netopts
from controller.rules.model import Container
from controller.rules.modes import RunRequest
from controller.rules.timestamps import now_iso
from controller.store.transaction import operation

log = logging.getLogger(__name__)


def _claim_name(node: Node, wanted: str | None) -> str:
    if not wanted:
        return modes.random_name(lambda name: node.store.container_by_name(name) is not None)
    name = names.validate_container_name(wanted)
    existing = node.store.container_by_name(name)
    if existing is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{existing.id}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )
    return name


def _resolve_mode(node: Node, req: RunRequest, kind: str) -> tuple[Mode, list[str]]:
    """The network mode with its objects; a named network may turn out host, none or bridge."""
    if kind == "container":
        joined = lookup.container(node.store, req.network.split(":", 1)[1])
        if joined.engine_owned:
            raise engines.managed_elsewhere("container", joined.name, joined.owner)
        if joined.owns_no_netns_mode:
            joined = lookup.container(node.store, joined.joined_container)
        if not is_running(joined):
            raise Conflict(f"cannot join network of a non running container: {joined.id}")
        return Mode("container", joined=joined), []
    if kind not in ("bridge", "user"):
        return Mode(kind), []
    net = lookup.network(node.store, "bridge" if kind == "bridge" else req.network)
    if net.driver == "host":
        return Mode("host"), modes.check_mode_conflicts(req, "host")
    if net.driver == "null":
        return Mode("none"), []
    if net.name == "bridge":
        modes.check_mode_conflicts(req, "bridge")
        return Mode("bridge", network=net), []
    if net.engine_owned:
        raise engines.managed_elsewhere("network", net.name, net.owner)
    return Mode("user", network=net), []


def run(node: Node, req: RunRequest) -> tuple[Container, list[str]]:
    """Create the sandbox, attach it, publish its ports, start its process; all or nothing."""
    warnings = modes.check_mode_conflicts(req, modes.mode_kind(req.network))
    env = netopts.parse_env(req.env)
    dns = netopts.parse_dns(req.dns)  # values that reach a file are checked before anything
    if req.hostname:
        names.validate_hostname(req.hostname)
    for alias in req.aliases:
        names.validate_alias(alias)
    given, asked, exposed = modes.port_requests(req)
    parsed_links = [legacy_links.validate_link(spec) for spec in req.links]
    with node.lock:
        name = _claim_name(node, req.name)
        mode, more = _resolve_mode(node, req, modes.mode_kind(req.network))
        warnings += more
        targets = link_targets.resolve(node, parsed_links, mode.kind, mode.network, name)
        net = mode.network
        bound = ports.allocate(node, asked, net.host_binding_ipv4) if net is not None else []
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
            publish_all=req.publish_all,
            links=[f"{n}:{a}" for n, a in parsed_links],
            auto_remove=req.auto_remove,
        )
        with operation(node.store) as undo:
            node.store.put_container(ctr)
            if mode.kind != "host":  # host mode discards them (a warning says so)
                node.store.set_port_requests(ctr.id, given)
            sandbox.build(node, undo, ctr, mode, (req.ip, req.aliases), bound, targets)
            if req.detach or not ctr.cmd:
                lifecycle.start_process(node, ctr, targets, undo)
            node.store.put_container(ctr)
        return ctr, warnings


def on_process_exit(node: Node, ctr_id: str, code: int) -> None:
    """Record a process's exit (the supervisor's report), wake waiters, honour ``--rm``."""
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
        node.exited.notify_all()


def remove(node: Node, ref: str, force: bool = False) -> Container:
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if ctr.engine_owned:
            raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
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
            for ep in node.store.endpoints(container_id=ctr.id):
                ports.unserve(node, ctr, ep)
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
        node.exited.notify_all()  # a waiter of a removed container answers
        return ctr
