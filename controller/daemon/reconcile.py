"""Make the kernel match the store: at start-up (after a crash too) and on demand.

Sandboxes an engine owns (Docker's, a CNI runtime's) are not rebuilt: their netns is the
engine's, and an endpoint of theirs whose veth is gone went with it (``engines.reap``).

Order matters: first rebuild everything the store describes (bridges, sandboxes,
endpoints, datapath entries, processes), and only after that full sync remove what
the store does not know (orphans): processes, links, netns, folders, map entries and
the flows of gone endpoints. A daemon killed inside an operation leaves exactly such
orphans, since kernel objects and map entries are made before the store commits.
"""

from __future__ import annotations

import logging
import os
import signal

from controller.daemon import reconcile_maps
from controller.kernel import links, netns, sandbox_files
from controller.ops import containers, endpoints, engines, exits, networks, sandbox
from controller.ops.node import Node
from controller.rules import names, timestamps
from controller.rules.model import Container
from controller.store.transaction import operation

log = logging.getLogger(__name__)


def full_sync(node: Node) -> dict[str, int]:
    """At start-up: rebuild what is missing, refresh every datapath entry, then sweep."""
    counts = {"bridges": 0, "sandboxes": 0, "endpoints": 0, "orphans": 0}
    with node.lock:
        counts["engine endpoints gone"] = engines.reap(node)
        _sync(node, counts, refresh=True)
        for ctr in node.store.containers():
            _resume_process(node, ctr)
        counts["orphans"] = remove_orphans(node)
        counts["map entries"] = sum(reconcile_maps.sync(node).values())
        counts["restarted"] = exits.resume_policies(node)
    return counts


def repair(node: Node) -> dict[str, int]:
    """Periodically: rebuild what went missing behind the daemon's back, fix the maps."""
    counts = {"bridges": 0, "sandboxes": 0, "endpoints": 0}
    with node.lock:
        counts["engine endpoints gone"] = engines.reap(node)
        _sync(node, counts, refresh=False)
        counts["map entries"] = sum(reconcile_maps.sync(node).values())
    if any(counts.values()):
        log.warning("repaired kernel drift: %s", counts)
    return counts


def _sync(node: Node, counts: dict[str, int], refresh: bool) -> None:
    rebuilt: set[str] = set()  # networks whose bridge had to be made again
    for net in node.store.networks():
        if not net.has_bridge:
            continue
        missing = links.ifindex(node.ipr, net.bridge) is None
        if refresh or missing:
            networks.build_bridge(node, net)
        if missing:
            rebuilt.add(net.id)
            counts["bridges"] += 1
    for ctr in node.store.containers():
        own_netns = bool(ctr.netns) and not ctr.owns_no_netns_mode
        if own_netns and not netns.exists(ctr.netns):
            netns.create(ctr.netns)
            counts["sandboxes"] += 1
        if own_netns and not sandbox_files.folder(ctr.netns).is_dir():
            sandbox.restore_files(node, ctr)  # the DNS plugin rewrites resolv.conf after
            counts["sandboxes"] += 1
        eps = node.store.endpoints(container_id=ctr.id)
        nets = {ep.id: node.store.network(ep.network_id) for ep in eps}
        # the first endpoint whose network can give a default route has it (run, connect)
        route_ep = next(
            (ep.id for ep in eps if (n := nets[ep.id]) and endpoints.gives_default_route(n)), ""
        )
        for ep in eps:
            ep_net = nets[ep.id]
            if ep_net is None:
                continue
            index = links.ifindex(node.ipr, ep.host_ifname)
            if index is None and ctr.engine_owned:
                continue  # its engine's netns went with it: engines.reap removes it
            if index is None:
                route = ep.id == route_ep
                endpoints.replumb(node, ctr, ep_net, ep, default_route=route)
                counts["endpoints"] += 1
                continue
            if index != ep.ifindex:  # a store of schema 1 did not keep it
                ep.ifindex = index
                node.store.put_endpoint(ep)
            if ep_net.id in rebuilt:
                endpoints.finish(node, ep_net, ep, host_index=index)  # back on its bridge
            elif refresh:  # this daemon's freshly compiled program replaces the old one
                node.datapath.attach_endpoint(index, ep.ip, ep.mac, ep_net.key)
    # published ports follow their endpoints in reconcile_maps.sync


