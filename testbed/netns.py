"""Network namespaces and the links between them, made with iproute2.

A netns is named by its name under /run/netns (or given as a path, e.g. a container's
SandboxKey). Links are created directly inside their namespaces (``ip -n``), never in the
root netns, not even for a moment. ``delete`` first ends what still runs in the namespace.
``call_in`` runs Python code in a namespace from a short-lived thread (setns affects only
that thread), so a test can open sockets there without a child process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from testbed.shell import sh
from testbed.wait import until

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
ETHTOOL = shutil.which("ethtool") or next(
    (p for p in ("/usr/sbin/ethtool", "/sbin/ethtool") if os.path.exists(p)), "ethtool"
)


def path(ns: str) -> str:
    """The bind-mount path of netns ``ns`` (a name, or already a path)."""
    return ns if ns.startswith("/") else f"/run/netns/{ns}"


def enter(ns: str, *cmd: str) -> list[str]:
    """argv running ``cmd`` in netns ``ns`` (name or path) with ``nsenter --net``: only the
    network namespace changes, so /sys/fs/bpf and the mount namespace stay."""
    return ["nsenter", f"--net={path(ns)}", "--", *cmd]


def netns_exec(ns: str, *cmd: str) -> list[str]:
    """argv running ``cmd`` in named netns ``ns`` with ``ip netns exec``: /sys remounted for
    the netns and /etc/netns/<ns>/ files bound, as a container's processes see them."""
    return ["ip", "netns", "exec", ns, *cmd]


def ip(
    ns: str,
    *args: str,
    check: bool = True,
    input: str | None = None,  # noqa: A002
) -> subprocess.CompletedProcess[str]:
    return sh("ip", "-n", ns, *args, check=check, input=input)


def add(name: str) -> str:
    """Create netns ``name`` with ``lo`` up."""
    sh("ip", "netns", "add", name)
    ip(name, "link", "set", "lo", "up")
    return name


def names() -> list[str]:
    """The named netns of the machine (``ip netns list``)."""
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()]


def delete(name: str, grace: float = 0.0) -> list[int]:
    """End the processes in ``name`` (SIGTERM and ``grace`` seconds first when grace > 0,
    else SIGKILL at once), then delete it. Returns the pids that had to be killed."""
    where = path(name)
    killed = end_processes(pids_in(where), inode(where), grace)
    if os.path.exists(where):
        sh("ip", "netns", "del", name, check=False)
    return killed


def veth(ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
    """A veth pair: ``name_a`` in ``ns_a``, its peer ``name_b`` in ``ns_b``."""
    ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)


def up(ns: str, dev: str, cidr: str | None = None) -> None:
    if cidr:
        ip(ns, "addr", "add", cidr, "dev", dev)
    ip(ns, "link", "set", dev, "up")


def bridge(ns: str, name: str, cidr: str | None = None) -> None:
    ip(ns, "link", "add", name, "type", "bridge")
    up(ns, name, cidr)


def add_addresses(ns: str, dev: str, cidrs: Iterable[str]) -> None:
    """Many addresses on ``dev`` with one ``ip -batch``."""
    lines = [f"addr add {cidr} dev {dev}" for cidr in cidrs]
    if lines:
        ip(ns, "-batch", "-", input="\n".join(lines) + "\n")


def sysctl(ns: str, key: str, value: str) -> None:
    """Set a sysctl inside ``ns`` (never the root netns)."""
    sh("nsenter", f"--net={path(ns)}", "--", "sysctl", "-q", "-w", f"{key}={value}")


def offload(ns: str, dev: str, *, tx: bool) -> None:
    """Checksum offload (``ethtool -K DEV tx on|off``) of ``dev`` in ``ns``."""
    sh(*netns_exec(ns, ETHTOOL, "-K", dev, "tx", "on" if tx else "off"))


def link(ns: str, dev: str) -> dict[str, Any]:
    return dict(json.loads(ip(ns, "-j", "link", "show", dev).stdout)[0])


def ifindex(ns: str, dev: str) -> int:
    return int(link(ns, dev)["ifindex"])


def mac(ns: str, dev: str) -> str:
    return str(link(ns, dev)["address"])


def links(ns: str) -> dict[str, int]:
    """ifname -> ifindex of every link in ``ns``."""
    return {str(x["ifname"]): int(x["ifindex"]) for x in json.loads(ip(ns, "-j", "link").stdout)}


def call_in(ns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread that entered netns ``ns``; the sockets it opens live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            fd = os.open(path(ns), os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {ns}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def socket_in(ns: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """An IPv4 socket created inside ``ns`` (the caller's own netns is untouched)."""
    return call_in(ns, lambda: socket.socket(socket.AF_INET, kind))


# processes -------------------------------------------------------------------------------
def inode(netns_path: str) -> int | None:
    try:
        return os.stat(netns_path).st_ino
    except OSError:
        return None


def pids_in(netns_path: str) -> list[int]:
    """Pids whose network namespace is the one bound at ``netns_path`` (none if it is gone)."""
    target = inode(netns_path)
    if target is None:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and inode(f"/proc/{entry}/ns/net") == target:
            found.append(int(entry))
    return [p for p in found if p != os.getpid()]


def end_processes(pids: Sequence[int], netns_inode: int | None, grace: float = 0.0) -> list[int]:
    """End ``pids`` that are still in the netns ``netns_inode`` (so a reused pid elsewhere is
    never hit): SIGTERM and up to ``grace`` seconds when grace > 0, then SIGKILL. Returns the
    pids that needed SIGKILL."""

    def alive() -> list[int]:
        if netns_inode is None:
            return []
        return [p for p in pids if inode(f"/proc/{p}/ns/net") == netns_inode]

    if grace > 0:
        for pid in alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        until(lambda: not alive(), grace)
    killed = alive()
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed
