"""Network namespaces without forking: create, enter briefly, remove.

pyroute2's ``netns.create`` and ``NetNS`` fork a helper process each time (~15 ms).
setns(2) and unshare(2) act on the calling thread only, so a short-lived worker thread
can create a namespace, bind-mount it under /run/netns, open a netlink socket inside it
(sockets keep the namespace they were created in) and end, leaving every other thread
where it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute

from controller.errors import InvalidArgument
from controller.kernel.errors import refusal

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name="hawser-netns")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def path(name: str) -> Path:
    return NETNS_DIR / name


def exists(name: str) -> bool:
    """A live netns is mounted at /run/netns/NAME (a daemon killed mid-create can leave the
    bare file behind: that is no sandbox, and create() replaces it)."""
    try:
        return os.stat(path(name)).st_dev == os.stat("/proc/self/ns/net").st_dev  # nsfs
    except FileNotFoundError:
        return False


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


@refusal("create the sandbox netns {name}")
def create(name: str, inside: Callable[[IPRoute], T] | None = None) -> T | None:
    """Create netns ``name`` with lo up, then run ``inside`` with a netlink handle in it.

    Everything happens in one short-lived thread: the handle is only valid there, since
    pyroute2 opens its sockets per thread.
    """
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    target = path(name)
    if target.exists() and not exists(name):
        remove(name)  # the bare file of a create that was killed before its mount
    target.touch(exist_ok=False)

    def work() -> T | None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare")
        own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        _check(_libc.mount(own.encode(), str(target).encode(), None, MS_BIND, None), "mount")
        with IPRoute() as ipr:
            ipr.link("set", index=1, state="up")  # lo is always ifindex 1 in a new netns
            return inside(ipr) if inside is not None else None

    try:
        return _in_thread(work)
    except BaseException:
        remove(name)
        raise


@refusal("enter the sandbox netns {name}")
def run_in(name: str, fn: Callable[[IPRoute], T]) -> T:
    """Run ``fn`` with a netlink handle, in a thread that has entered netns ``name``."""
    fd = os.open(path(name), os.O_RDONLY)

    def work() -> T:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns")
        with IPRoute() as ipr:
            return fn(ipr)

    try:
        return _in_thread(work)
    finally:
        os.close(fd)


@refusal("enter the netns {path}")
def run_in_path(path: str | Path, fn: Callable[[IPRoute], T]) -> T:
    """``run_in`` for a netns that is not Hawser's: any netns file (an engine's bind mount,
    ``/proc/<pid>/ns/net``, one seen through ``/proc/<pid>/root``)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_dev != os.stat("/proc/self/ns/net").st_dev:
            raise OSError(errno.EINVAL, f"{path} is not a network namespace")

        def work() -> T:
            _check(_libc.setns(fd, CLONE_NEWNET), "setns")
            with IPRoute() as ipr:
                return fn(ipr)

        return _in_thread(work)
    finally:
        os.close(fd)


def pids_in(names: list[str]) -> dict[str, list[int]]:
    """The processes whose network namespace is each of these named netns (one /proc scan)."""
    wanted: dict[tuple[int, int], str] = {}
    for name in names:
        try:
            st = os.stat(path(name))
        except OSError:
            continue
        wanted[(st.st_dev, st.st_ino)] = name
    out: dict[str, list[int]] = {name: [] for name in names}
    if not wanted:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        found = wanted.get((st.st_dev, st.st_ino))
        if found is not None:
            out[found].append(int(entry))
    return out


def remove(name: str) -> None:
    target = path(name)
    _libc.umount2(str(target).encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def write_sysctls(name: str, sysctls: dict[str, str]) -> None:
    """Set ``net.*`` sysctls of sandbox ``name`` (/proc/sys/net is the writer's netns's).

    The names were checked (``rules.runopts``); a sysctl the kernel does not have, or a value
    it refuses, is the user's mistake: runc's text (``open /proc/sys/…: no such file or
    directory``), as ``InvalidArgument``.
    """
    fd = os.open(path(name), os.O_RDONLY)

    def work() -> None:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns")
        for key, value in sysctls.items():
            target = "/proc/sys/" + key.replace(".", "/")
            try:
                handle = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise InvalidArgument(f"open {target}: {_reason(exc)}") from None
            try:
                os.write(handle, value.encode())
            except OSError as exc:
                raise InvalidArgument(f"write {target}: {_reason(exc)}") from None
            finally:
                os.close(handle)

    try:
        _in_thread(work)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno or 0).lower() if exc.errno else str(exc)
