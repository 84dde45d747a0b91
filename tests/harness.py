"""A Hawser node in a network namespace, driven through the CLI as a user types it.

Topology (DESIGN §5): ``ext`` (an outside host) ── veth ── ``node`` (runs the daemon via
``nsenter --net``) ── sandboxes. Every name carries the test's random tag; ``close()``
removes everything, even after a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from controller.daemon.main import default_cgroup
from controller.datapath import stale

REPO = Path(__file__).resolve().parents[1]
HAWSER = str(REPO / ".venv" / "bin" / "hawser")
UPLINK_IP = "10.99.0.1"
EXT_IP = "10.99.0.2"


def sh(
    *argv: str, check: bool = True, timeout: float = 30, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, text=True, capture_output=True, timeout=timeout, **kw)


class HawserNode:
    def __init__(self, workdir: Path, daemon_args: Sequence[str] = ()) -> None:
        self.tag = secrets.token_hex(3)
        self.name = f"t{self.tag}"  # the daemon's --node-name
        self.node_ns = f"t-{self.tag}-node"
        self.ext_ns = f"t-{self.tag}-ext"
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.socket = workdir / "hawser.sock"
        self.daemon_args = list(daemon_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "daemon.log"
        self._build_topology()

    # topology -------------------------------------------------------------
    def _build_topology(self) -> None:
        sh("ip", "netns", "add", self.node_ns)
        sh("ip", "netns", "add", self.ext_ns)
        a, b = f"t-{self.tag}-a", f"t-{self.tag}-b"
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", a, "netns", self.node_ns)
        sh("ip", "link", "set", b, "netns", self.ext_ns)
        for ns, dev, new, ip in (
            (self.node_ns, a, "uplink0", UPLINK_IP),
            (self.ext_ns, b, "eth0", EXT_IP),
        ):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "name", new)
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", new)
            sh("ip", "-n", ns, "link", "set", new, "up")

    # daemon ---------------------------------------------------------------
    def start(self, *extra: str, wait: bool = True) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            "nsenter", f"--net=/run/netns/{self.node_ns}", HAWSER, "daemon",
            "--state-dir", str(self.state_dir), "--socket", str(self.socket),
            "--node-name", self.name, "--metrics-address", "",
            *self.daemon_args, *extra,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            if self.socket.exists() and self.cli("network", "ls", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"daemon not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    # use ------------------------------------------------------------------
    def cli(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = sh(HAWSER, "--socket", str(self.socket), *args, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"hawser {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args).stdout)

    def jsonl(self, *args: str) -> list[Any]:
        """Output of a ``--format json`` listing: one JSON object per line."""
        return [json.loads(line) for line in self.cli(*args).stdout.splitlines() if line.strip()]

    def in_node(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh(
            "nsenter", f"--net=/run/netns/{self.node_ns}", *argv, check=check, timeout=timeout
        )

    def in_ext(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ext_ns, *argv, check=check, timeout=timeout)

    def sandbox(self, container: str) -> str:
        return str(self.json("inspect", container)[0]["NetworkSettings"]["SandboxKey"]).rsplit(
            "/", 1
        )[-1]

    def ip_of(self, container: str, network: str = "") -> str:
        settings = self.json("inspect", container)[0]["NetworkSettings"]
        if network:
            return str(settings["Networks"][network]["IPAddress"])
        return str(settings["IPAddress"])

    # leftovers ------------------------------------------------------------
    def hawser_netns(self) -> list[str]:
        return [n for n in _netns_names() if n.startswith(f"hw-{self.name}-")]

    def hawser_links(self) -> list[str]:
        out = self.in_node("ip", "-o", "link", "show").stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n.startswith(("hw", "hawser"))]

    def sandbox_folders(self) -> list[str]:
        etc = Path("/etc/netns")
        return sorted(p.name for p in etc.glob(f"hw-{self.name}-*")) if etc.exists() else []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc and self.proc.poll() is None:
                ids = self.cli("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.cli("rm", "-f", *ids, check=False)
        self.stop()
        for ns in self.hawser_netns():
            _kill_netns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)
        for folder in self.sandbox_folders():
            shutil.rmtree(Path("/etc/netns") / folder, ignore_errors=True)
        for ns in (self.node_ns, self.ext_ns):
            _kill_netns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)
        pins = Path("/sys/fs/bpf/hawser") / self.name
        if pins.exists():
            cgroup = default_cgroup()
            for version in pins.iterdir():  # hooks left by a kill -9
                for hook in stale.predecessors(cgroup, version):
                    stale.detach(cgroup, hook)
            shutil.rmtree(pins, ignore_errors=True)


class LineReader:
    """A child's output pipe read line by line by a thread: waiting with a deadline never
    misses a line that already sits in a buffer (select() on the pipe would)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, match: Callable[[str], bool], timeout: float) -> list[str]:
        """Lines up to and including the first that matches; fewer at EOF or the deadline."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if match(line):
                break
        return seen


def _netns_names() -> list[str]:
    return [
        line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines() if line.strip()
    ]


def _kill_netns_pids(ns: str) -> None:
    pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
