"""The connection to etcd: key-value calls, transactions and leases over etcd3gw.

etcd3gw speaks etcd's own gRPC gateway (JSON over HTTP/1.1, built into etcd 3.4 on the client
port): each call is a plain request on one keep-alive ``requests`` session per endpoint, so
it fits the daemon's threads, needs no event loop and no gRPC stack, and TLS is the session's
CA and client certificate. Its ``post``, ``get_url`` and error classes are all we use of it:
ranges, transactions and lease calls are built here (``txn.py``) so that every answer keeps
its header revision. The watch stream is ``watch.py``'s own (etcd3gw's watcher cannot resume
or report a compaction).

Endpoints are tried in order, starting with the last one that answered; when none answers
the error is one line naming the store: ``cluster store etcd://… is unreachable: <why>``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from etcd3gw import exceptions as gw_errors
from etcd3gw.client import Etcd3Client

from controller.cluster import txn
from controller.cluster.keys import Keys, range_end
from controller.cluster.options import Endpoint, StoreConfig
from controller.cluster.txn import KV, Compare, Op, TxnResult, b64
from controller.errors import LeaseLost, StoreError, StoreUnavailable

T = TypeVar("T")
API = "/v3/"  # etcd >= 3.4
CONNECT_TIMEOUT = 2.0
REQUEST_TIMEOUT = 5.0


CLOSED_TLS = "TLS connection closed by the store"
CERT_REFUSED = "TLS handshake refused by the store: client certificate not accepted"
CLOSED_PLAIN = "connection closed by the store without an answer"


def reason(exc: BaseException) -> str:
    """A short, lower-case reason from a chain of requests/urllib3/ssl/socket errors."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    found: list[BaseException] = []
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        found.append(cur)
        nxt = [cur.__cause__, cur.__context__, getattr(cur, "reason", None)]
        nxt += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        stack.extend(e for e in nxt if isinstance(e, BaseException))
    checks: list[tuple[type[BaseException] | tuple[type[BaseException], ...], Any]] = [
        (ssl.SSLCertVerificationError,
         lambda e: f"TLS certificate verification failed ({e.verify_message})"),
        ((ssl.SSLEOFError, ssl.SSLZeroReturnError), lambda e: CLOSED_TLS),
        (ssl.SSLError, lambda e: CERT_REFUSED if _cert_alert(e) else None),
        (ssl.SSLError, lambda e: f"TLS error ({e.reason or e.strerror or e})"),
        (ConnectionRefusedError, lambda e: "connection refused"),
        ((TimeoutError, requests.exceptions.Timeout), lambda e: "timed out"),
        (http.client.RemoteDisconnected, lambda e: CLOSED_PLAIN),
        # a TLS port answers plain HTTP by closing, which the client sees as either of these
        (ConnectionResetError, lambda e: CLOSED_PLAIN),
    ]  # fmt: skip
    for kind, text in checks:
        for e in found:
            if isinstance(e, kind) and (out := text(e)) is not None:
                return str(out)
    for e in found:
        if isinstance(e, OSError) and e.errno:
            return os.strerror(e.errno).lower()
    for e in found:
        for text in (getattr(e, "detail_text", None), str(e)):
            if text and text.strip():
                return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text.strip().splitlines()[0])[:200]
    return type(exc).__name__


def _cert_alert(exc: ssl.SSLError) -> bool:
    """An alert from the peer about our certificate (TLS 1.3 sends it after the handshake)."""
    name = str(exc.reason or "")
    return "ALERT" in name and "CERTIFICATE" in name


def _etcd_message(detail: str | None) -> str:
    try:
        data = json.loads(detail or "")
        return str(data.get("message") or data.get("error") or detail)
    except (ValueError, AttributeError):
        return (detail or "").strip().splitlines()[0] if detail else "unknown error"


