"""``hawserd`` (also run as ``hawser daemon``): start-up, reconcile, serve the API, watch
uplinks, shut down."""

from __future__ import annotations

import ctypes
import grp
import logging
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from controller.api import routes
from controller.api.server import serve
from controller.daemon import config as config_mod
from controller.daemon import reconcile, reconcile_maps, reset
from controller.daemon.config import Config
from controller.daemon.notify import Notifier
from controller.errors import HawserError
from controller.kernel import links
from controller.kernel.cgroups import ContainerCgroups
from controller.kernel.netlink import NodeNetlink
from controller.kernel.supervisor import Supervisor
from controller.ops import exits, linkpolicy, networks
from controller.ops.node import Node
from controller.plugins import dns, observability, overlay
from controller.plugins.cni import service as cni_service
from controller.plugins.docker import service as docker_service
from controller.rules import names
from controller.store.sqlite import Store

log = logging.getLogger("hawser")
UPLINK_SCAN_SECONDS = 2.0
GC_SECONDS = 30.0
#: The store and container output hold environment values: root only (the socket is 0660).
STATE_DIR_MODE = 0o700
M_MMAP_THRESHOLD = -3  # mallopt(3) parameter
#: What attaches through node events: each ``install(node)`` registers listeners, routes, servers.
PLUGINS = (
    observability.install,
    linkpolicy.install,
    dns.install,
    cni_service.install,
    docker_service.install,
    overlay.install,
)


def map_large_buffers_apart(threshold: int = 1 << 20) -> None:
    """Serve every allocation of ``threshold`` bytes or more with its own mmap (glibc).

    Batch reads of the BPF maps allocate buffers sized to a map's capacity (8 MB for CT)
    in whichever thread reads (API requests, scrapes, maintenance). glibc's dynamic
    threshold soon serves such sizes from the thread's arena, where the memory stays as
    RSS after the free, arena after arena; a fixed threshold returns it at once.
    """
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:  # not glibc (musl): nothing to tune
        mallopt(M_MMAP_THRESHOLD, threshold)


def socket_gid(cfg: Config) -> int | None:
    """The API socket's group: ``--group`` (name or id). The default group may be missing
    (the socket is then root's only, with a warning); a group the user named must exist."""
    name = str(cfg.group)
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if cfg.sources.get("group", "default") == "default":
            log.warning(
                "group %s not found: the API socket is root's only (make install creates it)",
                name,
            )
            return None
        raise HawserError(
            f"cannot create the API socket {cfg.socket}: group {name} not found "
            f"(create it with groupadd {name}, or name another with --group)"
        ) from None


def default_cgroup() -> Path:
    for candidate in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.procs").exists() and (
            candidate / "cgroup.subtree_control"
        ).exists():
            return candidate
    return Path("/sys/fs/cgroup")


