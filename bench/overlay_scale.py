"""S9 scale — one node of a cluster of 100 nodes with 10,000 endpoints on one overlay.

A Hawser daemon (node n1 of an underlay, etcd on the underlay bridge) with an overlay
``scale`` (10.128.0.0/16) and a probe container on it. The other 100 nodes are simulated:
their node records and 10,000 endpoint records (with their address and name claims) are
written straight to etcd, as their daemons would have, in transactions of 42 endpoints. Per
run:

1. **stream**: the 10,000 are written while the daemon runs; ``stream_s`` is the time from
   the last write's answer until the daemon has all of them in its tunnel map and its DNS
   answers the last one's name (``write_s``: how long writing took);
2. **join** (``program_s``, the target): the daemon is stopped, its pinned maps removed, and
   started again — a node joining that cluster from nothing: its full read of the store,
   its mirrors, 10,000 tunnel entries written (``sync_s``, the daemon's own
   ``hawser_cluster_sync_seconds``) plus the time until its DNS answers for the last
   endpoint once its API answers (``dns_s``);
3. **idle**: the daemon's CPU (user + system) over a few seconds after that, in % of one CPU;
4. **withdraw**: the 10,000 are deleted (100 range deletes); ``withdraw_s`` until the tunnel
   map is empty again.

The proof of path is the tunnel map itself (10,000 entries, each to its simulated node's
address) and a DNS answer for the last endpoint.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from bench import proc
from bench.dataplane import Params
from bench.hawser_driver import HawserNode
from bench.paths import cpu_ticks
from bench.proc import RUN_ID, BenchError, sh
from bench.results import Row
from testbed import census, netns
from testbed import etcd as testbed_etcd
from testbed.procs import http_get, netns_exec
from testbed.topology import Underlay
from testbed.wait import until

NODES = 100
ENDPOINTS = 10_000
PER_TXN = 42  # 3 keys per endpoint: 126 of the 128 operations etcd takes in one transaction
SUBNET = "10.128.0.0/16"
IDLE_SECONDS = 5.0


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Gateway:
    """etcd's JSON gateway, from inside the underlay netns (``netns.call_in``)."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request(
            "POST", f"/v3/{path}", json.dumps(body), {"Content-Type": "application/json"}
        )
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BenchError(f"etcd {path}: {resp.status} {data[:200]!r}")
        return dict(json.loads(data))

    def txn(self, puts: list[tuple[str, str]]) -> None:
        ops = [{"request_put": {"key": _b64(k), "value": _b64(v)}} for k, v in puts]
        self.post("kv/txn", {"compare": [], "success": ops, "failure": []})

    def delete_prefix(self, prefix: str) -> None:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        self.post("kv/deleterange", {"key": _b64(prefix), "range_end": _b64(end)})


def _ip(i: int) -> str:
    return f"10.128.{1 + i // 250}.{1 + i % 250}"


def _records(root: str, net_id: str) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """(node records, batches of endpoint keys) of the simulated nodes."""
    nodes = [
        (f"{root}nodes/sim{n:03d}", json.dumps({
            "name": f"sim{n:03d}", "address": f"198.18.{1 + n // 250}.{1 + n % 250}",
            "lease": 0, "ttl": 20.0, "interval": 6.7, "joined": time.time(), "version": "sim",
        }))
        for n in range(NODES)
    ]  # fmt: skip
    batches: list[list[tuple[str, str]]] = []
    batch: list[tuple[str, str]] = []
    for i in range(ENDPOINTS):
        ep, ip, name = secrets.token_hex(32), _ip(i), f"sim-{i}"
        octets = [int(x) for x in ip.split(".")]
        record = {
            "id": ep, "network": net_id, "name": name, "node": f"sim{i % NODES:03d}", "ip": ip,
            "mac": "02:42:" + ":".join(f"{b:02x}" for b in octets), "aliases": [],
            "container": ep[:12],
        }  # fmt: skip
        batch += [
            (f"{root}endpoints/{net_id}/{ep}", json.dumps(record)),
            (f"{root}ipam/{net_id}/{ip}", ep),
            (f"{root}names/{net_id}/{name}", ep),
        ]
        if len(batch) >= 3 * PER_TXN:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return nodes, batches