class Store:
    """One cluster store (every endpoint of it). Thread-safe: calls may come from any thread."""

    def __init__(self, config: StoreConfig, timeout: float = REQUEST_TIMEOUT) -> None:
        self.config = config
        self.keys = Keys(config.prefix)
        self.url = config.url
        self._timeout = (CONNECT_TIMEOUT, timeout)
        self._local = threading.local()  # requests sessions are not thread-safe
        self._current = 0

    # transport ----------------------------------------------------------------------------
    def _clients(self) -> list[Etcd3Client]:
        clients: list[Etcd3Client] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = [self._client(e) for e in self.config.endpoints]
            self._local.clients = clients
        return clients

    def _client(self, endpoint: Endpoint) -> Etcd3Client:
        session = requests.Session()
        session.trust_env = False  # never through an HTTP proxy from the environment
        if self.config.tls:
            session.verify = self.config.cacert or True
            if self.config.cert and self.config.key:
                session.cert = (self.config.cert, self.config.key)
        return Etcd3Client(
            host=endpoint.host,
            port=endpoint.port,
            protocol=self.config.scheme,
            timeout=self._timeout,  # type: ignore[arg-type]  # requests takes (connect, read)
            api_path=API,
            session=session,
        )

    def endpoint_order(self) -> list[Endpoint]:
        """The endpoints, the one that answered last first."""
        eps = list(self.config.endpoints)
        return eps[self._current :] + eps[: self._current]

    def _call(self, fn: Callable[[Etcd3Client], T]) -> T:
        clients = self._clients()
        start = self._current
        last: BaseException | None = None
        for step in range(len(clients)):
            index = (start + step) % len(clients)
            try:
                out = fn(clients[index])
            except (gw_errors.ConnectionFailedError, gw_errors.ConnectionTimeoutError) as exc:
                last = exc
                continue
            except requests.exceptions.RequestException as exc:
                last = exc
                continue
            except gw_errors.Etcd3Exception as exc:
                message = _etcd_message(exc.detail_text)
                if "lease not found" in message:
                    raise LeaseLost(f"cluster store {self.url}: {message}") from None
                raise StoreError(f"cluster store {self.url}: {message}") from None
            self._current = index
            return out
        assert last is not None
        why = reason(last)
        if why in (CLOSED_TLS, CERT_REFUSED) and not self.config.cert:
            why = "TLS handshake refused by the store: it requires a client certificate "
            why += "(kv.certfile, kv.keyfile)"
        elif why == CLOSED_PLAIN and not self.config.tls:
            why += " (does it expect TLS? kv.cacertfile, kv.certfile, kv.keyfile)"
        raise StoreUnavailable(f"cluster store {self.url} is unreachable: {why}")

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One gateway call (``path`` like ``kv/range``), on whichever endpoint answers."""
        out: dict[str, Any] = self._call(lambda c: c.post(c.get_url(path), json=body))
        return out

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.config.cacert)
        if self.config.cert and self.config.key:
            ctx.load_cert_chain(self.config.cert, self.config.key)
        return ctx

    def close(self) -> None:
        for client in getattr(self._local, "clients", None) or []:
            client.session.close()
        self._local.clients = None

    # key-value ---------------------------------------------------------------------------
    def revision(self) -> int:
        """The store's current revision; the cheapest call that proves it answers."""
        answer = self.post("kv/range", {"key": b64(self.keys.root), "count_only": True})
        return int(answer["header"]["revision"])

    def get(self, key: str) -> KV | None:
        answer = self.post("kv/range", {"key": b64(key)})
        kvs = answer.get("kvs") or []
        return KV.from_gateway(kvs[0]) if kvs else None

    def range(self, prefix: str, *, keys_only: bool = False) -> tuple[list[KV], int]:
        """Every key under ``prefix`` (sorted by key) and the revision they were read at."""
        body: dict[str, Any] = {"key": b64(prefix), "range_end": b64(range_end(prefix))}
        if keys_only:
            body["keys_only"] = True
        answer = self.post("kv/range", body)
        kvs = [KV.from_gateway(kv) for kv in answer.get("kvs") or []]
        return kvs, int(answer["header"]["revision"])

    def put(self, key: str, value: str | bytes, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self.post("kv/put", body)["header"]["revision"])

    def delete(self, key: str, *, prefix: bool = False) -> int:
        body: dict[str, Any] = {"key": b64(key)}
        if prefix:
            body["range_end"] = b64(range_end(key))
        return int(self.post("kv/deleterange", body).get("deleted", 0))

    def txn(
        self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        body = txn.request(list(compares), list(success), list(failure))
        return txn.result(self.post("kv/txn", body))

    def compact(self, revision: int) -> None:
        self.post("kv/compaction", {"revision": str(revision), "physical": True})

    # leases ------------------------------------------------------------------------------
    def grant(self, ttl: float) -> int:
        answer = self.post("lease/grant", {"TTL": str(max(1, math.ceil(ttl))), "ID": "0"})
        return int(answer["ID"])

    def keepalive(self, lease: int) -> int:
        """Renew a lease; its new TTL, or -1 when it no longer exists."""
        answer = self.post("lease/keepalive", {"ID": str(lease)})
        return int(answer.get("result", {}).get("TTL", -1))

    def lease_ttl(self, lease: int) -> tuple[int, int]:
        """(seconds left, granted TTL) of a lease; (-1, 0) when it no longer exists."""
        answer = self.post("kv/lease/timetolive", {"ID": str(lease)})
        granted = int(answer.get("grantedTTL", 0))
        if not granted:  # gone (TTL -1, granted 0)
            return -1, 0
        return int(answer.get("TTL", 0)), granted  # JSON omits a TTL of 0: under a second left

    def revoke(self, lease: int) -> None:
        with contextlib.suppress(LeaseLost):  # already expired: as good as revoked
            self.post("kv/lease/revoke", {"ID": str(lease)})
