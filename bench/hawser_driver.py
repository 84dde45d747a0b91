"""Drive a Hawser daemon inside a benchmark node netns, through its CLI and its REST API.

The daemon is the testbed's (``testbed.hawser.Daemon``): ``nsenter --net=/run/netns/NODE
.venv/bin/hawser daemon --state-dir DIR --socket SOCK --node-name NAME --uplink IFACE
--metrics-address 127.0.0.1:0``, ready when its API answers. Containers are made with the
CLI as a user would; timings of the control plane (S6, S7) use the API directly so that the
CLI's Python start-up (a few hundred ms) is not counted as the daemon's work — the CLI time is
reported beside it. Processes run inside a container by the benchmark enter its sandbox by the
netns path the daemon reports (`NetworkSettings.SandboxKey`), never through a pid: a
container's `State.Pid` is its supervisor's shim, which lives in the node's netns.

`close()` ends what runs in each sandbox (found by the sandbox's netns inode), removes the
containers, then stops the daemon with SIGTERM and waits; a stop keeps the datapath (its
root-cgroup hooks and pins), so `hawserd reset -f` then removes what the node put on the machine.
A daemon that does not exit in time, a reset that fails, or hooks left behind are reported as
problems of the run (`census.LEDGER.problems`), never hidden.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import census
from bench.proc import BenchError, forget_cleanup, on_cleanup, rss_kib
from testbed import census as kernel_census
from testbed import netns
from testbed.hawser import HAWSER as HAWSER_CLI
from testbed.hawser import REPO, Daemon

HAWSER = Path(HAWSER_CLI)
HAWSERD = HAWSER.with_name("hawserd")


def unavailable_reason() -> str | None:
    """Why Hawser cannot be measured, or None when its daemon command exists."""
    if not HAWSER.exists():
        return f"{HAWSER} is missing (pip install -e . not run)"
    if not (REPO / "controller" / "daemon" / "main.py").exists():
        return "controller/daemon/main.py does not exist (the daemon is not written)"
    res = subprocess.run(
        [str(HAWSER), "daemon", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode != 0:
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`hawser daemon --help` fails: {last[0][:200]}"
    return None


class HawserNode(Daemon):
    """One daemon in netns `node` with uplink `uplink`; containers are the daemon's."""

    STOP_TIMEOUT = 30.0

    def __init__(self, node_ns: str, uplink: str, name: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="t-bench-hawser-"))
        logs = Path(__file__).resolve().parent / "results"
        logs.mkdir(exist_ok=True)
        super().__init__(
            node_ns, self.dir, name, ["--uplink", uplink], metrics_address="127.0.0.1:0",
            log_path=logs / f"daemon-{name}.log",  # kept after the run (gitignored)
        )  # fmt: skip
        census.LEDGER.state_dirs.add(str(self.dir))
        census.LEDGER.nodes.add(name)
        self.containers: list[str] = []
        self._closer = on_cleanup(self.close)

    # -- lifecycle -------------------------------------------------------------------------
    def start(
        self,
        *extra: str,
        wait: bool = True,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> float:
        """Start the daemon; return seconds until its API answered."""
        took = super().start(*extra, wait=wait, timeout=timeout, env=env)
        census.LEDGER.node_started(self.name)
        return took

    def log_tail(self, lines: int = 1) -> str:
        text = [t.strip() for t in self.log().strip().splitlines() if t.strip()]
        if not text:
            return "(no log)"
        return " / ".join(text[-lines:]) + f" (log: {self.log_path})"

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def close(self) -> None:
        """End sandbox processes, remove containers, SIGTERM the daemon, remove its traces."""
        forget_cleanup(self._closer)
        problems = census.LEDGER.problems
        if self.running:
            for name in list(self.containers):
                try:
                    self.rm(name)
                except (BenchError, OSError) as exc:
                    problems.append(f"{self.name}: removing container {name} failed: {exc}")
            if self._stop_daemon(problems):
                self._reset(problems)
        elif self.process is not None:
            problems.append(
                f"{self.name}: the daemon had already exited ({self.process.popen.returncode}) "
                f"before stop: {self.log_tail()}"
            )
        self.process = None
        # Hooks still attached that use this node's pinned maps are this daemon's: report them
        # and detach them (nothing else is touched on the shared root cgroup).
        left = kernel_census.remove_pins(self.name)
        if left:
            problems.append(
                f"{self.name}: {len(left)} root-cgroup program(s) still attached after the daemon "
                f"stopped: {sorted(int(h['id']) for h in left)} (detached by the bench)"
            )
        for ns in kernel_census.sandbox_netns(self.name):
            problems.append(f"{self.name}: sandbox netns {ns} left after the daemon stopped")
            netns.delete(ns, grace=3)
        with contextlib.suppress(OSError):
            kernel_census.BPFFS_HAWSER.rmdir()  # only when no other node uses it
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_daemon(self, problems: list[str]) -> bool:
        """SIGTERM the daemon; whether it exited as asked."""
        code = self.stop(self.STOP_TIMEOUT)
        if code is None:
            problems.append(
                f"{self.name}: THE DAEMON DID NOT EXIT within {self.STOP_TIMEOUT:.0f} s of "
                f"SIGTERM; killed with SIGKILL ({self.log_tail()})"
            )
            print(f"!!! {problems[-1]}", flush=True)
        elif code not in (0, -signal.SIGTERM):
            problems.append(f"{self.name}: the daemon exited {code} on SIGTERM: {self.log_tail()}")
        else:
            return True
        return False

    def _reset(self, problems: list[str]) -> None:
        """``hawserd reset -f``: a stop keeps the datapath (hooks, pins), reset removes it all."""
        argv = netns.enter(
            self.netns, str(HAWSERD), "reset", "--force", "--node-name", self.name,
            "--state-dir", str(self.state_dir), "--socket", str(self.socket),
        )  # fmt: skip
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if res.returncode != 0:
            why = (res.stderr or res.stdout).strip()[-300:]
            problems.append(f"{self.name}: hawserd reset exited {res.returncode}: {why}")

    # -- API and CLI -----------------------------------------------------------------------
    def run(self, name: str, publish: list[str], cmd: list[str] | None = None) -> str:
        """`hawser run -d --name NAME -p ... [-- CMD]`; returns the container id."""
        args = ["run", "-d", "--name", name]
        for spec in publish:
            args += ["-p", spec]
        if cmd:
            args += ["--", *cmd]
        res = self.cli(*args, check=False, timeout=120)
        if res.returncode != 0:
            raise BenchError(f"hawser {' '.join(args)} exited {res.returncode}: {res.stderr}")
        out = res.stdout.strip()
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
        """End what runs in the container's sandbox (ours too), then remove it through the API."""
        try:
            path = self.netns_path(name)
        except BenchError:
            path = ""
        inode = netns.inode(path) if path else None
        pids = netns.pids_in(path) if path else []
        status, reply = self.api("DELETE", f"/v1/containers/{name}?force=1")
        if status not in (200, 204, 404):
            raise BenchError(f"rm {name}: {status} {reply}")
        if name in self.containers:
            self.containers.remove(name)
        # What the daemon did not end (helpers a container started, clients we ran inside it):
        # ended by the sandbox's netns identity, so no other process can be hit by pid reuse.
        netns.end_processes([p for p in pids if p != self.pid], inode, grace=5)

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
        """The container's sandbox (NetworkSettings.SandboxKey), for nsenter --net=."""
        key = self.inspect(name).get("NetworkSettings", {}).get("SandboxKey") or ""
        if not key or not Path(key).exists():
            raise BenchError(f"container {name}: SandboxKey {key!r} is not a netns path")
        return str(key)

    def in_container(self, name: str, *cmd: str) -> list[str]:
        return netns.enter(self.netns_path(name), *cmd)