class Daemon:
    def __init__(self, cfg: Config) -> None:
        from controller.datapath import Datapath, DatapathConfig, current_cookie

        self.cfg = cfg
        self.stopping = threading.Event()
        self.notifier = Notifier()
        self.gid = socket_gid(cfg)
        dp_config = DatapathConfig(
            node=cfg.node_name,
            cgroup_path=Path(cfg.cgroup_path) if cfg.cgroup_path else default_cgroup(),
            trace_sample_rate=int(cfg.trace_sample_rate),
        )
        Datapath.check_prerequisites(dp_config)
        state = cfg.state_path
        state.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(state, STATE_DIR_MODE)  # an older or hand-made folder may be wider
        store = Store(state / "hawser.db")
        ipr = NodeNetlink()
        reset.set_node_sysctls(state)  # ip_forward; `hawserd reset` puts back what it was
        datapath = Datapath(dp_config, ipr)
        self.node = node = Node(
            config=cfg,
            store=store,
            ipr=ipr,
            datapath=datapath,
            supervisor=Supervisor(
                state / "containers",
                ContainerCgroups(dp_config.cgroup_path / "hawser" / cfg.node_name),
                self._on_exit,
            ),
        )
        for install in PLUGINS:
            install(node)
        datapath.start(current_cookie())
        log.info(
            "BPF datapath compiled in %.2f s, pinned at %s",
            datapath.compile_seconds,
            dp_config.pin_dir,
        )

    def _on_exit(self, ctr_id: str, shim_pid: int, code: int) -> None:
        try:
            exits.on_process_exit(self.node, ctr_id, shim_pid, code)
        except Exception:
            log.exception("recording the exit of %s failed", ctr_id)

    def scan_uplinks(self) -> None:
        """Attach the from-uplink program to every uplink, including ones that appear later;
        forget uplinks that went away, and entries (pinned by a predecessor) of no uplink."""
        node = self.node
        wanted = set(self.cfg.uplink)
        addresses: dict[str, str] = {}
        for ifname, addr, _ in links.node_addresses(node.ipr):
            addresses.setdefault(ifname, addr)
        bridges = {net.bridge for net in node.store.networks() if net.bridge}
        present: set[str] = set()
        existing = links.links_by_name(node.ipr)
        for ifname, (index, up) in existing.items():
            if wanted and ifname not in wanted:
                continue
            own = ifname in bridges or names.is_hawser_link(ifname)
            if not wanted and (ifname == "lo" or own):
                if ifname in node.uplinks:  # a bridge a network has adopted since
                    node.datapath.detach_uplink(node.uplinks.pop(ifname)[0])
                continue
            # by default an uplink is an interface that is up and has an IPv4 address (not,
            # e.g., an ifb device used for traffic shaping); --uplink names them explicitly
            usable = up and ifname in addresses
            if not wanted and not usable:
                continue
            present.add(ifname)
            current = (index, addresses.get(ifname, "0.0.0.0"))
            if node.uplinks.get(ifname) == current:
                continue
            node.datapath.attach_uplink(*current)
            node.uplinks[ifname] = current
            log.info("uplink %s (index %d, %s) attached", ifname, *current)
        for ifname in set(node.uplinks) - present:
            index = node.uplinks.pop(ifname)[0]
            if ifname in existing:  # down, or without an address now: no longer served
                node.datapath.detach_uplink(index)
                log.info("uplink %s (index %d) detached: down or without an address", ifname, index)
            else:
                log.info("uplink %s (index %d) went away", ifname, index)
        reconcile_maps.prune_uplinks(node)
        networks.refresh_node_addresses(node)

    def _next_resync(self) -> float:
        interval = float(self.cfg.resync_interval)
        if interval <= 0:
            return float("inf")
        return time.monotonic() + interval * random.uniform(0.8, 1.2)  # jittered, like Felix

    def _maintenance_loop(self) -> None:
        """Uplinks every few seconds, CT/NAT expiry, and a jittered check for kernel drift."""
        last_gc = time.monotonic()
        next_resync = self._next_resync()
        interval = float(self.cfg.resync_interval)
        tick = min(UPLINK_SCAN_SECONDS, interval / 2) if interval > 0 else UPLINK_SCAN_SECONDS
        while not self.stopping.wait(tick):
            try:
                with self.node.lock:
                    self.scan_uplinks()
                if time.monotonic() - last_gc >= GC_SECONDS:
                    # CT/NAT expiry touches only datapath-owned maps: no need for the lock
                    last_gc = time.monotonic()
                    self.node.datapath.gc()
                if time.monotonic() >= next_resync:
                    next_resync = self._next_resync()
                    reconcile.repair(self.node)
            except Exception:
                log.exception("periodic maintenance failed")

    def run(self) -> None:
        node = self.node
        networks.ensure_builtins(node)
        counts = reconcile.full_sync(node)
        log.info("reconciled: %s", counts)
        self.scan_uplinks()
        node.emit("started")
        server = serve(routes.build(node), Path(self.cfg.socket), self.gid)
        threading.Thread(target=self._maintenance_loop, daemon=True).start()

        def stop(signum: int, frame: Any) -> None:
            self.stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("listening on unix://%s", self.cfg.socket)
        # the socket listens (and the plugins' sockets, opened at "started"): connections
        # queue until serve_forever takes them
        self.notifier.ready(f"listening on unix://{self.cfg.socket}")
        print(f"hawser daemon ready on unix://{self.cfg.socket}", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self.notifier.stopping()
            server.server_close()
            Path(self.cfg.socket).unlink(missing_ok=True)
            node.emit("stopping")
            # the datapath stays whole (tc programs, sock hooks, pins): published ports keep
            # answering, from outside and from the node, until a successor replaces it
            node.datapath.close()
            node.store.close()
            node.ipr.close()
            log.info("stopped")


def _options(fn: Any) -> Any:
    for param in reversed(config_mod.PARAMETERS):
        fn = click.option(
            param.flag,
            param.name,
            multiple=param.multiple,
            default=None,
            help=f"{param.help} [default: {param.default!r}; env {param.env}]",
        )(fn)
    return click.option(
        "--config-file", default=None, help="JSON file of parameters (env HAWSER_CONFIG_FILE)"
    )(fn)


@click.command("daemon")
@_options
def daemon_command(config_file: str | None, **flags: Any) -> None:
    """Run the Hawser node daemon in the foreground.

    `hawserd reset` (with the daemon stopped) removes everything it put on the node.
    """
    cfg = _load(config_file, flags)
    logging.basicConfig(
        level=getattr(logging, str(cfg.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log.info("effective configuration: %s", cfg.describe())
    map_large_buffers_apart()
    try:
        Daemon(cfg).run()
    except HawserError as exc:
        click.echo(f"hawser daemon: {exc.message}", err=True)
        sys.exit(1)


def _load(config_file: str | None, flags: dict[str, Any]) -> Config:
    try:
        return config_mod.load(flags, os.environ, config_file)
    except HawserError as exc:
        raise click.ClickException(exc.message) from None


@click.command("reset")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@_options
def reset_command(force: bool, config_file: str | None, **flags: Any) -> None:
    """Remove everything this node's daemon put on the machine (the daemon must be stopped).

    Takes the daemon's options (--node-name, --state-dir, --socket, --cgroup-path, a config
    file, HAWSER_* variables) to know which node; the others are ignored.
    """
    cfg = _load(config_file, flags)
    logging.basicConfig(level=logging.WARNING, format="hawserd reset: %(message)s")
    cgroup = Path(cfg.cgroup_path) if cfg.cgroup_path else default_cgroup()
    try:
        code = reset.run(cfg, force, cgroup)
    except HawserError as exc:
        click.echo(f"hawserd reset: {exc.message}", err=True)
        sys.exit(1)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point ``hawserd``: the daemon, or ``hawserd reset``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["reset"]:
        reset_command.main(args=args[1:], prog_name="hawserd reset")
    else:
        daemon_command.main(args=args, prog_name="hawserd")