class ScaleNode:
    def __init__(self) -> None:
        self.underlay = Underlay(1, proc.scope(f"s9sc{RUN_ID[:2]}"))
        self.etcd = testbed_etcd.on_underlay(self.underlay)
        self.prefix = f"/s{RUN_ID}"
        self.root = f"{self.prefix}/v1/"
        self.hw = HawserNode(self.underlay.nodes[0], "ul", f"tb{RUN_ID}s9s")
        self.flags = ("--cluster-store", self.etcd.url(self.prefix), "--cluster-advertise", "ul")

    def start(self) -> None:
        self.hw.start(*self.flags)
        made = self.hw.cli("network", "create", "-d", "overlay", "--subnet", SUBNET, "scale",
                           check=False)  # fmt: skip
        if made.returncode != 0:
            raise BenchError(f"network create: {made.stderr.strip()}")
        self.net_id = made.stdout.strip()
        res = self.hw.cli("run", "-d", "--name", "probe", "--network", "scale", "--", "sleep",
                          "86400", check=False)  # fmt: skip
        if res.returncode != 0:
            raise BenchError(f"hawser run probe: {res.stderr.strip()}")
        self.hw.containers.append("probe")
        self.probe_ns = os.path.basename(self.hw.netns_path("probe"))

    def close(self) -> None:
        try:
            self.hw.close()
        finally:
            proc.release(self.underlay.scope)

    def etcd_do(self, fn: Callable[[Gateway], Any]) -> Any:
        return netns.call_in(
            self.underlay.ul, lambda: fn(Gateway(self.etcd.host, self.etcd.client_port))
        )

    # what the daemon holds ------------------------------------------------------------------
    def tunnel_entries(self) -> int:
        maps = {m["name"]: m for m in self.hw.get("/v1/bpf/maps")}
        return int(maps["hawser_tunnel"]["entries"])

    def answers(self, name: str) -> str:
        r = sh(netns_exec(self.probe_ns, "getent", "hosts", name), check=False, timeout=10)
        return r.split()[0] if r.split() else ""

    def sync_seconds(self) -> float:
        address = self.hw.get("/v1/info")["MetricsAddress"]
        status, body = http_get(f"http://{address}/metrics", self.hw.netns)
        if status != 200:
            raise BenchError(f"/metrics: {status}")
        for line in body.decode().splitlines():
            if line.startswith("hawser_cluster_sync_seconds "):
                return float(line.split()[1])
        raise BenchError("no hawser_cluster_sync_seconds in /metrics")

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> float:
        """The monotonic time ``done`` first held."""
        if not until(done, timeout, interval=0.01):
            raise BenchError(f"S9 scale: {what} not within {timeout:.0f} s")
        return time.monotonic()

    # one run ---------------------------------------------------------------------------------
    def run_once(self) -> dict[str, float]:
        nodes, batches = _records(self.root, self.net_id)
        last = f"sim-{ENDPOINTS - 1}"
        want = _ip(ENDPOINTS - 1)

        def write(gw: Gateway) -> float:
            gw.txn(nodes)
            for batch in batches:
                gw.txn(batch)
            return time.monotonic()

        started = time.monotonic()
        written = self.etcd_do(write)
        programmed = self.wait(
            lambda: self.tunnel_entries() == ENDPOINTS and self.answers(last) == want,
            60, "the 10,000 endpoints in the tunnel map and the DNS",
        )  # fmt: skip
        out = {"write_s": written - started, "stream_s": programmed - written}
        # a node joining this cluster from nothing: no pinned maps
        code = self.hw.stop(self.hw.STOP_TIMEOUT)
        if code not in (0, -15):
            raise BenchError(f"the daemon exited {code} on SIGTERM")
        census.remove_pins(self.hw.name)
        self.hw.start(*self.flags)
        ready = time.monotonic()
        answered = self.wait(lambda: self.answers(last) == want, 30, "the DNS after the restart")
        entries = self.tunnel_entries()
        if entries != ENDPOINTS:
            raise BenchError(f"{entries} tunnel entries after the restart, not {ENDPOINTS}")
        sync = self.sync_seconds()
        out.update(
            {"sync_s": sync, "dns_s": answered - ready, "program_s": sync + answered - ready}
        )
        pid = self.hw.pid
        ticks, t0 = cpu_ticks(pid), time.monotonic()
        time.sleep(IDLE_SECONDS)  # measuring idle CPU: the interval is the measurement
        used = (cpu_ticks(pid) - ticks) / os.sysconf("SC_CLK_TCK")
        out["idle_cpu_pct"] = 100.0 * used / (time.monotonic() - t0)
        gone_from = time.monotonic()
        kinds = (f"endpoints/{self.net_id}/", f"ipam/{self.net_id}/", f"names/{self.net_id}/",
                 "nodes/sim")  # fmt: skip

        def withdraw(gw: Gateway) -> None:
            for kind in kinds:
                gw.delete_prefix(self.root + kind)

        self.etcd_do(withdraw)
        emptied = self.wait(lambda: self.tunnel_entries() == 0, 60, "the tunnel map emptied")
        out["withdraw_s"] = emptied - gone_from
        return out


def run(p: Params, rows: list[Row], errors: list[str], log: Callable[[str], None]) -> None:
    row = Row(
        "S9",
        f"Hawser: {ENDPOINTS:,} remote endpoints of {NODES} nodes",
        "hawser",
        ENDPOINTS,
        "scale",
        "control plane at scale",
    )
    rows.append(row)
    node = None
    try:
        node = ScaleNode()
        node.start()
        for i in range(p.runs):
            values = node.run_once()
            row.add(values)
            log(f"S9 scale run {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    except BenchError as exc:
        row.note = f"failed: {str(exc)[:300]}"
        errors.append(f"S9 scale: {exc}")
        log(f"S9 scale failed: {exc}")
    finally:
        if node is not None:
            node.close()
