"""Schemathesis against the real daemon: generated requests never get a 5xx or a half-change.

How the requests reach a unix socket: schemathesis sends each case through a ``requests``
session; that session mounts an adapter whose connection pool opens an ``AF_UNIX`` socket
to the daemon's API socket instead of a TCP connection (no forwarder, nothing listening on
TCP). The OpenAPI document is the one the daemon publishes at ``/openapi.json``, so the
fuzzer checks the same schemas the daemon validates with.

Passes, each with positive (schema-conforming) and negative (schema-violating) cases:
1. every operation with a ``{ref}`` aimed at objects that exist (``fznet``, ``fzctr``), so
   bodies reach the operations' own checks, not just "not found";
2. every operation with generated path parameters.

After each answer: no 5xx; every error is ``{"message": …}``; after a 4xx the daemon's
state is exactly as before (containers, networks and their members, BPF ports and
endpoints, links and netns of the node, sandbox and state folders). Generated commands are
replaced (a container gets no process, an exec runs ``true``): the fuzzer must not run
arbitrary programs as root. Hypothesis runs derandomized without a database, so a run is
repeatable.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode

from testbed.hawser import HawserNode

BASE = "http://hawser"
EXAMPLES = 40  # per operation, mode and pass
MIN_REQUESTS = 1000
#: answers that last as long as a container runs or forever, by design (Docker's too): not for
#: a request/answer fuzzer; ``logs`` and ``start`` are fuzzed without ``follow``/``attach``
STREAMS = ("/v1/monitor", "/v1/containers/{ref}/wait", "/v1/containers/{ref}/attach")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


class _UnixConnection(urllib3.connection.HTTPConnection):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("localhost", **kwargs)
        self.unix_path = path

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.unix_path)
        return sock


class _UnixPool(urllib3.HTTPConnectionPool):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", maxsize=2)
        self.unix_path = path

    def _new_conn(self) -> _UnixConnection:
        return _UnixConnection(self.unix_path, timeout=30)


class UnixAdapter(HTTPAdapter):
    """A requests transport adapter that sends every request to one unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.pool = _UnixPool(path)

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        return self.pool

    def close(self) -> None:
        self.pool.close()
        super().close()


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> Iterator[HawserNode]:
    shared_node.cli("network", "create", "--subnet", "172.30.3.0/24", "fznet")
    shared_node.cli("run", "-d", "--name", "fzctr", "--network", "fznet", "-p", "18080:80")
    shared_node.cli("run", "-d", "--name", "fzctr2")
    yield shared_node


def snapshot(session: requests.Session, hn: HawserNode) -> dict[str, Any]:
    def get(path: str) -> Any:
        reply = session.get(BASE + path, timeout=30)
        assert reply.status_code == 200, (path, reply.text)
        return reply.json()

    def rows(items: list[Any]) -> list[str]:
        """Map entries without their traffic counters (ARP and IPv6 noise move those)."""
        return sorted(
            json.dumps({k: v for k, v in i.items() if not k.endswith(("_bytes", "_packets"))})
            for i in items
        )

    links = hn.in_node("ip", "-o", "link", "show").stdout.splitlines()
    return {
        "containers": sorted((c["Id"], c["Names"][0], c["State"]) for c in get("/v1/containers?all=1")),
        "networks": sorted((n["Id"], n["Name"], sorted(n["Containers"])) for n in get("/v1/networks")),
        "ports": rows(get("/v1/bpf/ports")),
        "endpoints": rows(get("/v1/bpf/endpoints")),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in links),
        "netns": sorted(n for n in os.listdir("/run/netns") if n.startswith(f"hw-{hn.name}-")),
        "folders": hn.sandbox_folders(),
        "state": sorted(p.name for p in (hn.state_dir / "containers").glob("*")),
    }  # fmt: skip


class Fuzz:
    def __init__(self, hn: HawserNode, session: requests.Session) -> None:
        self.hn, self.session = hn, session
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.state = snapshot(session, hn)

    def send(self, case: schemathesis.Case) -> None:
        body = case.body
        if isinstance(case.query, dict):
            for streaming in ("follow", "attach"):
                case.query.pop(streaming, None)
        if isinstance(body, dict) and _strings(body.get("Cmd")):
            body["Cmd"] = ["true"] if case.path.endswith("/exec") else []
        response = case.call(base_url=BASE, session=self.session, timeout=60)
        self.sent += 1
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        where = f"{case.method} {case.formatted_path} {body!r:.300}"
        assert status < 500, f"{where} -> {status} {response.text[:300]}"
        if status >= 400:
            # Docker's error shape; the CNI front end adds the spec's error code for the plugin
            extra = {"cniCode"} if case.path.startswith("/cni/") else set()
            assert set(response.json()) - extra == {"message"}, where
        after = snapshot(self.session, self.hn)
        if status >= 400:
            assert after == self.state, f"{where} -> {status} changed the state"
        self.state = after

    def run(self, operation: Any, mode: GenerationMode, ref: str | None = None) -> None:
        """Up to EXAMPLES cases of one operation; with ``ref``, aimed at that object."""
        fixed = {"path_parameters": {"ref": ref}} if ref else {}

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        def each(case: schemathesis.Case) -> None:
            if ref and isinstance(case.body, dict) and isinstance(case.body.get("Container"), str):
                case.body["Container"] = "fzctr2"  # connect/disconnect a real container
            self.send(case)

        with contextlib.suppress(Unsatisfiable):  # nothing to negate (a string path parameter)
            each()


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def test_generated_requests_get_no_5xx_and_4xx_change_nothing(hn: HawserNode) -> None:
    session = requests.Session()
    session.mount(BASE + "/", UnixAdapter(str(hn.socket)))
    document = session.get(BASE + "/openapi.json", timeout=30).json()
    for path in STREAMS:
        document["paths"].pop(path)
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzz = Fuzz(hn, session)
    started = time.monotonic()

    for op in operations:  # pass 1: at objects that exist
        if "{ref}" not in op.path or op.method.upper() == "DELETE":
            continue
        ref = "fznet" if op.path.startswith("/v1/networks") else "fzctr"
        for mode in MODES:
            fuzz.run(op, mode, ref)
    for op in operations:  # pass 2: generated paths
        for mode in MODES:
            fuzz.run(op, mode)

    took = time.monotonic() - started
    print(f"fuzz: {fuzz.sent} requests in {took:.1f}s, statuses {sorted(fuzz.statuses.items())}")
    assert fuzz.sent >= MIN_REQUESTS
    assert sum(n for s, n in fuzz.statuses.items() if s < 300) > 50  # the fuzzer got through
    assert sum(n for s, n in fuzz.statuses.items() if 400 <= s < 500) > 300
    # the daemon is still whole: the objects the test made still work (the fuzzed stop, kill
    # and restart may have left fzctr stopped: start it first)
    assert hn.cli("start", "fzctr").returncode == 0
    assert hn.cli("exec", "fzctr", "--", "true").returncode == 0
    assert Path("/etc/netns", hn.sandbox("fzctr"), "resolv.conf").exists()
