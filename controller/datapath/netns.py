"""Network-namespace cookies (what the sock hooks compare against)."""

from __future__ import annotations

import ctypes
import os
import socket
import threading

SO_NETNS_COOKIE = 71
CLONE_NEWNET = 0x40000000


def current_cookie() -> int:
    """Cookie of the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")


def cookie_of(netns_path: str) -> int:
    """Cookie of the namespace at netns_path (e.g. /run/netns/NAME).

    setns() affects only the calling thread, so a short-lived thread enters
    the namespace and the caller's own namespace is never touched."""
    libc = ctypes.CDLL(None, use_errno=True)
    result: dict[str, int | BaseException] = {}

    def run() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns_path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["cookie"] = current_cookie()
        except BaseException as e:  # reported in the caller
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return int(result["cookie"])  # type: ignore[arg-type]
