"""Container processes: start in the sandbox, supervise, keep their output, survive restarts.

Each process runs under a tiny ``sh`` shim in its own session, so it outlives a killed
daemon; the shim records the exit status in a file, which a restarted daemon reads back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.kernel.errors import refusal
from controller.rules.model import Container

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The process keeps the daemon's umask; the exit file is written 0600 after it has ended.
_SHIM = (
    '"$@" >>"$HAWSER_OUT" 2>>"$HAWSER_ERR" </dev/null; rc=$?; umask 077; echo $rc >"$HAWSER_EXIT"'
)
#: Output can hold secrets: the folder and its files are root's only.
DIR_MODE = 0o700
FILE_MODE = 0o600
_SET_HOSTNAME = 'hostname "$0" 2>/dev/null; exec "$@"'


@dataclass(frozen=True)
class ProcessSpec:
    netns: str  # "" = the daemon's own netns (host mode)
    hostname: str
    env: list[str]
    cmd: list[str]


def command_line(spec: ProcessSpec) -> list[str]:
    """argv that runs spec.cmd in its sandbox with a clean environment and its hostname."""
    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={spec.hostname}", "HOME=/", *spec.env]
    inner = ["env", "-i", *env, *spec.cmd]
    if not spec.netns:
        return inner
    return [
        "ip", "netns", "exec", spec.netns,
        "unshare", "--uts", "--", "sh", "-c", _SET_HOSTNAME, spec.hostname, *inner,
    ]  # fmt: skip


class Supervisor:
    def __init__(self, root: Path, on_exit: Callable[[str, int], None]) -> None:
        self._root = root
        self._on_exit = on_exit
        self._held: set[str] = set()  # output folders an attached client still reads
        self._lock = threading.Lock()

    def _dir(self, ctr_id: str) -> Path:
        self._root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self._root, DIR_MODE)
        path = self._root / ctr_id
        path.mkdir(mode=DIR_MODE, exist_ok=True)
        for name in ("stdout.log", "stderr.log"):  # the shim appends to them
            os.close(os.open(path / name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, FILE_MODE))
        return path

    @refusal("start the process of container {ctr_id}")
    def start(self, ctr_id: str, spec: ProcessSpec) -> int:
        folder = self._dir(ctr_id)
        (folder / "exit").unlink(missing_ok=True)
        env = {
            "PATH": DEFAULT_PATH,
            "HAWSER_OUT": str(folder / "stdout.log"),
            "HAWSER_ERR": str(folder / "stderr.log"),
            "HAWSER_EXIT": str(folder / "exit"),
        }
        try:
            proc = subprocess.Popen(
                ["sh", "-c", _SHIM, "hawser-shim", *command_line(spec)],
                env=env,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            self.forget(ctr_id)  # a failed start leaves no empty folder behind
            raise
        threading.Thread(target=self._reap, args=(ctr_id, proc), daemon=True).start()
        return proc.pid

    def _reap(self, ctr_id: str, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self._report(ctr_id)

    def _report(self, ctr_id: str) -> None:
        self._on_exit(ctr_id, self.exit_code(ctr_id))

    def exit_code(self, ctr_id: str) -> int:
        try:
            return int((self._root / ctr_id / "exit").read_text().strip() or "-1")
        except (OSError, ValueError):
            return 137  # killed before the shim could record a status

    def adopt(self, ctr_id: str, pid: int) -> bool:
        """After a restart: watch a process we did not spawn (not our child: no waitpid, but a
        pidfd turns readable when it ends). False if it is gone."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        if not pid_alive(pid):  # a zombie left by our predecessor: as good as gone
            os.close(fd)
            return False

        def watch() -> None:
            try:
                select.select([fd], [], [])
            finally:
                os.close(fd)
            self._report(ctr_id)

        threading.Thread(target=watch, daemon=True).start()
        return True

    def kill(self, pid: int) -> None:
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def signal(self, pid: int, signum: int) -> None:
        """Deliver signum to the container's process (the shim's child), not to the shim.

        The shim must survive to record the exit status; the command reaches its place
        through exec alone (ip netns exec, unshare, sh, env), so it is the shim's only child.
        """
        if signum == signal.SIGKILL:
            self.kill(pid)
            return
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signum)

    def shims(self) -> dict[int, str]:
        """pid → container id of every live shim started for this supervisor's folder.

        A shim is ``sh -c SHIM hawser-shim …`` whose HAWSER_EXIT names a file in a
        container folder under our root; it outlives a killed daemon.
        """
        out: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if argv[:4] != [b"sh", b"-c", _SHIM.encode(), b"hawser-shim"]:
                    continue
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in environ:
                if item.startswith(b"HAWSER_EXIT="):
                    exit_file = Path(item.partition(b"=")[2].decode(errors="replace"))
                    if exit_file.parent.parent == self._root:
                        out[int(entry)] = exit_file.parent.name
        return out

    def folders(self) -> list[str]:
        """Container ids that have an output folder, except ones an attached reader holds."""
        try:
            names = [p.name for p in self._root.iterdir() if p.is_dir()]
        except FileNotFoundError:
            return []
        with self._lock:
            return [n for n in names if n not in self._held]

    def hold(self, ctr_id: str) -> None:
        with self._lock:
            self._held.add(ctr_id)

    def release(self, ctr_id: str) -> None:
        with self._lock:
            self._held.discard(ctr_id)

    def forget(self, ctr_id: str) -> None:
        with self._lock:
            if ctr_id in self._held:
                return  # the attached reader removes it when done
        folder = self._root / ctr_id
        for child in folder.glob("*"):
            child.unlink(missing_ok=True)
        if folder.exists():
            folder.rmdir()

    def logs(
        self, ctr_id: str, follow: bool, running: Callable[[], bool]
    ) -> Iterator[tuple[str, str]]:
        """(stream, text) chunks of the saved output; with follow, until the process ends."""
        folder = self._root / ctr_id
        offsets = {"stdout": 0, "stderr": 0}
        while True:
            alive = running()
            for stream in ("stdout", "stderr"):
                path = folder / f"{stream}.log"
                try:
                    with path.open("rb") as handle:
                        handle.seek(offsets[stream])
                        data = handle.read()
                except FileNotFoundError:
                    continue
                if data:
                    offsets[stream] += len(data)
                    yield stream, data.decode(errors="replace")
            if not follow or not alive:
                return
            time.sleep(0.05)


def is_running(ctr: Container) -> bool:
    """Docker's ``State.Running``: started, and its command (if it has one) still alive."""
    return ctr.status == "running" and (not ctr.cmd or pid_alive(ctr.pid))


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def run_streaming(argv: list[str]) -> Iterator[dict[str, object]]:
    """Run argv, yielding {"stream","data"} frames as output arrives, then {"exit": code}."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
    open_fds = set(streams)
    try:
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], 1.0)
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.discard(fd)
                    continue
                yield {"stream": streams[fd], "data": data.decode(errors="replace")}
        yield {"exit": proc.wait()}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
