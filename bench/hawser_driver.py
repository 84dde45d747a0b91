"""Drive a Hawser daemon inside a benchmark node netns, through its CLI and its REST API.

The daemon runs as `nsenter --net=/run/netns/NODE .venv/bin/hawser daemon --state-dir DIR --socket
SOCK --node-name NAME --uplink IFACE --metrics-address 127.0.0.1:0`. Containers are made with the
CLI as a user would; timings of the control plane (S6, S7) use the API directly so that the CLI's
Python start-up (a few hundred ms) is not counted as the daemon's work — the CLI time is reported
beside it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.proc import BenchError, del_netns, in_ns, rss_kib, sh, spawn, stop, wait_until

REPO = Path(__file__).resolve().parent.parent
HAWSER = REPO / ".venv" / "bin" / "hawser"


def unavailable_reason() -> str | None:
    """Why Hawser cannot be measured, or None when its daemon command exists."""
    if not HAWSER.exists():
        return f"{HAWSER} is missing (pip install -e . not run)"
    if not (REPO / "controller" / "daemon.py").exists():
        return "controller/daemon.py does not exist yet (the daemon is not written)"
    res = subprocess.run(
        [str(HAWSER), "daemon", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode != 0:
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`hawser daemon --help` fails: {last[0][:200]}"
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class HawserNode:
    """One daemon in netns `node` with uplink `uplink`; containers are the daemon's."""

    def __init__(self, node_ns: str, uplink: str, name: str) -> None:
        self.node_ns = node_ns
        self.uplink = uplink
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="t-bench-hawser-"))
        self.sock = str(self.dir / "hawser.sock")
        logs = Path(__file__).resolve().parent / "results"
        logs.mkdir(exist_ok=True)
        self.log = str(logs / f"daemon-{name}.log")  # kept after the run (gitignored)
        self.proc: subprocess.Popen[bytes] | None = None
        self.containers: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> float:
        """Start the daemon; return seconds until its API answered."""
        t0 = time.monotonic()
        self.proc = spawn(
            in_ns(
                self.node_ns,
                str(HAWSER),
                "daemon",
                "--state-dir",
                str(self.dir / "state"),
                "--socket",
                self.sock,
                "--node-name",
                self.name,
                "--uplink",
                self.uplink,
                "--metrics-address",
                "127.0.0.1:0",
            ),
            log=self.log,
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"hawser daemon exited {self.proc.returncode}: {self.log_tail()}")
            try:
                return self.api("GET", "/v1/info")[0] == 200
            except OSError:
                return False

        wait_until(ready, timeout, "the hawser daemon's API", interval=0.1)
        return time.monotonic() - t0

    def log_tail(self, lines: int = 1) -> str:
        try:
            text = Path(self.log).read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        text = [t.strip() for t in text if t.strip()]
        return " / ".join(text[-lines:]) + f" (log: {self.log})"

    @property
    def pid(self) -> int:
        """The daemon's own pid (nsenter execs it, so the Popen pid is the daemon)."""
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def stop(self) -> None:
        """Remove our containers, kill what they left running, stop the daemon, drop its dir."""
        pids: set[int] = set()
        for name in list(self.containers):
            try:
                pids |= set(self.netns_pids(name))
                self.rm(name)
            except (BenchError, OSError):
                pass
        for pid in pids:  # helpers our containers started (iperf3) that the daemon may not reap
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if self.proc is not None:
            stop(self.proc, timeout=15)  # SIGTERM: the daemon detaches its cgroup hooks
        # What our daemon made and may have left: its container netns and its bpffs pins.
        for line in sh(["ip", "netns", "list"], check=False).splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(f"hw-{self.name}-"):
                del_netns(ns)
        shutil.rmtree(f"/sys/fs/bpf/hawser/{self.name}", ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- API and CLI -----------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = _UnixHTTPConnection(self.sock, timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip() else None)
        finally:
            conn.close()

    def cli(self, *args: str, timeout: float = 120) -> str:
        return sh([str(HAWSER), "--socket", self.sock, *args], timeout=timeout)

    def run(self, name: str, publish: list[str], cmd: list[str] | None = None) -> str:
        """`hawser run -d --name NAME -p ... [-- CMD]`; returns the container id."""
        args = ["run", "-d", "--name", name]
        for spec in publish:
            args += ["-p", spec]
        if cmd:
            args += ["--", *cmd]
        out = self.cli(*args).strip()
        self.containers.append(name)
        return out.splitlines()[-1] if out else ""

    def create_api(self, body: dict[str, Any]) -> float:
        """POST /v1/containers; return the seconds it took. Raises on a non-201 answer."""
        t0 = time.perf_counter()
        status, reply = self.api("POST", "/v1/containers", body)
        took = time.perf_counter() - t0
        if status != 201:
            raise BenchError(f"POST /v1/containers {body.get('Name')}: {status} {reply}")
        if body.get("Name"):
            self.containers.append(str(body["Name"]))
        return took

    def rm(self, name: str) -> None:
        status, reply = self.api("DELETE", f"/v1/containers/{name}?force=1")
        if status not in (200, 204, 404):
            raise BenchError(f"rm {name}: {status} {reply}")
        if name in self.containers:
            self.containers.remove(name)

    def inspect(self, name: str) -> dict[str, Any]:
        status, reply = self.api("GET", f"/v1/containers/{name}")
        if status != 200:
            raise BenchError(f"inspect {name}: {status} {reply}")
        return reply  # type: ignore[no-any-return]

    def container_ip(self, name: str) -> str:
        ip = str(self.inspect(name)["NetworkSettings"]["IPAddress"])
        if not ip:
            raise BenchError(f"container {name} has no IPAddress")
        return ip

    def netns_path(self, name: str) -> str:
        """A path to the container's netns usable with nsenter --net=."""
        info = self.inspect(name)
        pid = info.get("State", {}).get("Pid") or 0
        if pid:
            return f"/proc/{pid}/ns/net"
        key = info.get("NetworkSettings", {}).get("SandboxKey") or ""
        if key and os.path.exists(key):
            return str(key)
        raise BenchError(f"container {name}: neither State.Pid nor SandboxKey usable")

    def in_container(self, name: str, *cmd: str) -> list[str]:
        return ["nsenter", f"--net={self.netns_path(name)}", "--", *cmd]

    def netns_pids(self, name: str) -> list[int]:
        """Pids whose network namespace is the container's (to clean up what we started there)."""
        try:
            target = os.stat(self.netns_path(name)).st_ino
        except (BenchError, OSError):
            return []
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}/ns/net").st_ino == target:
                        out.append(int(entry))
                except OSError:
                    continue
        return out
