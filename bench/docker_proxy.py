"""Debian's docker-proxy, unpacked from the docker.io package without installing it.

`apt-get download docker.io` + `dpkg-deb -x` into bench/.cache/docker/ — installing docker.io
would start dockerd and program the root netns, which the benchmark must never touch.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.build import CACHE
from bench.proc import BenchError, sh, track
from testbed.netns import enter
from testbed.procs import Proc

DOCKER_DIR = CACHE / "docker"
BINARY = DOCKER_DIR / "x" / "usr" / "sbin" / "docker-proxy"


def binary() -> Path:
    """Path of docker-proxy, downloading and unpacking docker.io's .deb the first time."""
    if BINARY.exists():
        return BINARY
    DOCKER_DIR.mkdir(parents=True, exist_ok=True)
    debs = sorted(DOCKER_DIR.glob("docker.io_*.deb"))
    if not debs:
        subprocess.run(
            ["apt-get", "download", "docker.io"],
            cwd=DOCKER_DIR,
            check=False,
            capture_output=True,
            timeout=300,
        )
        debs = sorted(DOCKER_DIR.glob("docker.io_*.deb"))
        if not debs:
            raise BenchError("apt-get download docker.io failed (is apt reachable?)")
    sh(["dpkg-deb", "-x", str(debs[-1]), str(DOCKER_DIR / "x")])
    if not BINARY.exists():
        raise BenchError(f"{debs[-1].name} has no usr/sbin/docker-proxy")
    return BINARY


def launch(
    ns: str,
    proto: str,
    host_port: int,
    container_ip: str,
    container_port: int,
    host_ip: str = "0.0.0.0",
) -> tuple[Proc, int]:
    """Start one docker-proxy in netns `ns`; return it and the read end of its fd-3 pipe."""
    rfd, wfd = os.pipe()
    cmd = enter(
        ns,
        str(binary()),
        "-proto",
        proto,
        "-host-ip",
        host_ip,
        "-host-port",
        str(host_port),
        "-container-ip",
        container_ip,
        "-container-port",
        str(container_port),
    )

    def fd3() -> None:  # docker-proxy writes "0\n" (ready) or "1\n<error>" to fd 3
        os.dup2(wfd, 3)

    p = track(Proc(cmd, pass_fds=(wfd, 3), preexec_fn=fd3))
    os.close(wfd)
    return p, rfd


def wait_ready(rfd: int, what: str, timeout: float = 10) -> None:
    """Read docker-proxy's readiness report from its pipe (closes the pipe)."""
    deadline = time.monotonic() + timeout
    data = b""
    with os.fdopen(rfd, "rb", buffering=0) as reader:
        while b"\n" not in data and time.monotonic() < deadline:
            chunk = reader.read(64)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"0\n"):
        raise BenchError(f"docker-proxy {what} failed: {data.decode(errors='replace')!r}")


def start(ns: str, proto: str, host_port: int, container_ip: str, container_port: int) -> Proc:
    """Start one docker-proxy and wait until it is listening, as dockerd does."""
    p, rfd = launch(ns, proto, host_port, container_ip, container_port)
    wait_ready(rfd, f"{proto}/{host_port}")
    return p
