"""An ordered watch on a key prefix that resumes by revision: no event missed, none twice.

One thread reads etcd's watch stream (the gRPC gateway's ``POST /v3/watch``: one JSON
answer per line) and calls ``on_event`` for each put/delete, in revision order. It keeps
``revision``: every event up to it has been delivered. When the stream breaks (etcd
stopped, the connection dropped, an endpoint gone) it opens a new one from ``revision + 1``
on whichever endpoint answers, after a short back-off, for as long as it runs.

- Start: with ``start_revision=None`` it first reads the whole prefix and hands it to
  ``on_reset(kvs, revision)``, then watches from the next revision (list, then watch).
- Compaction: if the revision to resume from was compacted away, the missed events cannot
  be had; it reads the prefix again and calls ``on_reset`` with the current state, then
  goes on from there. The consumer diffs (the state is complete, the events were not).
- Progress: it asks for etcd's progress notifications; one says "nothing for you up to
  revision H", which moves ``revision`` to H, so the resume point and the lag stay current
  on a quiet prefix (etcd sends them every 10 minutes unless started with
  ``--experimental-watch-progress-notify-interval``; the tests' etcd uses 500 ms).
- Dead peers: the stream has no read timeout (it may be idle for hours); TCP keepalive
  (about 25 s) finds a peer that vanished without closing the connection.

``stats()`` is for metrics: delivered revision, store revision seen, lag (the difference),
events, reconnects (streams re-established after the first), errors (failed connects,
broken streams, error answers, handler exceptions) and resets.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from controller.cluster.client import API, CONNECT_TIMEOUT, Store, reason
from controller.cluster.keys import range_end
from controller.cluster.txn import KV, b64

log = logging.getLogger(__name__)

BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0


@dataclass(frozen=True)
class Event:
    type: Literal["put", "delete"]
    kv: KV  # a delete carries the key and, as mod_revision, the revision of the delete

    @property
    def key(self) -> str:
        return self.kv.key

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True)
class WatchStats:
    revision: int = 0  # every event up to here was delivered
    store_revision: int = 0  # the store's revision in the latest answer
    events: int = 0
    reconnects: int = 0
    errors: int = 0
    resets: int = 0
    connected: bool = False
    last_error: str = ""

    @property
    def lag(self) -> int:
        return max(0, self.store_revision - self.revision)


class StreamError(Exception):
    pass


def parse_event(raw: dict[str, Any]) -> Event:
    return Event("delete" if raw.get("type") == "DELETE" else "put", KV.from_gateway(raw["kv"]))


class Watcher:
    def __init__(
        self,
        store: Store,
        prefix: str,
        on_event: Callable[[Event], None],
        on_reset: Callable[[list[KV], int], None],
        *,
        start_revision: int | None = None,
        name: str = "hawser-watch",
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._on_event = on_event
        self._on_reset = on_reset
        self._next = start_revision  # None: list first
        self._stats = WatchStats(revision=(start_revision or 1) - 1)
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._streams = 0  # watches etcd created so far
        self._failures = 0  # since the last created one, for the back-off
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # public ------------------------------------------------------------------------------
    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._cond:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes the reader blocked in recv
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def stats(self) -> WatchStats:
        with self._cond:
            return self._stats

    def wait_for_revision(self, revision: int, timeout: float) -> bool:
        """Block until every event up to ``revision`` was delivered (False on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._stats.revision < revision:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return False
                self._cond.wait(left)
            return True

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stats.connected:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # internals ---------------------------------------------------------------------------
    def _update(self, **changes: Any) -> None:
        with self._cond:
            self._stats = replace(self._stats, **changes)
            self._cond.notify_all()

    def _error(self, text: str, *, disconnected: bool = True) -> None:
        with self._cond:
            s = self._stats
            connected = s.connected and not disconnected
            self._stats = replace(s, errors=s.errors + 1, last_error=text, connected=connected)
            self._cond.notify_all()

    def _reset(self) -> None:
        kvs, revision = self._store.range(self._prefix)
        self._on_reset(kvs, revision)
        self._next = revision + 1
        with self._cond:
            s = self._stats
            self._stats = replace(
                s,
                revision=revision,
                store_revision=max(s.store_revision, revision),
                resets=s.resets + 1,
            )
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._next is None:
                    self._reset()
                self._stream()
            except Exception as exc:  # keep watching whatever broke; it is counted
                if self._stopping.is_set():
                    break
                self._error(reason(exc) if not isinstance(exc, StreamError) else str(exc))
                log.info("cluster watch on %s: %s", self._store.url, self._stats.last_error)
                self._failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(self._failures, 8))
            if self._stopping.wait(delay):
                break
        self._update(connected=False)

    def _connect(self) -> http.client.HTTPConnection:
        last: BaseException | None = None
        for endpoint in self._store.endpoint_order():
            ctx = self._store.ssl_context()
            conn: http.client.HTTPConnection
            if ctx is not None:
                conn = http.client.HTTPSConnection(
                    endpoint.host, endpoint.port, timeout=CONNECT_TIMEOUT, context=ctx
                )
            else:
                conn = http.client.HTTPConnection(
                    endpoint.host, endpoint.port, timeout=CONNECT_TIMEOUT
                )
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                last = exc
                continue
            assert conn.sock is not None
            _keepalive(conn.sock)
            return conn
        assert last is not None
        raise last

    def _stream(self) -> None:
        """One watch stream, until it ends or the revision to resume from was compacted."""
        assert self._next is not None
        conn = self._connect()
        try:
            with self._cond:
                self._sock = conn.sock
            if self._stopping.is_set():
                return
            body = {
                "create_request": {
                    "key": b64(self._prefix),
                    "range_end": b64(range_end(self._prefix)),
                    "start_revision": str(self._next),
                    "progress_notify": True,
                }
            }
            conn.request(
                "POST", API + "watch", json.dumps(body), {"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            if resp.status != 200:
                raise StreamError(f"watch refused: HTTP {resp.status} {resp.read(200)!r}")
            while not self._stopping.is_set():
                line = resp.readline()
                if not line:
                    if self._stopping.is_set():
                        return
                    raise StreamError("watch stream closed by the store")
                if not line.strip():
                    continue
                message = json.loads(line)
                if "error" in message:
                    err = message["error"]
                    raise StreamError(f"watch error: {err.get('message') or err}")
                self._answer(message.get("result", {}))
                if self._next is None:  # compacted: re-read, then a new stream
                    return
        finally:
            with self._cond:
                self._sock = None
            conn.close()

    def _answer(self, result: dict[str, Any]) -> None:
        """Handle one watch answer: created, canceled, events or a progress notification."""
        header_rev = int(result.get("header", {}).get("revision", 0))
        if header_rev:
            with self._cond:
                s = self._stats
                self._stats = replace(s, store_revision=max(s.store_revision, header_rev))
        if result.get("created"):
            with self._cond:
                s = self._stats
                again = 1 if self._streams else 0
                self._stats = replace(s, connected=True, reconnects=s.reconnects + again)
                self._cond.notify_all()
            self._streams += 1
            self._failures = 0
            return
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                log.warning(
                    "cluster watch on %s: revision %s was compacted (now %s): re-reading",
                    self._store.url,
                    self._next,
                    compacted,
                )
                self._next = None
                return
            raise StreamError(f"watch canceled: {result.get('cancel_reason') or 'no reason'}")
        events = [parse_event(e) for e in result.get("events", [])]
        for event in events:
            try:
                self._on_event(event)
            except Exception:
                log.exception("cluster watch handler failed on %s", event.key)
                self._error(f"handler failed on {event.key}", disconnected=False)
        if events:
            last = max(e.revision for e in events)
            self._next = last + 1
            with self._cond:
                s = self._stats
                self._stats = replace(s, revision=last, events=s.events + len(events))
                self._cond.notify_all()
        elif header_rev and not result.get("fragment"):
            # a progress notification: nothing for this prefix up to header_rev
            self._next = max(self._next or 0, header_rev + 1)
            with self._cond:
                s = self._stats
                self._stats = replace(s, revision=max(s.revision, header_rev))
                self._cond.notify_all()


def _keepalive(sock: socket.socket) -> None:
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
