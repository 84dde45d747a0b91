"""A Hawser node: ``hawser daemon`` in a netns, driven through its CLI and its API.

``Daemon`` is the process: started with ``nsenter --net`` (``ip netns exec`` would hide
/sys/fs/bpf), ready when its API answers ``GET /v1/info`` (polled; it fails at once with the
log when the process exits first), stopped with SIGTERM (SIGKILL after a timeout) or killed
with SIGKILL as a crash would. ``HawserNode`` is the standard test node: an ``ExtNode``
topology (uplink ``uplink0``), a daemon named ``t<hex>`` in it, and a ``close()`` that
removes everything the daemon made, even after a kill -9.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed import census, procs, unixhttp
from testbed.procs import Proc
from testbed.scope import Scope
from testbed.shell import StepFailed, sh
from testbed.topology import EXT_IP, NODE_IP, ExtNode
from testbed.wait import NotReady, until

REPO = Path(__file__).resolve().parents[1]
HAWSER = str(REPO / ".venv" / "bin" / "hawser")
UPLINK_IP = NODE_IP  # a HawserNode's address on its uplink; the outside host is EXT_IP

__all__ = ["EXT_IP", "HAWSER", "REPO", "UPLINK_IP", "Daemon", "HawserNode"]


class Daemon:
    """One ``hawser daemon`` in netns ``netns`` with its state, socket and log in ``workdir``."""

    def __init__(
        self,
        netns: str,
        workdir: Path,
        name: str,
        args: Sequence[str] = (),
        *,
        metrics_address: str = "",
        log_path: Path | None = None,
        docker_plugin_socket: str = "",
        docker_host: str = "",
    ) -> None:
        self.netns = netns
        self.workdir = workdir
        self.name = name  # --node-name: sandboxes hw-<name>-…, pins under hawser/<name>
        self.args = list(args)
        self.metrics_listen = metrics_address  # the flag; the bound address is in /v1/info
        self.state_dir = workdir / "state"
        self.socket = workdir / "hawser.sock"
        self.log_path = log_path or workdir / "daemon.log"
        # off unless a test asks: the default path is the machine's /run/docker/plugins
        self.docker_plugin_socket = docker_plugin_socket
        self.docker_host = docker_host
        self.process: Proc | None = None

    @property
    def proc(self) -> subprocess.Popen[Any] | None:
        return self.process.popen if self.process else None

    @property
    def pid(self) -> int:
        """The daemon's own pid (nsenter execs it)."""
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.alive()

    def argv(self, *extra: str) -> list[str]:
        return procs.enter(
            self.netns, HAWSER, "daemon",
            "--state-dir", str(self.state_dir), "--socket", str(self.socket),
            "--node-name", self.name, "--metrics-address", self.metrics_listen,
            "--docker-plugin-socket", self.docker_plugin_socket, "--docker-host", self.docker_host,
            *self.args, *extra,
        )  # fmt: skip

    def start(
        self, *extra: str, wait: bool = True, timeout: float = 30, env: dict[str, str] | None = None
    ) -> float:
        """Start the daemon (``extra`` flags after the standing ones; ``env`` its whole
        environment, default ours); with ``wait``, return the seconds until its API answered."""
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.process = Proc(self.argv(*extra), log=self.log_path, env=env)
        if wait:
            self.wait_ready(timeout)
        return time.monotonic() - started

    def answers(self) -> bool:
        try:
            return self.api("GET", "/v1/info", timeout=2)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the API answers; StepFailed with the log at once if the daemon exits."""
        process = self.process
        assert process is not None, "not started"

        def ready() -> bool:
            if self.answers():
                return True
            if not process.alive():
                code = process.popen.returncode
                raise StepFailed(f"hawser daemon exited {code}: {self._log_report()}")
            return False

        if not until(ready, timeout):
            raise NotReady(f"hawser daemon not ready in {timeout}s: {self._log_report()}")

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM and wait; SIGKILL after ``timeout``. The exit status, or None when it had
        to be killed (or was not running)."""
        if not self.running:
            return None
        assert self.process is not None
        self.process.send(signal.SIGTERM)
        try:
            return self.process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """kill -9 of its process group, as a crash would."""
        if self.process is not None:
            self.process.kill()

    def restart(self, *extra: str, timeout: float = 30) -> float:
        self.stop()
        return self.start(*extra, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _log_report(self) -> str:
        """The log's last line first (what a one-line report shows), then its tail."""
        lines = [line for line in self.log().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "(no log)"
        return f"{last} (log: {self.log_path})\n" + "\n".join(lines[-40:])

    # API and CLI --------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        return unixhttp.request(str(self.socket), method, path, body, timeout)

    def get(self, path: str, timeout: float = 120) -> Any:
        """GET that must answer 200; the decoded body."""
        status, reply = self.api("GET", path, timeout=timeout)
        if status != 200:
            raise StepFailed(f"GET {path}: {status} {reply}")
        return reply

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


class HawserNode(Daemon):
    """ext <-> node (uplink ``uplink0``, 10.99.0.1/24; ext 10.99.0.2) with a daemon named
    ``t<hex>`` in the node; ``close()`` removes containers, daemon, sandboxes, pins, netns."""

    UPLINK = "uplink0"

    def __init__(
        self, workdir: Path, daemon_args: Sequence[str] = (), *, metrics_address: str = ""
    ) -> None:
        self.scope = Scope()
        self.tag = self.scope.tag
        self.topo = ExtNode(self.scope, uplink=self.UPLINK)
        super().__init__(
            self.topo.node, workdir, f"t{self.tag}", daemon_args, metrics_address=metrics_address
        )
        self.node_ns, self.ext_ns = self.topo.node, self.topo.ext
        self.node_ip, self.ext_ip = UPLINK_IP, EXT_IP

    def in_node(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` in the node's netns (nsenter: /sys/fs/bpf stays visible)."""
        return sh(*procs.enter(self.node_ns, *argv), check=check, timeout=timeout)

    def in_ext(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh(*procs.netns_exec(self.ext_ns, *argv), check=check, timeout=timeout)

    def sandbox(self, container: str) -> str:
        """The container's netns name (the last part of its SandboxKey)."""
        key = self.json("inspect", container)[0]["NetworkSettings"]["SandboxKey"]
        return str(key).rsplit("/", 1)[-1]

    def ip_of(self, container: str, network: str = "") -> str:
        settings = self.json("inspect", container)[0]["NetworkSettings"]
        if network:
            return str(settings["Networks"][network]["IPAddress"])
        return str(settings["IPAddress"])

    def hawser_netns(self) -> list[str]:
        return census.sandbox_netns(self.name)

    def hawser_links(self) -> list[str]:
        return census.hawser_links(self.node_ns)

    def sandbox_folders(self) -> list[str]:
        return census.sandbox_folders(self.name)

    def close(self) -> list[str]:
        """Remove everything; returns the sandboxes the daemon itself left behind after its
        containers were removed and it stopped (none, normally)."""
        with contextlib.suppress(Exception):
            if self.running:
                ids = self.cli("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.cli("rm", "-f", *ids, check=False)
        self.stop()
        left = census.remove_sandboxes(self.name)
        cgroups = census.remove_cgroups(self.name)
        problems = self.scope.close()
        census.remove_pins(self.name)  # the daemon keeps them across restarts by design
        return (
            [f"netns left behind: {ns}" for ns in left]
            + [f"container cgroup left behind: {c}" for c in cgroups]
            + problems
        )
