"""A real etcd for the cluster tests, and the multi-node underlay of issue 9.

- ``Etcd``: Debian's ``etcd-server`` (/usr/bin/etcd, 3.4) with its data dir in a temp dir,
  listening on 127.0.0.1 on free ports, or on an underlay address inside a netns the test
  made; ready when ``/health`` says so (never a sleep); ``stop``/``start``/``kill`` for the
  fault tests (same ports, same data); ``close`` always removes process and data.
- ``make_tls``: a CA, a server certificate for the etcd's address and a client certificate,
  made with ``openssl`` in the test's directory (plus a second CA nobody trusts).
- ``Underlay``: nodes ``t-<hex>-n1…`` on a bridge in netns ``t-<hex>-ul`` (198.18.0.0/24;
  node i is 198.18.0.i, the etcd 198.18.0.254 in the underlay netns).
- ``Relay``: a TCP relay on 127.0.0.1 in front of an etcd, whose connections a test can cut
  (and refuse for a while): a dropped connection without stopping etcd.

Only loopback and addresses inside the test's own namespaces are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
UNDERLAY_NET = "198.18.0"
ETCD_UNDERLAY_IP = f"{UNDERLAY_NET}.254"


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    return r


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy (returned) or the deadline passes (its last,
    falsy, value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# TLS ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here

    def store_opts(self) -> list[str]:
        return [
            f"kv.cacertfile={self.ca},kv.certfile={self.client_cert},kv.keyfile={self.client_key}"
        ]


def make_tls(workdir: Path, server_ip: str) -> TlsFiles:
    d = workdir / "tls"
    d.mkdir(parents=True, exist_ok=True)

    def ca(name: str) -> tuple[Path, Path]:
        key, cert = d / f"{name}.key", d / f"{name}.crt"
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
        return key, cert

    def leaf(name: str, ca_key: Path, ca_cert: Path, ext: str) -> tuple[Path, Path]:
        key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
        extfile = d / f"{name}.ext"
        extfile.write_text(ext)
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")  # fmt: skip
        sh("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
           "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extfile))  # fmt: skip
        return key, cert

    ca_key, ca_cert = ca("hawser-test-ca")
    _, other = ca("other-ca")
    # clientAuth too: etcd 3.4's gRPC gateway dials etcd's own gRPC port presenting the
    # server certificate, and with --client-cert-auth that connection needs it (else 503)
    skey, scert = leaf(
        "etcd-server", ca_key, ca_cert,
        f"subjectAltName=IP:{server_ip}\nextendedKeyUsage=serverAuth,clientAuth\n",
    )  # fmt: skip
    ckey, ccert = leaf("hawser-node", ca_key, ca_cert, "extendedKeyUsage=clientAuth\n")
    return TlsFiles(ca_cert, scert, skey, ccert, ckey, other)


# etcd -----------------------------------------------------------------------------------
class Etcd:
    """One single-member etcd. ``netns`` (a name under /run/netns) runs it there."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        netns: str | None = None,
        tls: TlsFiles | None = None,
        progress_interval: str = "500ms",
    ) -> None:
        base = Path(tempfile.mkdtemp(prefix="hawser-etcd-", dir="/dev/shm"))
        self.workdir = base if workdir is None else workdir
        self.data_dir = base / "data"  # tmpfs: fsync costs nothing, nothing lands on disk
        self._data_base = base
        self.host = host
        self.netns = netns
        self.tls = tls
        self.progress_interval = progress_interval
        # inside a netns the test made, nothing else listens: the standard ports are free
        self.client_port = 2379 if netns else free_port(host)
        self.peer_port = 2380 if netns else free_port(host)
        self.log_path = self.workdir / f"etcd-{self.client_port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = "t-etcd-" + secrets.token_hex(3)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.client_port}"

    def url(self, prefix: str = "") -> str:
        """``--cluster-store`` for this etcd (with a key prefix of the test's own)."""
        return f"etcd://{self.address}{prefix}"

    def argv(self) -> list[str]:
        client = f"{self.scheme}://{self.address}"
        peer = f"http://{self.host}:{self.peer_port}"
        argv = [
            ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-level", "warn",
            "--experimental-watch-progress-notify-interval", self.progress_interval,
        ]  # fmt: skip
        if self.tls:
            argv += [
                "--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
                "--client-cert-auth", "--trusted-ca-file", str(self.tls.ca),
            ]  # fmt: skip
        if self.netns:
            argv = ["nsenter", f"--net=/run/netns/{self.netns}", *argv]
        return argv

    def start(self, timeout: float = 20) -> Etcd:
        assert self.proc is None or self.proc.poll() is not None, "etcd is running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_until(self.healthy, timeout, 0.05):
            code = self.proc.poll()
            self.close()
            raise RuntimeError(f"etcd not healthy in {timeout} s (exit {code}):\n{self.log()}")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"etcd exited {self.proc.returncode}:\n{self.log()}")
        url = f"{self.scheme}://{self.address}/health"
        if self.netns:
            cmd = ["nsenter", f"--net=/run/netns/{self.netns}", "curl", "-sf", "--max-time", "1"]
            if self.tls:
                cmd += ["--cacert", str(self.tls.ca), "--cert", str(self.tls.client_cert),
                        "--key", str(self.tls.client_key)]  # fmt: skip
            r = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=5)
            body = r.stdout if r.returncode == 0 else ""
        else:
            ctx = None
            if self.tls:
                ctx = ssl.create_default_context(cafile=str(self.tls.ca))
                ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
            try:
                with urllib.request.urlopen(url, timeout=1, context=ctx) as resp:
                    body = resp.read().decode()
            except OSError:
                return False
        try:
            return bool(json.loads(body).get("health") == "true")
        except ValueError:
            return False

    def stop(self) -> None:
        """SIGTERM, as a service stop would; waits for the exit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def listening(self) -> list[str]:
        """Local addresses etcd's process listens on (``ss`` in its netns)."""
        assert self.proc is not None
        cmd = ["ss", "-Hltnp"]
        if self.netns:
            cmd = ["nsenter", f"--net=/run/netns/{self.netns}", *cmd]
        out = sh(*cmd).stdout
        pids = {str(self.proc.pid)}
        return [
            line.split()[3] for line in out.splitlines() if any(f"pid={p}," in line for p in pids)
        ]

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self._data_base, ignore_errors=True)


