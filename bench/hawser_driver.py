"""Drive a Hawser daemon inside a benchmark node netns, through its CLI and its REST API.

The daemon runs as `nsenter --net=/run/netns/NODE .venv/bin/hawser daemon --state-dir DIR --socket
SOCK --node-name NAME --uplink IFACE --metrics-address 127.0.0.1:0`. Containers are made with the
CLI as a user would; timings of the control plane (S6, S7) use the API directly so that the CLI's
Python start-up (a few hundred ms) is not counted as the daemon's work — the CLI time is reported
beside it. Processes run inside a container by the benchmark enter its sandbox by the netns path
the daemon reports (`NetworkSettings.SandboxKey`), never through a pid: a container's `State.Pid`
is its supervisor's shim, which lives in the node's netns.

`stop()` ends what runs in each sandbox (found by the sandbox's netns inode), removes the
containers, then stops the daemon with SIGTERM and waits: the daemon detaches its root-cgroup
hooks on the way out. A daemon that does not exit in time, or hooks left behind, are reported as
problems of the run (`census.LEDGER.problems`), never hidden.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import census
from bench.proc import (
    BenchError,
    del_netns,
    end_pids,
    forget_cleanup,
    in_netns_path,
    in_ns,
    netns_inode,
    on_cleanup,
    pids_in_netns,
    rss_kib,
    sh,
    spawn,
    wait_until,
)
from cli.client import UnixHTTPConnection

REPO = Path(__file__).resolve().parent.parent
HAWSER = REPO / ".venv" / "bin" / "hawser"


def unavailable_reason() -> str | None:
    """Why Hawser cannot be measured, or None when its daemon command exists."""
    if not HAWSER.exists():
        return f"{HAWSER} is missing (pip install -e . not run)"
    if not (REPO / "controller" / "daemon" / "main.py").exists():
        return "controller/daemon/main.py does not exist yet (the daemon is not written)"
    res = subprocess.run(
        [str(HAWSER), "daemon", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode != 0:
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`hawser daemon --help` fails: {last[0][:200]}"
    return None


class HawserNode:
    """One daemon in netns `node` with uplink `uplink`; containers are the daemon's."""

    STOP_TIMEOUT = 30.0

    def __init__(self, node_ns: str, uplink: str, name: str) -> None:
        self.node_ns = node_ns
        self.uplink = uplink
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="t-bench-hawser-"))
        census.LEDGER.state_dirs.add(str(self.dir))
        census.LEDGER.nodes.add(name)
        self.sock = str(self.dir / "hawser.sock")
        logs = Path(__file__).resolve().parent / "results"
        logs.mkdir(exist_ok=True)
        self.log = str(logs / f"daemon-{name}.log")  # kept after the run (gitignored)
        self.proc: subprocess.Popen[bytes] | None = None
        self.containers: list[str] = []
        self._closer = on_cleanup(self.stop)

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
        census.LEDGER.node_started(self.name)
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
        """End sandbox processes, remove containers, SIGTERM the daemon, remove its traces."""
        forget_cleanup(self._closer)
        problems = census.LEDGER.problems
        if self.proc is not None and self.proc.poll() is None:
            for name in list(self.containers):
                try:
                    self.rm(name)
                except (BenchError, OSError) as exc:
                    problems.append(f"{self.name}: removing container {name} failed: {exc}")
            self._stop_daemon(problems)
        elif self.proc is not None:
            problems.append(
                f"{self.name}: the daemon had already exited ({self.proc.returncode}) before "
                f"stop: {self.log_tail()}"
            )
        self.proc = None
        # Hooks still attached that use this node's pinned maps are this daemon's: report them
        # and detach them (nothing else is touched on the shared root cgroup).
        left = census.hooks_of(self.name)
        if left:
            problems.append(
                f"{self.name}: {len(left)} root-cgroup program(s) still attached after the daemon "
                f"stopped: {sorted(int(h['id']) for h in left)} (detached by the bench)"
            )
            for hook in left:
                census.detach(hook)
        for line in sh(["ip", "netns", "list"], check=False).splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(f"hw-{self.name}-"):
                problems.append(f"{self.name}: sandbox netns {ns} left after the daemon stopped")
                del_netns(ns)
        shutil.rmtree(census.BPFFS_HAWSER / self.name, ignore_errors=True)
        with contextlib.suppress(OSError):
            census.BPFFS_HAWSER.rmdir()  # only when no other node uses it
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_daemon(self, problems: list[str]) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append(
                f"{self.name}: THE DAEMON DID NOT EXIT within {self.STOP_TIMEOUT:.0f} s of "
                f"SIGTERM; killed with SIGKILL ({self.log_tail()})"
            )
            print(f"!!! {problems[-1]}", flush=True)
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.returncode not in (0, -signal.SIGTERM):
            problems.append(
                f"{self.name}: the daemon exited {self.proc.returncode} on SIGTERM: "
                f"{self.log_tail()}"
            )

    # -- API and CLI -----------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.sock, timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip() else None)
        finally:
            conn.close()

    def get(self, path: str, timeout: float = 120) -> Any:
        """GET that must answer 200; the decoded body."""
        status, reply = self.api("GET", path, timeout=timeout)
        if status != 200:
            raise BenchError(f"GET {path}: {status} {reply}")
        return reply

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
        """End what runs in the container's sandbox (ours too), then remove it through the API."""
        try:
            path = self.netns_path(name)
        except BenchError:
            path = ""
        inode = netns_inode(path) if path else None
        pids = pids_in_netns(path) if path else []
        status, reply = self.api("DELETE", f"/v1/containers/{name}?force=1")
        if status not in (200, 204, 404):
            raise BenchError(f"rm {name}: {status} {reply}")
        if name in self.containers:
            self.containers.remove(name)
        # What the daemon did not end (helpers a container started, clients we ran inside it):
        # ended by the sandbox's netns identity, so no other process can be hit by pid reuse.
        end_pids([p for p in pids if p != self.pid], inode)

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
        return in_netns_path(self.netns_path(name), *cmd)
