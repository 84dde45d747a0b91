"""Wall time of one ``hawser-cni`` ADD and DEL against the real daemon, interpreter start
included (issue 10: an ADD costs at most 150 ms).

    .venv/bin/python bench/cni_add.py [--runs 30] [--plugin PATH] [--stub]

The plugin timed is this checkout's launcher as ``make install`` writes it
(controller/plugins/cni/launcher.py), unless ``--plugin`` names another.

Builds a Hawser node with testbed (ext <-> node netns, ``hawser daemon`` in the node, root
needed), creates network ``benchnet`` and one netns per run, then times, per run, the plugin
process as a runtime runs it (environment + stdin, one published port): ADD, then DEL. The
path is proven, not assumed: after each ADD the netns holds the address the result names on
``eth0``, the daemon lists the container (owner ``cni``) with its port, and the outside host
reaches a server in the netns through the published port; after each DEL nothing of it is
left. ``--stub`` times the plugin alone against a stub that answers at once (the plugin's own
share: process start, imports, one request).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LIMIT_MS = 150.0
SUBNET = "10.230.0.0/16"
HOST_PORT, CONTAINER_PORT = 8090, 7000
STUB_RESULT = {
    "interfaces": [{"name": "eth0", "mac": "02:42:0a:58:00:02", "sandbox": "/run/netns/x"}],
    "ips": [{"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}],
}


def invoke(
    plugin: str, command: str, socket: Path, netns: str, container: str
) -> tuple[float, Any]:
    """One plugin process: (wall ms, parsed stdout); exits the benchmark on a failure."""
    config = json.dumps(
        {"cniVersion": "1.0.0", "name": "benchnet", "type": "hawser-cni", "socket": str(socket),
         "runtimeConfig": {"portMappings": [
             {"hostPort": HOST_PORT, "containerPort": CONTAINER_PORT, "protocol": "tcp"}]}}
    ).encode()  # fmt: skip
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni", "PATH": os.environ["PATH"],
    }  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run([plugin], input=config, env=env, capture_output=True, check=False)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        sys.exit(f"{plugin} {command} failed: {done.stdout.decode()}{done.stderr.decode()}")
    return took, json.loads(done.stdout) if done.stdout.strip() else None


def summary(label: str, times: list[float]) -> str:
    t = sorted(times)
    p95 = t[max(0, int(len(t) * 0.95) - 1)]
    return (f"{label}: median {statistics.median(t):.1f} ms, p95 {p95:.1f} ms, "
            f"min {t[0]:.1f} ms, max {t[-1]:.1f} ms ({len(t)} runs)")  # fmt: skip


def real(plugin: str, runs: int) -> list[float]:
    from testbed.hawser import EXT_IP, UPLINK_IP, HawserNode
    from testbed.shell import sh

    with tempfile.TemporaryDirectory(prefix="t-cni-bench-") as tmp:
        node = HawserNode(Path(tmp) / "node")
        adds: list[float] = []
        dels: list[float] = []
        try:
            node.start()
            node.cli("network", "create", "--subnet", SUBNET, "benchnet")
            for i in range(runs):
                netns = f"t-{node.tag}-c{i}"
                sh("ip", "netns", "add", netns)
                node.scope.on_close(functools.partial(sh, "ip", "netns", "del", netns))
                path, container = f"/run/netns/{netns}", f"{i:064x}"
                took, result = invoke(plugin, "ADD", node.socket, path, container)
                adds.append(took)
                prove_added(node, netns, result, EXT_IP, UPLINK_IP)
                took, _ = invoke(plugin, "DEL", node.socket, path, container)
                dels.append(took)
                if node.jsonl("ps", "-a", "--format", "json") or node.jsonl(
                    "bpf", "ports", "--format", "json"
                ):
                    sys.exit(f"run {i}: DEL left the container or its port behind")
        finally:
            node.close()
    print(summary(f"{plugin} ADD (real daemon)", adds))
    print(summary(f"{plugin} DEL (real daemon)", dels))
    return adds


def prove_added(
    node: Any, netns: str, result: dict[str, Any], client_ip: str, node_ip: str
) -> None:
    from testbed import servers
    from testbed.shell import sh

    address = next(ip["address"] for ip in result["ips"])
    inside = sh("ip", "-n", netns, "-4", "-o", "addr", "show", "eth0").stdout
    if f"inet {address}" not in inside:
        sys.exit(f"ADD answered {address} but eth0 in {netns} holds: {inside!r}")
    [row] = node.jsonl("ps", "--format", "json")
    if row["Owner"] != "cni" or f"{HOST_PORT}->{CONTAINER_PORT}/tcp" not in row["Ports"]:
        sys.exit(f"the daemon does not list the container with its port: {row}")
    proc = servers.serve(node.scope, netns, "tcp", CONTAINER_PORT)
    got = servers.client(node.ext_ns, "tcp", node_ip, HOST_PORT)
    proc.stop()
    if got.get("reply", {}).get("peer", [""])[0] != client_ip:
        sys.exit(f"the published port did not reach the netns with the client's address: {got}")


class _Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps(STUB_RESULT if self.path.endswith("/add") else {}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def stub(plugin: str, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="t-cni-bench-") as tmp:
        sock = Path(tmp) / "hawser.sock"
        server = _Server(str(sock), _Instant)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for command in ("ADD", "DEL"):
                t = [invoke(plugin, command, sock, "/run/netns/x", "bench")[0] for _ in range(runs)]
                print(summary(f"{plugin} {command} (stub daemon: the plugin's own share)", t))
        finally:
            server.shutdown()
            server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plugin", help="the plugin to time (default: this checkout's launcher)")
    parser.add_argument("--stub", action="store_true", help="time the plugin alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t-cni-bin-") as folder:
        if args.plugin is None:
            from controller.plugins.cni import launcher

            python = str(REPO / ".venv" / "bin" / "python")
            args.plugin = str(launcher.install(Path(folder), python, REPO))
        if args.stub:
            stub(args.plugin, args.runs)
            return
        adds = real(args.plugin, args.runs)
    median = statistics.median(adds)
    verdict = "within" if median <= LIMIT_MS else "OVER"
    print(f"ADD median {median:.1f} ms: {verdict} the {LIMIT_MS:.0f} ms budget")
    if median > LIMIT_MS:
        sys.exit(1)


if __name__ == "__main__":
    main()
