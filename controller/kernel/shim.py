"""The container's shim: one small process per running container, and the in-sandbox exec step.

Run as a script with the standard library only (``python3 -I -S shim.py …``), it never
imports the daemon: the daemon may die, restart or be upgraded while it runs.

``hawser-shim FOLDER`` (supervise) — started by the daemon in a session of its own, with the
spec as JSON on stdin. It creates the process's stdio (pipes, or a pseudo-terminal), forks,
and the child runs the exec step below in-process (no second interpreter, no helper
binaries), and answers one JSON line on stdout:
``{"pid": N}`` (the command's own pid, in the sandbox) or ``{"error": TEXT, "code": N}``.
Then, until the command exits, it appends the output to ``container.log`` (one JSON record
per line or partial line: ``{"log", "stream", "time"}``, Docker's json-file shape), relays
it to attached clients of ``ctl.sock`` and their input to the process, resizes the terminal.
When the command exits, every process left in the container's cgroup is killed (nothing
outlives the container, as with a pid namespace), the output is drained, and the status is
written to ``exit`` (128+N for a signal, like a shell).

``hawser-exec`` (exec step) — the last step before the command (also run by ``exec``, as a
script): reads its spec from fd 3, enters the sandbox as ``ip netns exec NS unshare --uts``
would (the netns; a mount namespace with the netns's own /sys and the sandbox's /etc files
bound over the node's; a UTS namespace), sets the hostname, joins the cgroup, takes
the terminal, changes directory and user, finds the executable in ``$PATH`` as Go's
``exec.LookPath`` does, and execs it (its pid stays the one the shim reports). A failure is
one JSON line on fd 4 (``{"error", "code"}``: 127 not found, 126 not executable) and that
exit status; success closes fd 4 (close-on-exec).

ctl.sock speaks one JSON line first: ``{"attach": {"stdin": bool}}`` — then the connection is
the stream: raw bytes with a terminal, else Docker's multiplexed frames (8-byte header:
stream 1/2, three zero bytes, big-endian length) towards the client; raw input from it (its
half-close ends the input when the process has no terminal) — or ``{"resize": [rows, cols]}``.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import stat
import struct
import sys
import termios
import time

TYPE_CHECKING = False  # not typing's: importing typing would cost every start ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

EXIT_FILE = "exit"
LOG_FILE = "container.log"
CTL_SOCKET = "ctl.sock"
SPEC_FD, ERROR_FD, CGROUP_FD = 3, 4, 5
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READ_SIZE = 65536
CLIENT_BUFFER_MAX = 8 << 20  # a client that reads nothing for this long is dropped
DRAIN_SECONDS = 2.0  # output still arriving once every process of the container is dead
HOLD_SECONDS = 5.0  # how long the output of an attached start waits for its client
#: Signals the shim ignores or Python sets aside; the command gets them back at default.
_RESET_SIGNALS = (
    signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ
)  # fmt: skip


class StartError(Exception):
    """The command cannot be started: Docker's text, and the exit status it gets."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# the exec step --------------------------------------------------------------------------
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET = 0x00020000, 0x04000000, 0x40000000
MS_RDONLY, MS_BIND, MS_REC, MS_SLAVE = 0x1, 0x1000, 0x4000, 0x80000
MNT_DETACH = 0x2


def enter_sandbox(netns: str) -> None:
    """Join the sandbox's netns, then new mount and UTS namespaces: mounts stay private (made
    slaves of the node's), /sys shows the netns's devices, each file of /etc/netns/NS is bound
    over /etc's (resolv.conf, hosts, hostname) — what ``ip netns exec`` and ``unshare --uts``
    do, without running them."""
    import ctypes  # only here: the supervising shim never needs it

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    fd = os.open(os.path.join("/run/netns", netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.setns(fd, CLONE_NEWNET), f"setting the network namespace {netns}")
    finally:
        os.close(fd)
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    check(libc.mount(b"", b"/", b"none", MS_SLAVE | MS_REC, None), "making / a slave mount")
    flags = MS_RDONLY if os.statvfs("/sys").f_flag & os.ST_RDONLY else 0
    if libc.umount2(b"/sys", MNT_DETACH) == 0:
        check(libc.mount(netns.encode(), b"/sys", b"sysfs", flags, None), "mounting /sys")
    etc = os.path.join("/etc/netns", netns)
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(etc)):
            source, target = os.path.join(etc, name), os.path.join("/etc", name)
            if os.path.exists(target):
                check(libc.mount(source.encode(), target.encode(), b"none", MS_BIND, None),
                      f"binding {source}")  # fmt: skip


