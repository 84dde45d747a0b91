"""``hawserd reset`` (also ``hawser system reset``): remove everything a node's daemon put on
the machine, with the daemon stopped.

A local operation on purpose: it must work when no daemon runs (stopped, crashed, or unable
to start), and it takes away the daemon's own socket and state, so it cannot be an API call.
It reads what it can from the store, then finds the rest in the kernel by Hawser's names:

- processes: supervisor shims (host-mode containers' too), whatever runs in a sandbox, and
  whatever is in a container's cgroup (``<cgroup>/hawser/<node>/<id>``, removed with it);
- sandboxes: ``hw-<node>-…`` netns and their ``/etc/netns`` folders;
- links: veths and bridges Hawser made, the VXLAN device; an adopted bridge keeps itself
  and loses only the gateway address Hawser added;
- the datapath: tc programs on every link (uplinks, the VXLAN device), the socket hooks on
  the cgroup (recognised by the maps they use), the pins;
- the store, the containers' output, the socket; sysctls the daemon changed get the value
  they had before its first start.

It acts in the calling process's netns, like the daemon (``nsenter --net=…`` for a test node).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import select
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pyroute2 import IPRoute

from controller.daemon.config import Config
from controller.datapath import teardown
from controller.datapath.types import DatapathConfig
from controller.errors import HawserError
from controller.kernel import links, netns, sandbox_files, vxlan
from controller.kernel.cgroups import ContainerCgroups
from controller.kernel.supervisor import Supervisor
from controller.rules import names
from controller.rules.model import Network
from controller.store.sqlite import Store

log = logging.getLogger(__name__)

#: What the daemon writes under --state-dir (the folder itself goes only when left empty).
STATE_FILES = ("hawser.db", "hawser.db-wal", "hawser.db-shm", "hawser.db-journal")
CONTAINERS_DIR = "containers"
#: Sysctls of the node's netns the daemon sets, and where it keeps their earlier values.
SYSCTLS = {"net.ipv4.ip_forward": "1"}
SYSCTLS_BEFORE = "sysctl-before.json"
KILL_WAIT_SECONDS = 5.0


def read_sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text().strip()


def set_node_sysctls(state: Path) -> None:
    """Set the daemon's sysctls, remembering (once: at the first start) what they were."""
    record = state / SYSCTLS_BEFORE
    if not record.exists():
        before = {name: read_sysctl(name) for name in SYSCTLS}
        tmp = record.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(before))
        tmp.replace(record)
    for name, value in SYSCTLS.items():
        links.write_sysctl(name, value)


@dataclass
class Plan:
    """What reset finds for one node; ``apply`` removes it."""

    node: str
    state: Path
    sock: Path
    cgroup: Path
    pins: Path
    containers: int = 0
    networks: list[Network] = field(default_factory=list)
    sandboxes: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    shims: dict[int, str] = field(default_factory=dict)
    container_cgroups: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    programs: dict[int, list[str]] = field(default_factory=dict)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (
            self.containers or self.networks or self.sandboxes or self.folders or self.shims
            or self.container_cgroups
            or self.links or self.programs or self.hooks or self.pins.exists()
            or self.sysctls or self.state_files() or self.sock.exists()
        )  # fmt: skip

    def state_files(self) -> list[Path]:
        found = [self.state / n for n in (*STATE_FILES, SYSCTLS_BEFORE)]
        found.append(self.state / CONTAINERS_DIR)
        return [p for p in found if p.exists()]

    def describe(self) -> str:
        user_nets = [n for n in self.networks if not n.builtin and n.is_bridge]
        lines = [
            f"WARNING! This will remove everything Hawser put on this node (node {self.node}):",
            f"  - {self.containers} container(s), their processes and "
            f"{len(self.sandboxes)} sandbox(es)",
            f"  - {len(user_nets)} user-defined network(s) and {len(self.links)} link(s) "
            "Hawser made (bridges, veths, VXLAN device)",
            f"  - BPF programs on {len(self.programs)} interface(s) and "
            f"{len(self.hooks)} socket hook(s) on {self.cgroup}",
            f"  - the pinned maps under {self.pins}",
            f"  - the state in {self.state} and the socket {self.sock}",
        ]
        return "\n".join(lines)


def _store_objects(state: Path) -> tuple[int, list[Network]]:
    db = state / "hawser.db"
    if not db.exists():
        return 0, []
    store = Store(db)
    try:
        return len(store.containers()), list(store.networks())
    finally:
        store.close()


def _hawser_links(ipr: IPRoute, networks: list[Network]) -> list[str]:
    made = {n.bridge for n in networks if n.bridge and n.bridge_owned}
    return [
        name
        for name in links.link_names(ipr)
        if names.is_hawser_link(name) or name == vxlan.DEVICE or name in made
    ]


def daemon_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(str(sock))
        except OSError:
            return False  # a socket file a stopped daemon could not remove
    return True


def container_cgroups(cgroup: Path, node: str) -> ContainerCgroups:
    """Where the node's daemon puts its containers' cgroups (as ``hawserd`` does)."""
    return ContainerCgroups(cgroup / "hawser" / node)


