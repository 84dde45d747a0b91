"""Wall time of one ``hawser-cni`` ADD and DEL, interpreter start included (issue 10: ≤ 150 ms).

    .venv/bin/python bench/cni_add.py [--runs 30] [--plugin PATH]

Phase A measures the plugin's own share: the daemon side is a stub that answers at once, so
the figure is process start + imports + parsing + one request on the unix socket. Phase B
points it at the real daemon to measure the whole ADD.
"""

from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parent.parent
RESULT = {
    "interfaces": [{"name": "eth0", "mac": "02:42:0a:58:00:02", "sandbox": "/run/netns/x"}],
    "ips": [{"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}],
}


class _Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps(RESULT if self.path.endswith("/add") else {}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def measure(plugin: str, command: str, sock: Path, runs: int) -> list[float]:
    config = json.dumps(
        {"cniVersion": "1.0.0", "name": "bench", "type": "hawser-cni", "socket": str(sock),
         "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80}]}}
    ).encode()  # fmt: skip
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "bench",
        "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni",
        "PATH": os.environ["PATH"],
    }
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([plugin], input=config, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            sys.exit(f"{plugin} {command} failed: {done.stdout.decode()}{done.stderr.decode()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plugin", action="append")
    args = parser.parse_args()
    plugins = args.plugin or [
        str(REPO / ".venv" / "bin" / "hawser-cni"),
        *(p for p in ("/usr/lib/cni/hawser-cni",) if Path(p).exists()),
    ]
    with tempfile.TemporaryDirectory(prefix="t-cni-bench-") as tmp:
        sock = Path(tmp) / "hawser.sock"
        server = _Server(str(sock), _Instant)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for plugin in plugins:
                for command in ("ADD", "DEL"):
                    t = sorted(measure(plugin, command, sock, args.runs))
                    p95 = t[int(len(t) * 0.95) - 1]
                    print(f"{plugin} {command}: median {statistics.median(t):.1f} ms, "
                          f"p95 {p95:.1f} ms, min {t[0]:.1f} ms ({args.runs} runs)")  # fmt: skip
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
