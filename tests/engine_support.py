"""Hawser under real engines: a Hawser node whose daemon serves its Docker plugin to a dockerd
of the same node netns, and the checks the engine tests share (what an engine's container
serves, what is left behind)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.engines import DockerEngine, EngineNamespace
from testbed.hawser import HawserNode
from testbed.shell import sh
from testbed.wait import wait_for

# busybox httpd with a CGI that prints the client's address as the container saw it
CGI_SETUP = (
    "mkdir -p /www/cgi-bin && "
    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' "
    ">/www/cgi-bin/ip && chmod +x /www/cgi-bin/ip"
)


def seen_as(ip: str) -> str:
    """What the CGI prints for a client at ``ip`` (busybox httpd listens on IPv6 too)."""
    return f"[::ffff:{ip}]\n"


def httpd(*extra_ports: int) -> list[str]:
    """``sh -c`` argv of a container serving /www (and its CGI) on 80 and ``extra_ports``."""
    more = "".join(f"httpd -p {p} -h /www && " for p in extra_ports)
    return ["sh", "-c", f"{CGI_SETUP} && {more}exec httpd -f -p 80 -h /www"]


class DockerOnHawser:
    """``node`` (ext <-> node with a Hawser daemon) and ``eng`` (dockerd in the node netns)
    wired together: the daemon's plugin socket is dockerd's ``/run/docker/plugins/hawser.sock``
    and the daemon asks dockerd for names. Hawser starts first (its unit is Before=docker)."""

    def __init__(
        self, tmp_path: Path, *, iptables: bool = False, docker_args: Sequence[str] = ()
    ) -> None:
        self.node = HawserNode(tmp_path / "node", metrics_address="127.0.0.1:0")
        self.eng = DockerEngine(
            self.node.node_ns, tmp_path / "d", self.node.tag, iptables=iptables,
            extra_args=docker_args,
        )  # fmt: skip
        plugin_dir = tmp_path / "d" / "plugins"  # dockerd's /run/docker/plugins
        plugin_dir.mkdir(parents=True)
        self.node.docker_plugin_socket = str(plugin_dir / "hawser.sock")
        self.node.docker_host = f"unix://{self.eng.socket}"

    def start(self, *, docker_first: bool = False) -> None:
        """Hawser then dockerd (the systemd order), or dockerd first: it then finds the node
        not forwarding, turns forwarding on and, with iptables, sets FORWARD to DROP."""
        if not docker_first:
            self.node.start()
        self.eng.start()
        if docker_first:
            self.node.start()
        self.eng.import_busybox()

    def close(self) -> None:
        try:
            self.eng.close()
        finally:
            self.node.close()

    def docker(self, *args: str, check: bool = True) -> Any:
        return self.eng.docker(*args, check=check)

    def ip_of(self, container: str) -> str:
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return str(self.docker("inspect", "-f", fmt, container).stdout.strip())

    def pid_of(self, container: str) -> int:
        return int(self.docker("inspect", "-f", "{{.State.Pid}}", container).stdout)

    def named(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """The ``hawser ps`` entry of an engine's container, once Hawser knows Docker's name."""

        def entry() -> dict[str, Any] | None:
            rows = self.node.jsonl("ps", "-a", "--format", "json")
            return next((r for r in rows if r["Names"] == name), None)

        return wait_for(entry, timeout, f"hawser ps to show {name}", interval=0.1)

    def docker_netns(self) -> list[str]:
        """Live sandboxes of dockerd (netns bind mounts in its mount namespace; the files of
        destroyed ones stay until libnetwork's garbage collection, a minute later)."""
        assert self.eng.ns is not None
        return live_netns(self.eng.ns, "/run/docker/netns")


def live_netns(ns: EngineNamespace, path: str) -> list[str]:
    """Files under ``path`` of an engine's mount namespace that are mounted netns."""
    folder = Path(f"/proc/{ns.pid}/root{path}")
    nsfs = os.stat("/proc/self/ns/net").st_dev
    found = folder.iterdir() if folder.is_dir() else iter(())
    return sorted(p.name for p in found if p.stat().st_dev == nsfs)


def curl(node: HawserNode, url: str, *, ext: bool = True, timeout: float = 3) -> str:
    """GET from the outside host (or the node); "" when nothing answered."""
    run = node.in_ext if ext else node.in_node
    result = run("curl", "-sS", "--max-time", str(timeout), url, check=False)
    return result.stdout if result.returncode == 0 else ""


def wait_served(node: HawserNode, url: str, want: str, timeout: float = 20) -> None:
    wait_for(lambda: curl(node, url, timeout=1) == want, timeout, f"{url} to answer {want!r}")


def store_rows(node: HawserNode) -> dict[str, int]:
    """Rows of each table an engine's objects live in (read-only, beside the daemon)."""
    db = sqlite3.connect(f"file:{node.state_dir / 'hawser.db'}?mode=ro", uri=True)
    try:
        tables = ("containers", "endpoints", "port_bindings", "port_requests", "plugin_state")
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        db.close()


def leftovers(node: HawserNode) -> dict[str, Any]:
    """What an engine's containers and networks could leave in Hawser: links (other than the
    bridges of the networks there are), map entries, rows, user networks. Empty lists and
    zero counts when nothing is left."""
    nets = [n["Name"] for n in node.jsonl("network", "ls", "--format", "json")]
    bridges = {"hawser0"} | {
        f"hw-{n['ID'][:12]}" for n in node.jsonl("network", "ls", "--format", "json")
    }
    return {
        "links": [n for n in node.hawser_links() if n not in bridges],
        "endpoints": node.jsonl("bpf", "endpoints", "--format", "json"),
        "ports": node.jsonl("bpf", "ports", "--format", "json"),
        "rows": {t: n for t, n in store_rows(node).items() if n},
        "networks": sorted(set(nets) - {"bridge", "host", "none"}),
    }


NOTHING_LEFT = {"links": [], "endpoints": [], "ports": [], "rows": {}, "networks": []}


def forward_counters(node: HawserNode) -> list[str]:
    """Every rule of the node's iptables with its packet counter (``iptables-save -c``)."""
    out = sh("ip", "netns", "exec", node.node_ns, "iptables-save", "-c").stdout
    return [line for line in out.splitlines() if line.startswith(("[", ":"))]
