"""UDP and TCP listeners on each user network's gateway, one selector thread, a worker pool.

Like Podman's aardvark-dns, the responder lives in the node's netns on the
gateway address, so containers reach it without anything inside their
sandbox; the asking container is known by the packet's source address.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

IP_FREEBIND = 15
TCP_IDLE_SECONDS = 5.0
MAX_WORKERS = 8

#: (network id, source IP, question bytes, over TCP?) → reply bytes, or None to drop.
Handler = Callable[[str, str, bytes, bool], bytes | None]


def _bind(kind: socket.SocketKind, address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)  # the bridge address may come a moment later
        s.bind((address, port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class DnsServer:
    def __init__(self, handler: Handler, port: int = 53) -> None:
        self.handler = handler
        self.port = port
        self._sel = selectors.DefaultSelector()
        self._sockets: dict[str, tuple[str, list[socket.socket]]] = {}  # network id → (addr, socks)
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="hawser-dns")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # listeners -----------------------------------------------------------------------
    def listen(self, network_id: str, address: str) -> None:
        """Serve ``network_id`` on ``address`` (UDP and TCP); idempotent; raises OSError."""
        with self._lock:
            current = self._sockets.get(network_id)
            if current is not None and current[0] == address:
                return
        self.forget(network_id)
        udp = _bind(socket.SOCK_DGRAM, address, self.port)
        try:
            tcp = _bind(socket.SOCK_STREAM, address, self.port)
        except OSError:
            udp.close()
            raise
        with self._lock:
            self._sockets[network_id] = (address, [udp, tcp])
            self._sel.register(udp, selectors.EVENT_READ, ("udp", network_id))
            self._sel.register(tcp, selectors.EVENT_READ, ("tcp", network_id))
        self._wake()
        log.info(
            "embedded DNS listening on %s:%d (network %s)", address, self.port, network_id[:12]
        )

    def forget(self, network_id: str) -> None:
        with self._lock:
            entry = self._sockets.pop(network_id, None)
            if entry is None:
                return
            for s in entry[1]:
                self._sel.unregister(s)
                s.close()
        self._wake()

    def addresses(self) -> dict[str, str]:
        with self._lock:
            return {nid: addr for nid, (addr, _) in self._sockets.items()}

    # loop ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="hawser-dns", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for nid in list(self.addresses()):
            self.forget(nid)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                    continue
                kind, network_id = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if kind == "udp":
                        wire, peer = sock.recvfrom(65535)
                        self._pool.submit(self._udp, sock, network_id, wire, peer)
                    else:
                        conn, peer = sock.accept()
                        self._pool.submit(self._tcp, conn, network_id, peer)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # closed by forget() meanwhile
                    log.debug("dns socket: %s", exc)

    def _answer(self, network_id: str, peer_ip: str, wire: bytes, tcp: bool) -> bytes | None:
        try:
            return self.handler(network_id, peer_ip, wire, tcp)
        except Exception:
            log.exception("answering a DNS question from %s failed", peer_ip)
            return None

    def _udp(
        self, sock: socket.socket, network_id: str, wire: bytes, peer: tuple[str, int]
    ) -> None:
        reply = self._answer(network_id, peer[0], wire, False)
        if reply is not None:
            try:
                sock.sendto(reply, peer)
            except OSError as exc:
                log.debug("dns reply to %s failed: %s", peer, exc)

    def _tcp(self, conn: socket.socket, network_id: str, peer: tuple[str, int]) -> None:
        with conn:
            conn.setblocking(True)
            conn.settimeout(TCP_IDLE_SECONDS)
            try:
                while True:
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    wire = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if wire is None:
                        return
                    reply = self._answer(network_id, peer[0], wire, True)
                    if reply is None:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return
