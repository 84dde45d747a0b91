"""One cgroup (v2) per container: which processes are the container's, and ending all of them.

A container's processes — its command, whatever that forks, double-forks or daemonizes, and
every ``exec`` — are in ``<cgroup root>/hawser/<node>/<container id>``; ``cgroup.kill``
ends them at once, as the end of a pid namespace does under Docker. The folder sits under
the cgroup the socket hooks attach to (the daemon's ``--cgroup-path``), so programs attached
there apply to the container's sockets too (cgroup BPF programs are inherited).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import time
from pathlib import Path

from controller.kernel.errors import refusal

log = logging.getLogger(__name__)


class ContainerCgroups:
    def __init__(self, base: Path) -> None:
        self.base = base  # <cgroup root>/hawser/<node>

    def path(self, ctr_id: str) -> Path:
        return self.base / ctr_id

    @refusal("create the cgroup of container {ctr_id}")
    def create(self, ctr_id: str) -> Path:
        path = self.path(ctr_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pids(self, ctr_id: str) -> list[int]:
        try:
            text = (self.path(ctr_id) / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def populated(self, ctr_id: str) -> bool:
        try:
            events = (self.path(ctr_id) / "cgroup.events").read_text()
        except OSError:
            return False
        return "populated 1" in events.splitlines()

    @refusal("end the processes of container {ctr_id}")
    def kill(self, ctr_id: str, timeout: float = 5.0) -> None:
        """SIGKILL every process of the container and wait until they are gone."""
        path = self.path(ctr_id)
        if not path.is_dir():
            return
        (path / "cgroup.kill").write_text("1")
        self.wait_empty(ctr_id, timeout)

    def wait_empty(self, ctr_id: str, timeout: float) -> bool:
        """Until no process is left (``cgroup.events`` turns ``populated 0``; the kernel
        signals each change with POLLPRI)."""
        events = self.path(ctr_id) / "cgroup.events"
        deadline = time.monotonic() + timeout
        try:
            fd = os.open(events, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            while True:
                os.lseek(fd, 0, os.SEEK_SET)
                if b"populated 0" in os.read(fd, 4096).splitlines():
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(left * 1000)
        finally:
            os.close(fd)

    def remove(self, ctr_id: str) -> None:
        """Kill what is left and delete the folder (a missing one is fine)."""
        path = self.path(ctr_id)
        if not path.is_dir():
            return
        with contextlib.suppress(OSError):
            self.kill(ctr_id)
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            log.warning("cgroup of container %s still busy; left at %s", ctr_id[:12], path)

    def ids(self) -> list[str]:
        """Containers that have a cgroup folder (for the orphan sweep)."""
        try:
            return [p.name for p in self.base.iterdir() if p.is_dir()]
        except FileNotFoundError:
            return []

    def remove_base(self) -> None:
        """The node's folder and ``hawser/`` when they hold nothing more."""
        for folder in (self.base, self.base.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()