@contextlib.contextmanager
def running_etcd(workdir: Path | None = None, **kw: Any) -> Iterator[Etcd]:
    etcd = Etcd(workdir, **kw)
    try:
        yield etcd.start()
    finally:
        etcd.close()


# the multi-node underlay ------------------------------------------------------------------
class Underlay:
    """``count`` node netns on a bridge in an underlay netns; an etcd there on demand."""

    def __init__(self, count: int = 3) -> None:
        self.tag = secrets.token_hex(3)
        self.ul = f"t-{self.tag}-ul"
        self.nodes = [f"t-{self.tag}-n{i}" for i in range(1, count + 1)]
        self.etcd: Etcd | None = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def address(self, index: int) -> str:
        """Underlay address of node ``index`` (0-based)."""
        return f"{UNDERLAY_NET}.{index + 1}"

    def _build(self) -> None:
        sh("ip", "netns", "add", self.ul)
        sh("ip", "-n", self.ul, "link", "set", "lo", "up")
        sh("ip", "-n", self.ul, "link", "add", "ulbr", "type", "bridge")
        sh("ip", "-n", self.ul, "addr", "add", f"{ETCD_UNDERLAY_IP}/24", "dev", "ulbr")
        sh("ip", "-n", self.ul, "link", "set", "ulbr", "up")
        for i, ns in enumerate(self.nodes):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "add", "ul", "type", "veth", "peer", "name", f"p{i + 1}",
               "netns", self.ul)  # fmt: skip
            sh("ip", "-n", self.ul, "link", "set", f"p{i + 1}", "master", "ulbr", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "ul")
            sh("ip", "-n", ns, "link", "set", "ul", "up")

    def start_etcd(self, **kw: Any) -> Etcd:
        self.etcd = Etcd(host=ETCD_UNDERLAY_IP, netns=self.ul, **kw).start()
        return self.etcd

    def close(self) -> None:
        if self.etcd is not None:
            self.etcd.close()
        for ns in [*self.nodes, self.ul]:
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)


# a relay whose connections can be cut ----------------------------------------------------
class Relay:
    """TCP relay 127.0.0.1:port -> target. ``cut()`` drops every live connection (both
    sides see it closed); while ``refusing``, new connections are closed at once."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self.refusing = False
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Drop every live connection; how many pairs were dropped."""
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        return len(conns) // 2

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()


def in_netns(name: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread that entered netns ``name``: the sockets it opens live there
    (a ``Store`` keeps its connections per thread, so one made there stays there)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    box: dict[str, Any] = {}
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)

    def run() -> None:
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), f"setns {name}")
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    try:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    finally:
        os.close(fd)
    if "error" in box:
        raise box["error"]
    return box.get("value")