def _executable(path: str) -> OSError | None:
    """Go's ``findExecutable``: None when ``path`` is a file someone may execute."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc
    if stat.S_ISDIR(st.st_mode):
        return IsADirectoryError(errno.EISDIR, "is a directory")
    if st.st_mode & 0o111 == 0:
        return PermissionError(errno.EACCES, "permission denied")
    return None


def _why(exc: OSError, path: str) -> str:
    if isinstance(exc, IsADirectoryError | PermissionError) and exc.filename is None:
        return str(exc.strerror)
    return f"stat {path}: {os.strerror(exc.errno or errno.ENOENT).lower()}"


def look_path(name: str, path_env: str | None) -> str:
    """Go's ``exec.LookPath``: a name with a ``/`` as is, else the first executable in PATH.

    Raises ``StartError`` with runc's text: ``exec: "x": executable file not found in $PATH``
    (127), ``exec: "/x": stat /x: no such file or directory`` (127), ``exec: "/tmp": is a
    directory`` or ``permission denied`` (126).
    """
    quoted = json.dumps(name, ensure_ascii=False)
    if "/" in name:
        problem = _executable(name)
        if problem is None:
            return name
        code = 127 if isinstance(problem, FileNotFoundError | NotADirectoryError) else 126
        return _raise(f"exec: {quoted}: {_why(problem, name)}", code)
    for folder in path_env.split(":") if path_env else []:
        candidate = os.path.join(folder or ".", name)
        if name and _executable(candidate) is None:
            return candidate
    return _raise(f"exec: {quoted}: executable file not found in $PATH", 127)


def _raise(message: str, code: int) -> str:
    raise StartError(message, code)


def resolve_user(spec: str) -> tuple[int, int, list[int], str]:
    """``USER[:GROUP]`` (names or ids) → uid, gid, supplementary groups, home (runc's rules:
    an id with no passwd entry is taken as is, with group 0 and home ``/``)."""
    import grp
    import pwd

    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        uid, gid, home, name = entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_name
    except KeyError:
        if not user.isdigit():
            raise StartError(
                f"unable to find user {user}: no matching entries in passwd file", 126
            ) from None
        uid, gid, home, name = int(user), 0, "/", ""
    groups = [g.gr_gid for g in grp.getgrall() if name and name in g.gr_mem]
    if group:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            if not group.isdigit():
                raise StartError(
                    f"unable to find group {group}: no matching entries in group file", 126
                ) from None
            gid = int(group)
    return uid, gid, groups, home


def exec_step(spec: dict[str, Any]) -> None:
    """Become the command (see the module docstring); raises ``StartError`` if it cannot."""
    if spec.get("netns"):
        enter_sandbox(spec["netns"])
    if spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    if spec.get("cgroup_fd") is not None:  # cgroup.procs, opened before the netns's own /sys
        fd = int(spec["cgroup_fd"])
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    if os.isatty(0):
        with contextlib.suppress(OSError):  # already ours, or not a session leader
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    env = dict(item.split("=", 1) for item in spec["env"] if "=" in item)
    uid = gid = 0
    groups: list[int] = []
    if spec.get("user"):
        uid, gid, groups, home = resolve_user(spec["user"])
        env.setdefault("HOME", home)
    cwd = spec.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:
        reason = os.strerror(exc.errno or errno.ENOENT).lower()
        raise StartError(f"chdir to cwd ({json.dumps(cwd)}) failed: {reason}", 127) from None
    argv = spec["argv"]
    path = look_path(argv[0], env.get("PATH"))
    if spec.get("user"):
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    for signum in _RESET_SIGNALS:  # Python sets some aside; the command gets them at default
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execve(path, argv, env)
    except OSError as exc:
        quoted = json.dumps(argv[0], ensure_ascii=False)
        code = 127 if exc.errno == errno.ENOENT else 126
        raise StartError(f"exec: {quoted}: {os.strerror(exc.errno or 0).lower()}", code) from None


def exec_main(spec_fd: int = SPEC_FD, error_fd: int = ERROR_FD) -> None:
    with os.fdopen(spec_fd, "rb") as spec_file:
        spec = json.loads(spec_file.read())
    os.set_inheritable(error_fd, False)  # closed by a successful exec: the caller's sign
    try:
        try:
            exec_step(spec)
        except OSError as exc:
            raise StartError(f"{exc.strerror or exc}".lower(), 126) from None
        except (ValueError, TypeError, KeyError) as exc:  # e.g. a NUL byte in an argument
            raise StartError(f"exec: {exc}", 126) from None
    except StartError as exc:
        os.write(error_fd, json.dumps({"error": exc.message, "code": exc.code}).encode() + b"\n")
        os._exit(exc.code)


# the supervisor -------------------------------------------------------------------------
def rfc3339_nano(ns: int) -> str:
    """Docker's log timestamp: UTC, nine fraction digits, ``Z``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def records(text: str) -> list[str]:
    """A chunk of output as log records: each line with its ``\\n``, then any partial line
    (only ``\\n`` ends a line, as in Docker's log copier: a ``\\r`` does not)."""
    pieces = text.split("\n")
    out = [piece + "\n" for piece in pieces[:-1]]
    return out + [pieces[-1]] if pieces[-1] else out


