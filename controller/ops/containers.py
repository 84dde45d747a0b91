"""Container operations: run and remove, with Docker's rules per network mode.

``run`` checks everything it can before the node's lock (``rules.modes``), then under it
resolves names, the mode and the links, allocates the published ports (a conflict refuses
before anything is built), builds the sandbox (``sandbox``) and starts the process
(``lifecycle``), all in one transaction.
"""

from __future__ import annotations

import logging
import socket

from controller.errors import Conflict, StartFailed
from controller.kernel import netns, sandbox_files
from controller.kernel.supervisor import is_running
from controller.ops import endpoints, engines, lifecycle, link_targets, lookup, ports, sandbox
from controller.ops.node import Node
from controller.ops.sandbox import Mode
from controller.rules import legacy_links, modes, names, netopts, restart, runopts
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
    policy = restart.validate(req.restart_policy, req.restart_max)
    extra_hosts = runopts.parse_extra_hosts(req.extra_hosts)
    dns_search = [runopts.validate_dns_search(v) for v in req.dns_search]
    dns_options = [runopts.validate_dns_option(v) for v in req.dns_options]
    mac = runopts.validate_mac(req.mac_address) if req.mac_address else ""
    sysctls = runopts.validate_sysctls(req.sysctls, modes.mode_kind(req.network))
    labels = runopts.validate_labels(req.labels)
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
            tty=req.tty,
            open_stdin=req.open_stdin,
            labels=labels,
            restart_policy=policy.name,
            restart_max=policy.max_retries,
            extra_hosts=extra_hosts,
            dns_search=dns_search,
            dns_options=dns_options,
            mac_address=mac,
            sysctls=sysctls,
        )
        if mode.kind == "host" and sysctls:
            runopts.validate_sysctls(sysctls, "host")
        with operation(node.store) as undo:
            node.store.put_container(ctr)
            if mode.kind != "host":  # host mode discards them (a warning says so)
                node.store.set_port_requests(ctr.id, given)
            sandbox.build(node, undo, ctr, mode, (req.ip, req.aliases, mac), bound, targets)
            node.store.put_container(ctr)
        if req.detach:
            start_created(node, ctr)
        return ctr, warnings


def start_created(node: Node, ctr: Container) -> None:
    """Under the lock: start a container just made. A command that cannot start leaves the
    container created, with its exit status and error, as Docker does (``--rm`` removes it)."""
    try:
        with operation(node.store) as undo:
            lifecycle.start_process(node, ctr, link_targets.stored(node, ctr), undo)
            node.store.put_container(ctr)
    except StartFailed as exc:
        lifecycle.record_start_failure(node, ctr.id, exc)
        if ctr.auto_remove:
            remove(node, ctr.id, force=True)
        raise


def remove(node: Node, ref: str, force: bool = False) -> Container:
    with node.lock:
        ctr = lookup.container(node.store, ref)
        if ctr.engine_owned:
            raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
        state = "restarting" if ctr.status == "restarting" else "running"
        if (ctr.status == "restarting" or (is_running(ctr) and ctr.cmd)) and not force:
            raise Conflict(
                f"You cannot remove a {state} container {ctr.id}. Stop the container before "
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
        node.cancel_restart(ctr.id)
        lifecycle.end_sandbox_processes(node, ctr)
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
        node.supervisor.cgroups.remove(ctr.id)
        node.backoff.pop(ctr.id, None)
        node.exited.notify_all()  # a waiter of a removed container answers
        return ctr