def survey(cfg: Config, ipr: IPRoute, cgroup: Path, bpffs_root: Path) -> Plan:
    state = cfg.state_path
    plan = Plan(
        node=str(cfg.node_name),
        state=state,
        sock=Path(cfg.socket),
        cgroup=cgroup,
        pins=teardown.node_dir(bpffs_root, str(cfg.node_name)),
    )
    plan.containers, plan.networks = _store_objects(state)
    plan.sandboxes = [n for n in netns.list_names() if names.is_hawser_netns(n, plan.node)]
    if sandbox_files.ETC_NETNS.exists():
        plan.folders = sorted(
            p.name
            for p in sandbox_files.ETC_NETNS.iterdir()
            if names.is_hawser_netns(p.name, plan.node)
        )
    cgroups = container_cgroups(cgroup, plan.node)
    plan.shims = Supervisor(state / CONTAINERS_DIR, cgroups, lambda *_: None).shims()
    plan.container_cgroups = cgroups.ids()
    plan.links = _hawser_links(ipr, plan.networks)
    plan.programs = teardown.programs(ipr)
    plan.hooks = teardown.hooks(cgroup, plan.pins)
    record = state / SYSCTLS_BEFORE
    if record.exists():
        with contextlib.suppress(OSError, ValueError):
            plan.sysctls = {str(k): str(v) for k, v in json.loads(record.read_text()).items()}
    return plan


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still running after ``seconds``: each is waited for through a pidfd, which
    turns readable when the process ends (it need not be our child)."""
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        running = set(fds)
        deadline = time.monotonic() + seconds
        while running and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                running.discard(fd)
                poller.unregister(fd)
        return sorted(fds[fd] for fd in running)
    finally:
        for fd in fds:
            os.close(fd)


def _step(problems: list[str], what: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except (HawserError, OSError) as exc:
        problems.append(f"{what}: {getattr(exc, 'message', None) or exc}")


def apply(plan: Plan, ipr: IPRoute) -> list[str]:
    """Remove what the plan found; returns what could not be removed (one line each)."""
    problems: list[str] = []
    # processes first: nothing may hold a sandbox or rewrite a file while it goes
    killed: list[int] = []
    for pid in plan.shims:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
    for found in netns.pids_in(plan.sandboxes).values():
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    for pid in _wait_gone(killed, KILL_WAIT_SECONDS):
        problems.append(f"process {pid} did not end after SIGKILL")
    cgroups = container_cgroups(plan.cgroup, plan.node)
    for ctr_id in plan.container_cgroups:  # cgroup.kill: what a host-mode container forked too
        _step(problems, f"remove the cgroup of container {ctr_id[:12]}", cgroups.remove, ctr_id)
        if cgroups.path(ctr_id).exists():
            problems.append(f"the cgroup {cgroups.path(ctr_id)} is still busy")
    cgroups.remove_base()
    # links before sandboxes: a veth goes at once, not when its netns is freed later
    for name in plan.links:
        _step(problems, f"delete link {name}", links.delete_link, ipr, name)
    for net in plan.networks:
        if net.bridge and not net.bridge_owned and net.gateway_owned and net.subnet:
            prefix = ipaddress.IPv4Network(net.subnet).prefixlen
            _step(
                problems,
                f"remove gateway {net.gateway} from {net.bridge}",
                links.delete_address,
                ipr,
                net.bridge,
                net.gateway,
                prefix,
            )
    for ns in plan.sandboxes:
        _step(problems, f"delete netns {ns}", netns.remove, ns)
    for folder in plan.folders:
        _step(problems, f"remove /etc/netns/{folder}", sandbox_files.remove, folder)
    # the datapath: programs on the links left (uplinks), hooks, then the pins naming them
    live = {index for index, _ in links.links_by_name(ipr).values()}
    for index in plan.programs:
        if index in live:
            _step(
                problems, f"remove programs of link {index}", teardown.remove_programs, ipr, index
            )
    teardown.detach_hooks(plan.cgroup, plan.hooks)
    left = teardown.hooks(plan.cgroup, plan.pins)
    problems += [f"socket hook {h['id']} ({h.get('name')}) still attached" for h in left]
    teardown.remove_pins(plan.pins)
    for name, value in plan.sysctls.items():
        _step(problems, f"restore {name}", links.write_sysctl, name, value)
    _remove_state(plan, problems)
    return problems


def _remove_state(plan: Plan, problems: list[str]) -> None:
    for path in plan.state_files():
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            problems.append(f"remove {path}: {exc.strerror}")
    with contextlib.suppress(OSError):
        plan.state.rmdir()  # only when nothing else is in it
    if plan.sock.is_socket():
        _step(problems, f"remove {plan.sock}", plan.sock.unlink)
    with contextlib.suppress(OSError):
        plan.sock.parent.rmdir()


def confirmed(prompt: str) -> bool:
    """Docker's ``[y/N]`` prompt: yes only for ``y``/``yes``; end of input is no."""
    click.echo(prompt + "\n\nAre you sure you want to continue? [y/N] ", nl=False)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # the answer was not echoed: end the prompt's line
        click.echo()
    return answer.strip().lower() in ("y", "yes")


def run(cfg: Config, force: bool, cgroup: Path) -> int:
    """The command: refuse while the daemon answers, survey, confirm, remove; exit status."""
    if os.geteuid() != 0:
        raise HawserError("reset must run as root")
    sock = Path(cfg.socket)
    if daemon_answers(sock):
        raise HawserError(
            f"the daemon of node {cfg.node_name} is running (its API answers on unix://{sock}): "
            "stop it first (systemctl stop hawser)"
        )
    bpffs = DatapathConfig(node=str(cfg.node_name)).bpffs_root
    with IPRoute() as ipr:
        plan = survey(cfg, ipr, cgroup, bpffs)
        if plan.empty():
            click.echo(f"Nothing of node {plan.node} to remove.")
            return 0
        if not force and not confirmed(plan.describe()):
            raise HawserError("reset cancelled: nothing was removed")
        problems = apply(plan, ipr)
    for problem in problems:
        click.echo(f"hawserd reset: {problem}", err=True)
    if problems:
        return 1
    click.echo(f"Node {plan.node} reset: Hawser left nothing behind.")
    return 0