def _resume_process(node: Node, ctr: Container) -> None:
    """Watch the shim of a running container again, or record the exit it had meanwhile
    (restart policies are applied after the sweep, by ``exits.resume_policies``)."""
    if ctr.status != "running" or not ctr.cmd:
        return
    if node.supervisor.adopt(ctr.id, ctr.shim_pid or ctr.pid):  # a store of old: pid is the shim
        return
    ctr.status = "exited"
    ctr.exit_code = node.supervisor.exit_code(ctr.id)
    ctr.finished = timestamps.now_iso()
    ctr.pid = ctr.shim_pid = 0
    with operation(node.store):
        node.store.put_container(ctr)
    if ctr.auto_remove:
        containers.remove(node, ctr.id, force=True)


def remove_orphans(node: Node) -> int:
    """End processes, then delete links, netns and folders, that the store does not know."""
    own_links = {net.bridge for net in node.store.networks() if net.bridge}
    own_links |= {ep.host_ifname for ep in node.store.endpoints()}
    own_links |= node.kernel_links  # a plugin's (the overlay's VXLAN device)
    sandboxes = {c.netns for c in node.store.containers() if c.netns}
    removed = kill_orphan_processes(node, sandboxes)
    for name in links.link_names(node.ipr):
        if names.is_hawser_link(name) and name not in own_links:
            log.info("removing orphan link %s", name)
            links.delete_link(node.ipr, name)
            removed += 1
    for ns in netns.list_names():
        if names.is_hawser_netns(ns, node.name) and ns not in sandboxes:
            log.info("removing orphan netns %s", ns)
            netns.remove(ns)
            removed += 1
    if sandbox_files.ETC_NETNS.exists():
        for folder in sandbox_files.ETC_NETNS.iterdir():
            if names.is_hawser_netns(folder.name, node.name) and folder.name not in sandboxes:
                sandbox_files.remove(folder.name)
                removed += 1
    known = {c.id for c in node.store.containers()}
    for ctr_id in node.supervisor.folders():
        if ctr_id not in known:
            node.supervisor.forget(ctr_id)
            removed += 1
    for ctr_id in node.supervisor.cgroups.ids():
        if ctr_id not in known:
            node.supervisor.cgroups.remove(ctr_id)
            removed += 1
    return removed


def kill_orphan_processes(node: Node, sandboxes: set[str]) -> int:
    """SIGKILL shims the store does not know, with their container's processes (its cgroup),
    and whatever runs in an orphan sandbox netns.

    A shim is known when its container is stored running with that shim (a create or start
    killed before its commit leaves one that is not).
    """
    stored = {c.id: c for c in node.store.containers()}
    killed = 0
    for pid, ctr_id in node.supervisor.shims().items():
        ctr = stored.get(ctr_id)
        if ctr is None or ctr.status != "running" or (ctr.shim_pid or ctr.pid) != pid:
            log.info("killing orphan shim %d (container %s)", pid, ctr_id[:12])
            node.supervisor.kill_shim(pid)
            if ctr is None or ctr.status != "running":
                node.supervisor.kill_all(ctr_id)
            killed += 1
    orphans = [
        ns
        for ns in netns.list_names()
        if names.is_hawser_netns(ns, node.name) and ns not in sandboxes
    ]
    for ns, found in netns.pids_in(orphans).items():
        for pid in found:
            log.info("killing process %d left in orphan sandbox %s", pid, ns)
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed
