"""A real etcd for cluster tests (Debian's ``etcd-server`` 3.4), and what goes with it.

- ``Etcd``: one member with its data in a temp dir on /dev/shm, listening on 127.0.0.1 on
  free ports, or on an underlay address inside a netns (``on_underlay``); ready when
  ``/health`` says so (polled, never a sleep); ``stop``/``start``/``kill`` for fault tests
  (same ports, same data); ``close`` always removes process and data.
- ``make_tls``: a CA, a server certificate for the etcd's address and a client certificate,
  made with ``openssl`` (plus a second CA nobody trusts).
- ``Relay``: a TCP relay on 127.0.0.1 in front of an etcd whose connections a test can cut
  (and refuse for a while): a dropped connection without stopping etcd.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed import procs
from testbed.procs import Proc
from testbed.shell import StepFailed, sh
from testbed.topology import Underlay
from testbed.wait import until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


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

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def make_tls(workdir: Path, server_ip: str) -> TlsFiles:
    d = workdir / "tls"
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    def ca(name: str) -> tuple[Path, Path]:
        key, cert = d / f"{name}.key", d / f"{name}.crt"
        sh("openssl", "req", "-x509", *ec, "-keyout", str(key), "-out", str(cert),
           "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
        return key, cert

    def leaf(name: str, ca_key: Path, ca_cert: Path, ext: str) -> tuple[Path, Path]:
        key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
        extfile = d / f"{name}.ext"
        extfile.write_text(ext)
        sh("openssl", "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
        sh("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert),
           "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert), "-days", "2",
           "-extfile", str(extfile))  # fmt: skip
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
        self.proc: Proc | None = None
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
        return procs.enter(self.netns, *argv) if self.netns else argv

    def start(self, timeout: float = 20) -> Etcd:
        assert self.proc is None or not self.proc.alive(), "etcd is running"
        self.proc = Proc(self.argv(), log=self.log_path)
        if not until(self.healthy, timeout, 0.05):
            code = self.proc.popen.poll()
            self.close()
            raise StepFailed(f"etcd not healthy in {timeout} s (exit {code}):\n{self.log()}")
        return self

    def healthy(self) -> bool:
        """Whether ``/health`` says so (asked from the etcd's netns); raises if it exited."""
        assert self.proc is not None
        if not self.proc.alive():
            raise StepFailed(f"etcd exited {self.proc.popen.returncode}:\n{self.log()}")
        context = self.tls.client_context() if self.tls else None
        url = f"{self.scheme}://{self.address}/health"
        status, body = procs.http_get(url, self.netns, timeout=1, context=context)
        try:
            return status == 200 and json.loads(body).get("health") == "true"
        except ValueError:
            return False

    def stop(self) -> None:
        """SIGTERM, as a service stop would; waits for the exit (SIGKILL after 10 s)."""
        if self.proc is not None:
            self.proc.stop(10)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def listening(self) -> list[str]:
        """Local addresses etcd's process listens on (``ss`` in its netns)."""
        assert self.proc is not None
        cmd = ["ss", "-Hltnp"]
        out = sh(*(procs.enter(self.netns, *cmd) if self.netns else cmd)).stdout
        pid = self.proc.pid
        return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]

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


def on_underlay(underlay: Underlay, **kw: Any) -> Etcd:
    """An etcd in the underlay's netns on its bridge address; closed with the underlay."""
    etcd = Etcd(host=underlay.bridge_ip, netns=underlay.ul, **kw)
    underlay.scope.on_close(etcd.close, key=etcd)
    return etcd.start()


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