def exit_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Client:
    """One connection of ctl.sock."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbound = b""  # until the first line is complete
        self.attached = False
        self.stdin = False
        self.reading = True  # until it half-closes
        self.outbound = bytearray()


class Shim:
    def __init__(self, folder: str, spec: dict[str, Any]) -> None:
        self.folder = folder
        self.spec = spec
        self.tty = bool(spec.get("tty"))
        self.sel = selectors.DefaultSelector()
        self.clients: list[Client] = []
        self.outputs: dict[int, str] = {}  # fd → stream name
        self.decoders: dict[int, Any] = {}
        self.stdin_fd = -1  # where input goes (the pipe, or the terminal's master side)
        self.stdin_buffer = bytearray()
        # output kept for the first client when one is about to attach (an attached start)
        self.backlog: bytearray | None = bytearray() if spec.get("hold") else None
        self.log_fd = os.open(
            os.path.join(folder, LOG_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
            0o600,
        )  # fmt: skip
        self.pid = 0
        self.status: int | None = None
        self.listener: socket.socket

    # starting ------------------------------------------------------------------------------
    def _stdio(self) -> tuple[list[int], list[int]]:
        """(the child's fds 0, 1, 2; fds the parent keeps)."""
        if self.tty:
            master, slave = os.openpty()
            rows, cols = self.spec.get("size") or (24, 80)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            self.outputs[master] = "stdout"
            self.stdin_fd = master if self.spec.get("stdin") else -1
            return [slave, slave, slave], [master]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs[out_r], self.outputs[err_r] = "stdout", "stderr"
        kept = [out_r, err_r]
        if self.spec.get("stdin"):
            in_r, in_w = os.pipe()
            self.stdin_fd = in_w
            kept.append(in_w)
        else:
            in_r = os.open(os.devnull, os.O_RDONLY)
        return [in_r, out_w, err_w], kept

    def start(self) -> dict[str, Any]:
        child_fds, kept = self._stdio()
        spec_r, spec_w = os.pipe()
        err_r, err_w = os.pipe()
        exec_spec = dict(self.spec["exec"])
        passed = [*child_fds, spec_r, err_w]
        if exec_spec.get("cgroup"):
            passed.append(os.open(os.path.join(exec_spec["cgroup"], "cgroup.procs"), os.O_WRONLY))
            exec_spec["cgroup_fd"] = CGROUP_FD
        pid = os.fork()
        if pid == 0:  # the child: becomes the command through the exec step
            try:
                os.setsid()
                high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in passed]
                for target, fd in enumerate(high):
                    os.dup2(fd, target)
                os.closerange(len(high), 65536)
                exec_main()  # returns only by exec, or by exit with the reason on ERROR_FD
            except BaseException as exc:  # noqa: BLE001 - the child must never return
                text = json.dumps({"error": f"cannot start the process: {exc}", "code": 126})
                with contextlib.suppress(OSError):
                    os.write(ERROR_FD, text.encode() + b"\n")
            os._exit(126)
        self.pid = pid
        for fd in set(passed):
            os.close(fd)
        with contextlib.suppress(BrokenPipeError):  # a child that died says why on err_r
            os.write(spec_w, json.dumps(exec_spec).encode())
        os.close(spec_w)
        answer = b""
        while chunk := os.read(err_r, READ_SIZE):
            answer += chunk
        os.close(err_r)
        if answer:
            failure = json.loads(answer)
            _, status = os.waitpid(pid, 0)
            self.status = int(failure.get("code", exit_status(status)))
            for fd in kept:
                os.close(fd)
            return {"error": failure.get("error", "cannot start the process"), "code": self.status}
        for fd in kept:
            os.set_blocking(fd, False)
        return {"pid": pid}

    # running -------------------------------------------------------------------------------
    def listen(self) -> None:
        """Bind ctl.sock before the command starts: it answers once the daemon learns the pid."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(CTL_SOCKET)
        listener.bind(CTL_SOCKET)  # relative: the shim runs in its folder
        os.chmod(CTL_SOCKET, 0o600)
        listener.listen(8)
        listener.setblocking(False)
        self.listener = listener

    def serve(self) -> None:
        listener = self.listener
        self.sel.register(listener, selectors.EVENT_READ, self._accept)
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, self._stdio_ready)
        pidfd = os.pidfd_open(self.pid)
        self.sel.register(pidfd, selectors.EVENT_READ, self._exited)
        while self.status is None:
            self._step(None)
        self._drain()
        deadline = time.monotonic() + HOLD_SECONDS
        while self.backlog is not None and time.monotonic() < deadline:  # its client is coming
            self._step(max(0.0, deadline - time.monotonic()))
        self.sel.unregister(listener)
        listener.close()
        self._finish()

    def _step(self, timeout: float | None) -> None:
        for key, events in self.sel.select(timeout):
            callback: Callable[[Any, int], None] = key.data
            callback(key.fileobj, events)

    def _accept(self, listener: socket.socket, events: int) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != 0:  # root's only (the folder is 0700 too)
            sock.close()
            return
        sock.setblocking(False)
        client = Client(sock)
        self.clients.append(client)
        self._update(client)

    def _stdio_ready(self, fd: int, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._write_stdin()
        if events & selectors.EVENT_READ:
            self._output(fd)

    def _output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: the terminal's last holder is gone
            data = b""
        if not data:
            self.sel.unregister(fd)
            stream = self.outputs.pop(fd)
            self._log(stream, self._decoder(fd).decode(b"", final=True))
            if fd == self.stdin_fd:
                self.stdin_fd = -1
            os.close(fd)
            return
        stream = self.outputs[fd]
        self._log(stream, self._decoder(fd).decode(data))
        frame = data
        if not self.tty:
            frame = struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(data)) + data
        if self.backlog is not None:
            if len(self.backlog) + len(frame) <= CLIENT_BUFFER_MAX:
                self.backlog += frame
            return
        for client in list(self.clients):
            if client.attached:
                self._send(client, frame)

    def _decoder(self, fd: int) -> Any:
        if fd not in self.decoders:
            self.decoders[fd] = codecs.getincrementaldecoder("utf-8")("replace")
        return self.decoders[fd]

    def _log(self, stream: str, text: str) -> None:
        if not text:
            return
        stamp = rfc3339_nano(time.time_ns())
        lines = b"".join(
            json.dumps({"log": piece, "stream": stream, "time": stamp}).encode() + b"\n"
            for piece in records(text)
        )
        os.write(self.log_fd, lines)

    # clients -------------------------------------------------------------------------------
    def _update(self, client: Client) -> None:
        """Watch the client for what it needs: its input, room for its pending output."""
        events = (selectors.EVENT_READ if client.reading else 0) | (
            selectors.EVENT_WRITE if client.outbound else 0
        )
        registered = client.sock in self.sel.get_map() if client.sock.fileno() >= 0 else False
        if not events:
            if registered:
                self.sel.unregister(client.sock)
            if not client.reading and client.attached is False:
                self._drop(client)
            return
        callback = self._client_callback(client)
        if registered:
            self.sel.modify(client.sock, events, callback)
        else:
            self.sel.register(client.sock, events, callback)

    def _client_callback(self, client: Client) -> Callable[[Any, int], None]:
        return lambda sock, events: self._client(client, events)

    def _send(self, client: Client, data: bytes) -> None:
        client.outbound += data
        if len(client.outbound) > CLIENT_BUFFER_MAX:
            self._drop(client)
            return
        self._flush(client)

    def _flush(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outbound)
            del client.outbound[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(client)
            return
        self._update(client)

    def _drop(self, client: Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client.sock)
            client.sock.close()

    def _client(self, client: Client, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._flush(client)
        if not events & selectors.EVENT_READ or client not in self.clients:
            return
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if client.attached:
            self._input(client, data)
            return
        if not data:
            self._drop(client)
            return
        client.inbound += data
        if b"\n" not in client.inbound:
            return
        line, _, rest = client.inbound.partition(b"\n")
        try:
            request = json.loads(line)
        except ValueError:
            self._drop(client)
            return
        if "resize" in request:
            self.resize(*request["resize"])
            self._drop(client)
            return
        client.attached = True
        client.stdin = bool(request.get("attach", {}).get("stdin")) and self.stdin_fd >= 0
        if self.backlog is not None:
            backlog, self.backlog = self.backlog, None
            self._send(client, bytes(backlog))
        if rest:
            self._input(client, rest)

    def _input(self, client: Client, data: bytes) -> None:
        if not data:  # the client half-closed: the end of its input, not of its output
            client.reading = False
            if client.stdin and not self.tty:
                self._close_stdin()
            self._update(client)
            return
        if client.stdin and self.stdin_fd >= 0:
            self.stdin_buffer += data
            self._write_stdin()

    def _write_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            self.stdin_buffer.clear()
            return
        try:
            written = os.write(fd, self.stdin_buffer)
            del self.stdin_buffer[:written]
        except BlockingIOError:
            pass
        except OSError:  # the process closed its end
            self.stdin_buffer.clear()
        events = (selectors.EVENT_READ if fd in self.outputs else 0) | (
            selectors.EVENT_WRITE if self.stdin_buffer else 0
        )
        registered = fd in self.sel.get_map()
        if events and registered:
            self.sel.modify(fd, events, self._stdio_ready)
        elif events:
            self.sel.register(fd, events, self._stdio_ready)
        elif registered:
            self.sel.unregister(fd)

    def _close_stdin(self) -> None:
        if self.stdin_fd >= 0 and not self.tty:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1
            self.stdin_buffer.clear()

    def resize(self, rows: int, cols: int) -> None:
        if self.tty and self.outputs:
            master = next(iter(self.outputs))
            with contextlib.suppress(OSError):
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # ending --------------------------------------------------------------------------------
    def _exited(self, pidfd: int, events: int) -> None:
        self.sel.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(self.pid, 0)
        self.status = exit_status(status)
        cgroup = self.spec["exec"].get("cgroup")
        if cgroup:  # what the command left behind dies with it, before its exit is told
            kill_cgroup(cgroup, DRAIN_SECONDS)

    def _drain(self) -> None:
        """Output still buffered in the pipes or the terminal, until EOF everywhere."""
        self._close_stdin()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.outputs and time.monotonic() < deadline:
            self._step(max(0.0, deadline - time.monotonic()))

    def _finish(self) -> None:
        """The status first (a waiter wakes on the shim's exit), then the clients go."""
        write_exit(self.folder, self.status if self.status is not None else 255)
        for client in list(self.clients):
            client.sock.setblocking(True)
            client.sock.settimeout(1.0)
            with contextlib.suppress(OSError):
                client.sock.sendall(client.outbound)
            self._drop(client)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(CTL_SOCKET)


def kill_cgroup(path: str, timeout: float) -> None:
    """SIGKILL every process of the cgroup and wait until it is empty (``cgroup.events``
    turns ``populated 0``; the kernel signals each change with POLLPRI)."""
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as kill:
            kill.write("1")
        fd = os.open(os.path.join(path, "cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI | select.POLLERR)
        deadline = time.monotonic() + timeout
        while b"populated 0" not in os.pread(fd, 4096, 0).splitlines():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            poller.poll(left * 1000)
    finally:
        os.close(fd)


def write_exit(folder: str, code: int) -> None:
    tmp = os.path.join(folder, EXIT_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{code}\n")
    os.replace(tmp, os.path.join(folder, EXIT_FILE))


def supervise_main(folder: str) -> None:
    spec = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.chdir(folder)
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)  # the daemon's, not ours: the command gets them
    shim = Shim(folder, spec)
    shim.listen()
    report = shim.start()
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    os.dup2(devnull, 1)  # the daemon may go away; nothing more is said on stdout
    if shim.status is not None:
        shim.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(CTL_SOCKET)
        write_exit(folder, shim.status)
        return
    shim.serve()


def main(argv: list[str]) -> None:
    if argv[1:2] == ["hawser-exec"] and len(argv) in (2, 4):
        exec_main(*(int(fd) for fd in argv[2:]))
    elif argv[1:2] == ["hawser-shim"] and len(argv) == 3:
        supervise_main(argv[2])
    else:
        sys.exit("usage: shim.py hawser-shim FOLDER | hawser-exec [SPEC_FD ERROR_FD]")


if __name__ == "__main__":
    main(sys.argv)
