"""Container processes: started through the shim (``kernel.shim``), watched, attached to,
signalled, and found again after a daemon restart.

The shim is a small process of its own session that outlives a killed daemon: it holds the
command's stdio (pipes or a terminal), writes its output to ``container.log``, serves
``ctl.sock`` (attach, resize) and records the exit status in ``exit``. The command itself
runs in the sandbox's netns and UTS namespace and in the container's cgroup
(``kernel.cgroups``); its own pid is the container's ``State.Pid``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from controller.errors import InvalidArgument, StartFailed
from controller.kernel import logfile
from controller.kernel.cgroups import ContainerCgroups
from controller.kernel.errors import refusal
from controller.rules.model import Container

log = logging.getLogger(__name__)

SHIM = Path(__file__).with_name("shim.py")
SHIM_MARK = "hawser-shim"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Output can hold secrets: the folder and its files are root's only.
DIR_MODE = 0o700
FILE_MODE = 0o600
#: How long the shim may take to say the command started (or why it could not).
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class ProcessSpec:
    netns: str  # "" = the daemon's own netns (host mode)
    hostname: str
    env: list[str]
    cmd: list[str]
    tty: bool = False
    stdin: bool = False
    size: tuple[int, int] | None = None  # the terminal's rows and columns
    cwd: str = ""
    user: str = ""
    own_hostname: bool = True  # False in host mode: the node's name stays


@dataclass
class Started:
    pid: int  # the command's
    shim_pid: int


def base_env(spec: ProcessSpec) -> list[str]:
    """Docker's environment of a container process: PATH, HOSTNAME, HOME (root's ``/root``;
    the exec step sets a ``-u`` user's), then the links', the container's and the call's."""
    home = [] if spec.user else ["HOME=/root"]
    return [f"PATH={DEFAULT_PATH}", f"HOSTNAME={spec.hostname}", *home, *spec.env]


def exec_spec(spec: ProcessSpec, cgroup: Path | None) -> dict[str, Any]:
    """What the exec step (``shim.exec_step``) reads."""
    return {
        "argv": list(spec.cmd),
        "netns": spec.netns or None,  # entered by the exec step itself (shim.enter_sandbox)
        "env": base_env(spec),
        "hostname": spec.hostname if spec.netns and spec.own_hostname else None,
        "cgroup": str(cgroup) if cgroup else None,
        "cwd": spec.cwd or None,
        "user": spec.user or None,
    }


def shim_argv(*args: str) -> list[str]:
    return [sys.executable, "-I", "-S", str(SHIM), *args]


def _started_or_failed(answer: dict[str, Any], what: str) -> int:
    if "pid" in answer:
        return int(answer["pid"])
    message = str(answer.get("error") or f"cannot start {what}")
    raise StartFailed(message, int(answer.get("code", 126)))


@dataclass
class ExecProcess:
    """A process started by ``exec`` (not through a shim: it lives as long as its client)."""

    popen: subprocess.Popen[bytes]
    master: int = -1  # the terminal's master side, when it has one
    streams: dict[int, str] = field(default_factory=dict)  # output fd → stream name
    stdin: int = -1  # where input goes (master or pipe)


class Supervisor:
    def __init__(
        self, root: Path, cgroups: ContainerCgroups, on_exit: Callable[[str, int, int], None]
    ) -> None:
        self._root = root
        self.cgroups = cgroups
        self._on_exit = on_exit
        self._held: set[str] = set()  # output folders an attached client still reads
        self._shims: dict[str, int] = {}  # container id → pid of its live shim
        self._lock = threading.Lock()

    def folder(self, ctr_id: str) -> Path:
        return self._root / ctr_id

    def _dir(self, ctr_id: str) -> Path:
        self._root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self._root, DIR_MODE)
        path = self._root / ctr_id
        path.mkdir(mode=DIR_MODE, exist_ok=True)
        return path

    # starting ------------------------------------------------------------------------------
    @refusal("start the process of container {ctr_id}")
    def start(self, ctr_id: str, spec: ProcessSpec, hold: bool = False) -> Started:
        """Start the command through a new shim; its pid once it runs in the sandbox.

        ``hold``: the output waits for the first attached client (an attached start), so
        nothing printed before it connects is missed. Raises ``StartFailed`` with Docker's
        text when the command cannot be started (not found, not executable).
        """
        if any("\0" in item for item in (*spec.cmd, *spec.env, spec.cwd, spec.user)):
            raise InvalidArgument("invalid argument: embedded null byte in the command or its env")
        folder = self._dir(ctr_id)
        (folder / "exit").unlink(missing_ok=True)
        try:
            cgroup = self.cgroups.create(ctr_id)
            payload = json.dumps(
                {
                    "tty": spec.tty,
                    "stdin": spec.stdin,
                    "size": list(spec.size) if spec.size else None,
                    "hold": hold,
                    "exec": exec_spec(spec, cgroup),
                }
            ).encode()
            with (folder / "shim.log").open("ab") as errors:
                os.chmod(folder / "shim.log", FILE_MODE)
                proc = subprocess.Popen(
                    shim_argv(SHIM_MARK, str(folder)),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    start_new_session=True,
                    env={"PATH": DEFAULT_PATH},
                )
        except BaseException:
            if not self.cgroups.pids(ctr_id):
                self.cgroups.remove(ctr_id)
            self.forget(ctr_id)  # a failed start leaves no empty folder behind
            raise
        assert proc.stdin is not None and proc.stdout is not None
        with self._lock:
            self._shims[ctr_id] = proc.pid
        threading.Thread(target=self._reap, args=(ctr_id, proc), daemon=True).start()
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
            answer = _read_answer(proc.stdout, START_TIMEOUT)
        finally:
            proc.stdout.close()
        if not answer:
            proc.kill()
            raise StartFailed("the container's shim did not start (see shim.log)", 126)
        return Started(_started_or_failed(answer, spec.cmd[0]), proc.pid)

    def _reap(self, ctr_id: str, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self._ended(ctr_id, proc.pid)

    def _ended(self, ctr_id: str, shim_pid: int) -> None:
        with self._lock:
            if self._shims.get(ctr_id) == shim_pid:
                del self._shims[ctr_id]
        self._on_exit(ctr_id, shim_pid, self.exit_code(ctr_id))

    def exit_code(self, ctr_id: str) -> int:
        try:
            return int((self._root / ctr_id / "exit").read_text().strip() or "-1")
        except (OSError, ValueError):
            return 137  # killed before the shim could record a status

    def adopt(self, ctr_id: str, shim_pid: int) -> bool:
        """After a restart: watch a shim we did not spawn (not our child: no waitpid, but a
        pidfd turns readable when it ends). False if it is gone."""
        try:
            fd = os.pidfd_open(shim_pid)
        except (ProcessLookupError, ValueError, OSError):
            return False
        if not pid_alive(shim_pid):  # a zombie left by our predecessor: as good as gone
            os.close(fd)
            return False
        with self._lock:
            self._shims[ctr_id] = shim_pid

        def watch() -> None:
            try:
                select.select([fd], [], [])
            finally:
                os.close(fd)
            self._ended(ctr_id, shim_pid)

        threading.Thread(target=watch, daemon=True).start()
        return True

    def active(self, ctr_id: str) -> bool:
        """Whether the container's shim still runs (its last output may still be coming)."""
        with self._lock:
            return ctr_id in self._shims

    # signals -------------------------------------------------------------------------------
    def signal(self, pid: int, signum: int) -> None:
        """``signum`` to the container's command (its own pid; the shim keeps watching)."""
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill_all(self, ctr_id: str) -> None:
        """SIGKILL every process of the container (its command, what it forked, its execs)
        and wait until they are gone."""
        self.cgroups.kill(ctr_id)

    # attaching -----------------------------------------------------------------------------
    def _connect(self, ctr_id: str, hello: dict[str, Any]) -> socket.socket:
        folder = self._root / ctr_id
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dir_fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # through the folder's fd: socket paths are limited to 107 bytes
            sock.connect(f"/proc/self/fd/{dir_fd}/ctl.sock")
            sock.sendall(json.dumps(hello).encode() + b"\n")
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(dir_fd)
        return sock

    @refusal("attach to container {ctr_id}")
    def attach(self, ctr_id: str, stdin: bool) -> socket.socket:
        """A stream of the running command's output (raw with a terminal, else multiplexed)
        that takes its input when ``stdin``."""
        return self._connect(ctr_id, {"attach": {"stdin": stdin}})

    @refusal("resize the terminal of container {ctr_id}")
    def resize(self, ctr_id: str, rows: int, cols: int) -> None:
        with contextlib.closing(self._connect(ctr_id, {"resize": [rows, cols]})) as sock:
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                sock.recv(1)  # the shim closes once done

    # exec ----------------------------------------------------------------------------------
    @refusal("start an exec process in container {ctr_id}")
    def exec_process(self, ctr_id: str, spec: ProcessSpec, detach: bool = False) -> ExecProcess:
        """Start ``spec.cmd`` in the container's sandbox and cgroup, with a terminal, pipes,
        or (``detach``) nothing; raises ``StartFailed`` when it cannot start."""
        cgroup = self.cgroups.create(ctr_id)  # a sandbox without a command has none yet
        spec_r, spec_w = os.pipe()
        err_r, err_w = os.pipe()
        kept: list[int] = []
        child: list[int] = []
        body = exec_spec(spec, cgroup)
        # opened here: inside, the exec step mounts a /sys of the netns's own
        procs = os.open(cgroup / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        body["cgroup_fd"] = procs
        child.append(procs)
        result = ExecProcess(popen=None)  # type: ignore[arg-type]
        try:
            if detach:
                stdio: list[Any] = [subprocess.DEVNULL] * 3
            elif spec.tty:
                master, slave = os.openpty()
                set_winsize(slave, spec.size or (24, 80))
                result.master, result.stdin = master, master
                result.streams[master] = "stdout"
                kept.append(master)
                child.append(slave)
                stdio = [slave, slave, slave]
            else:
                out_r, out_w = os.pipe()
                err_out_r, err_out_w = os.pipe()
                result.streams = {out_r: "stdout", err_out_r: "stderr"}
                kept += [out_r, err_out_r]
                child += [out_w, err_out_w]
                in_stream: Any = subprocess.DEVNULL
                if spec.stdin:
                    in_r, in_w = os.pipe()
                    result.stdin = in_w
                    kept.append(in_w)
                    child.append(in_r)
                    in_stream = in_r
                stdio = [in_stream, out_w, err_out_w]
            argv = shim_argv("hawser-exec", str(spec_r), str(err_w))
            result.popen = subprocess.Popen(
                argv,
                stdin=stdio[0],
                stdout=stdio[1],
                stderr=stdio[2],
                pass_fds=(spec_r, err_w, procs),
                start_new_session=True,
                env={"PATH": DEFAULT_PATH},
            )
        except BaseException:
            for fd in kept:
                os.close(fd)
            raise
        finally:
            for fd in (*child, spec_r, err_w):
                os.close(fd)
        with contextlib.suppress(BrokenPipeError):
            os.write(spec_w, json.dumps(body).encode())
        os.close(spec_w)
        with os.fdopen(err_r, "rb") as errors:
            answer = errors.read()
        if answer:
            result.popen.wait()
            for fd in kept:
                os.close(fd)
            failure = json.loads(answer)
            raise StartFailed(str(failure.get("error")), int(failure.get("code", 126)))
        return result

    # shims and folders ---------------------------------------------------------------------
    def shims(self) -> dict[int, str]:
        """pid → container id of every live shim started for this supervisor's folder
        (``python3 -I -S shim.py hawser-shim <folder>``); they outlive a killed daemon."""
        out: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if SHIM_MARK.encode() not in argv[:6]:
                continue
            at = argv.index(SHIM_MARK.encode())
            if at + 1 >= len(argv):
                continue
            folder = Path(argv[at + 1].decode(errors="replace"))
            if folder.parent == self._root:
                out[int(entry)] = folder.name
        return out

    def kill_shim(self, shim_pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(shim_pid, signal.SIGKILL)

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
        self, ctr_id: str, query: logfile.LogQuery, running: Callable[[], bool]
    ) -> Iterator[dict[str, str]]:
        return logfile.read(self._root / ctr_id, query, running)

    def log_size(self, ctr_id: str) -> int:
        return logfile.size(self._root / ctr_id)


def _read_answer(stream: IO[bytes], timeout: float) -> dict[str, Any]:
    """The shim's one JSON line, or {} when it ends (or stays silent) without one."""
    fd = stream.fileno()
    data = b""
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return {}
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        answer = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def exit_status(returncode: int) -> int:
    """A Popen return code as a shell reports it: 128+N for signal N."""
    return 128 - returncode if returncode < 0 else returncode


def set_winsize(fd: int, size: tuple[int, int]) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))


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


def run_streaming(proc: ExecProcess) -> Iterator[dict[str, object]]:
    """The frames of an exec without input: {"stream","data"} as output arrives, then
    {"exit": code}."""
    open_fds = set(proc.streams)
    try:
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], 1.0)
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.discard(fd)
                    continue
                yield {"stream": proc.streams[fd], "data": data.decode(errors="replace")}
        yield {"exit": exit_status(proc.popen.wait())}
    finally:
        for fd in proc.streams:
            with contextlib.suppress(OSError):
                os.close(fd)
        if proc.stdin >= 0 and proc.stdin not in proc.streams:
            with contextlib.suppress(OSError):
                os.close(proc.stdin)
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()
