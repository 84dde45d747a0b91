"""The standard servers and clients of the datapath tests, run by the system Python.

Servers print ``READY`` once bound; ``serve`` starts one in a netns, waits for that line and
registers it with the scope (stopped at clean-up). Replies are JSON so a test sees what the
server saw:

- ``ECHO`` (tcp or udp): answers each read with ``{"peer": [ip, port], "data": …}`` (one
  line per TCP segment read, newline-terminated); TCP connections are served concurrently.
- ``CLOSE_FIRST`` (tcp): reads a request, answers ``ok`` and closes first (the server keeps
  TIME_WAIT, like nginx with ``Connection: close``).
- ``UDP_SINK`` (udp): prints each datagram it receives as a line.

``client`` runs ``CLIENT`` in a netns: one exchange with an ECHO server, reported as JSON
(``reply``, plus ``peername``/``sockname`` for TCP or ``from`` for UDP, or ``error``).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import Any

from testbed.procs import PY, Proc, enter, netns_exec
from testbed.scope import Scope

ECHO = textwrap.dedent(
    r"""
    import json, socket, sys, threading
    proto, port = sys.argv[1], int(sys.argv[2])
    def reply(data, peer):
        return json.dumps({"peer": list(peer), "data": data.decode()}).encode()
    def serve(c, peer):
        try:
            while data := c.recv(65536):
                c.sendall(reply(data, peer) + b"\n")
        except OSError:
            pass
        finally:
            c.close()
    if proto == "tcp":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)
        print("READY", flush=True)
        while True:
            c, peer = s.accept()
            threading.Thread(target=serve, args=(c, peer), daemon=True).start()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        print("READY", flush=True)
        while True:
            data, peer = s.recvfrom(65536)
            s.sendto(reply(data, peer), peer)
    """
)

CLOSE_FIRST = textwrap.dedent(
    r"""
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(1024)
    print("READY", flush=True)
    while True:
        c, _ = s.accept()
        c.recv(100); c.sendall(b"ok"); c.close()
    """
)

UDP_SINK = textwrap.dedent(
    r"""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[2])))
    print("READY", flush=True)
    while True:
        print(s.recv(65536).decode(errors="replace"), flush=True)
    """
)

CLIENT = textwrap.dedent(
    r"""
    import json, socket, sys
    proto, host, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 3
    out = {}
    try:
        if proto == "tcp":
            s = socket.create_connection((host, port), timeout=timeout)
            out["peername"] = list(s.getpeername())
            out["sockname"] = list(s.getsockname())
            s.sendall(payload.encode())
            # the server echoes per segment it reads: join the replies until all came back
            buf, data, reply = b"", "", None
            while len(data) < len(payload):
                while b"\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        raise ConnectionError("closed before the whole echo came back")
                    buf += d
                line, buf = buf.split(b"\n", 1)
                part = json.loads(line)
                reply = reply or part
                data += part["data"]
            out["reply"] = dict(reply, data=data)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            s.sendto(payload.encode(), (host, port))
            data, frm = s.recvfrom(65536)
            out["from"] = list(frm)
            out["reply"] = json.loads(data)
    except OSError as e:
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
    """
)


def _argv(ns: str, bpffs: bool, *cmd: str) -> list[str]:
    return enter(ns, *cmd) if bpffs else netns_exec(ns, *cmd)


def serve(
    scope: Scope,
    ns: str,
    proto: str,
    port: int,
    script: str = ECHO,
    *,
    bpffs: bool = False,
    timeout: float = 10,
) -> Proc:
    """``script`` (ECHO by default) on ``proto``/``port`` in ``ns``, once it printed READY."""
    proc = Proc(_argv(ns, bpffs, PY, "-u", "-c", script, proto, str(port)), lines=True)
    scope.on_close(proc.stop, key=proc)
    proc.expect("READY", timeout)
    return proc


def client(
    ns: str,
    proto: str,
    host: str,
    port: int,
    payload: str = "hello",
    *,
    bpffs: bool = False,
    timeout: float = 3,
) -> dict[str, Any]:
    """One CLIENT exchange from ``ns``; ``bpffs`` enters with nsenter (the node's netns)."""
    argv = _argv(ns, bpffs, PY, "-c", CLIENT, proto, host, str(port), payload, str(timeout))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"client in {ns} failed: {r.stderr}")
    return dict(json.loads(r.stdout))


def ping(ns: str, dst: str, size: int | None = None, dont_fragment: bool = False) -> bool:
    """One echo request from ``ns`` (1 s to answer)."""
    argv = ["ping", "-c1", "-W1"]
    if dont_fragment:
        argv += ["-M", "do"]
    if size is not None:
        argv += ["-s", str(size)]
    r = subprocess.run(netns_exec(ns, *argv, dst), capture_output=True, timeout=10, check=False)
    return r.returncode == 0
