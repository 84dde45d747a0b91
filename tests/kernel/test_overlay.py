"""Multi-host overlay networks, end to end: three daemons, one etcd, Docker's walk-through.

    n1  ul 198.18.0.1  hawser daemon ──┐
    n2  ul 198.18.0.2  hawser daemon ──┼── ulbr 198.18.0.254 + etcd :2379   (netns ``ul``)
    n3  ul 198.18.0.3  hawser daemon ──┘   (also the outside host: published ports, masquerade)

One etcd (Debian's etcd-server, started by the fixture with its data in a temp dir), a daemon
per node (``testbed.cluster``): n1 and n2 with a 20 s lease, n3 with 3 s (its death is
observed by the others). The tests share the cluster and run in order: the walk-through
(create on n1, visible on n2 and n3; containers on n1 and n2 reach each other by address
and by name; TCP bulk and UDP both ways; only VXLAN of the network's VNI on the underlay;
two overlays isolated; a published port and masquerade through the gateway network), the
address allocator and names under concurrent creates on three nodes, the overlay row of the
Grafana dashboard on a real Prometheus, then the faults (etcd stopped and started, a
daemon started while etcd is down, a node killed, a daemon killed and restarted within its
lease, the periodic repair of the tunnel map, the VXLAN device and the sandbox DNS map) and
the nodes' rulesets, untouched.
"""

from __future__ import annotations

import json
import os
import re
import socket
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from testbed import census, netns, procs, servers
from testbed.capture import Capture, parse_vxlan
from testbed.cluster import Cluster
from testbed.hawser import REPO, Daemon
from testbed.procs import Proc, netns_exec
from testbed.shell import sh
from testbed.topology import new_netns
from testbed.under_test import PIN_VERSION
from testbed.wait import wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

TTL = [20.0, 20.0, 3.0]
PROMETHEUS = "/usr/bin/prometheus"
OVERLAY_ROW = "Overlay (multi-host)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("overlay"), 3, ttl=TTL, metrics=True)
    problems: list[str] = []
    try:
        c.start()
        yield c
    finally:
        problems = c.close()
    assert not problems, problems


# helpers -----------------------------------------------------------------------------------
def run(d: Daemon, name: str, network: str, *extra: str) -> str:
    """A detached container (its process sleeps; servers are started in its netns)."""
    out = d.cli("run", "-d", "--name", name, "--network", network, *extra, "--", "sleep", "900")
    return out.stdout.strip()


def sandbox(d: Daemon, name: str) -> str:
    key = d.json("inspect", name)[0]["NetworkSettings"]["SandboxKey"]
    return str(key).rsplit("/", 1)[-1]


def ip_of(d: Daemon, name: str, network: str) -> str:
    return str(d.json("inspect", name)[0]["NetworkSettings"]["Networks"][network]["IPAddress"])


def resolve(ns: str, name: str) -> str:
    """What the container's resolver (the embedded DNS) answers for ``name``; "" for none."""
    r = sh(*netns_exec(ns, "getent", "hosts", name), check=False, timeout=10)
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.split() else ""


def ping(ns: str, dst: str) -> bool:
    return servers.ping(ns, dst)


def tunnel(d: Daemon) -> dict[str, dict[str, Any]]:
    return {r["ip"]: r for r in d.jsonl("bpf", "tunnel", "--format", "json")}


def stats(d: Daemon) -> dict[tuple[str, str], int]:
    return {(r["direction"], r["reason"]): int(r["packets"]) for r in d.get("/v1/bpf/stats?all=1")}


def networks_of(d: Daemon) -> dict[str, dict[str, Any]]:
    return {n["Name"]: n for n in d.get("/v1/networks")}


def samples(d: Daemon) -> dict[str, float]:
    """Every sample of the daemon's /metrics: ``name{labels}`` → value."""
    address = d.get("/v1/info")["MetricsAddress"]
    status, body = procs.http_get(f"http://{address}/metrics", d.netns)
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def metrics(d: Daemon) -> dict[str, float]:
    """The cluster's samples (unlabelled)."""
    return {k: v for k, v in samples(d).items() if k.startswith("hawser_cluster_")}


def failing(d: Daemon, *args: str) -> str:
    """The one line a refused command prints."""
    r = d.cli(*args, check=False)
    assert r.returncode != 0, f"hawser {' '.join(args)} succeeded: {r.stdout}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def timed(condition: Any, timeout: float, what: str) -> float:
    """Seconds until ``condition`` held (fails after ``timeout``)."""
    started = time.monotonic()
    wait_for(condition, timeout, what, interval=0.01)
    return time.monotonic() - started


# the walk-through ----------------------------------------------------------------------------
def test_a_network_created_on_one_node_is_on_the_others_within_a_second(cluster: Cluster) -> None:
    d1, d2, d3 = cluster.daemons
    net_id = d1.cli("network", "create", "-d", "overlay", "demo").stdout.strip()
    for d in (d2, d3):
        took = timed(lambda d=d: "demo" in networks_of(d), 1.0, f"demo on {d.name}")
        assert took < 1.0
    ls = d3.cli("network", "ls").stdout
    assert re.search(rf"{net_id[:12]}\s+demo\s+overlay\s+global", ls), ls
    net = d2.json("network", "inspect", "demo")[0]
    assert (net["Id"], net["Scope"], net["Driver"]) == (net_id, "global", "overlay")
    assert net["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]
    assert net["Options"] == {"com.docker.network.driver.overlay.vxlanid_list": "256"}
    # one name for one network, cluster-wide, and global names clash with local ones
    assert failing(d2, "network", "create", "-d", "overlay", "demo") == (
        "Error response from daemon: network with name demo already exists"
    )
    assert failing(d3, "network", "create", "demo") == (
        "Error response from daemon: network with name demo already exists"
    )
    # Docker's info lines and the nodes
    info = d1.cli("info").stdout
    assert f"Cluster Store: etcd://198.18.0.254:2379{cluster.prefix}" in info
    assert "Cluster Advertise: 198.18.0.1" in info
    nodes = {n["Name"]: n for n in d2.jsonl("node", "ls", "--format", "json")}
    assert {n["Address"] for n in nodes.values()} == {cluster.address(i) for i in range(3)}
    assert all(n["State"] == "ready" for n in nodes.values())
    assert re.search(rf"{d1.name} \*\s+198\.18\.0\.1\s+ready\s+0\s+", d1.cli("node", "ls").stdout)


def test_containers_on_two_nodes_reach_each_other_by_address_and_name(cluster: Cluster) -> None:
    d1, d2, _ = cluster.daemons
    run(d1, "c1", "demo")
    c1 = sandbox(d1, "c1")
    assert resolve(c1, "c2") == ""  # positive control below: the same question answered
    c2_id = run(d2, "c2", "demo", "--network-alias", "web")
    took = timed(lambda: resolve(c1, "c2") != "", 1.0, "c2's name on n1")
    assert took < 1.0
    ip1, ip2 = ip_of(d1, "c1", "demo"), ip_of(d2, "c2", "demo")
    assert {ip1, ip2} == {"10.0.0.2", "10.0.0.3"}
    c2 = sandbox(d2, "c2")
    assert resolve(c1, "c2") == ip2
    assert resolve(c1, "web") == ip2 and resolve(c1, c2_id[:12]) == ip2
    assert resolve(c1, "c2.demo") == ip2
    assert resolve(c2, "c1") == ip1
    for ns, dst in ((c1, ip2), (c1, "c2"), (c2, "c1"), (c2, ip1)):
        assert ping(ns, dst), f"{ns} -> {dst}"
    # eth0: MTU 1450 (uplink 1500 - 50), MAC from the address; eth1 on the gateway network
    links = {x["ifname"]: x for x in json.loads(sh(*netns_exec(c1, "ip", "-j", "addr")).stdout)}
    assert links["eth0"]["mtu"] == 1450 and links["eth0"]["address"] == "02:42:0a:00:00:02"
    assert links["eth1"]["mtu"] == 1500
    gw = d1.json("network", "inspect", "hawser_gwbridge")[0]
    assert gw["IPAM"]["Config"][0]["Subnet"] == "172.18.0.0/16"
    assert gw["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    route = sh(*netns_exec(c1, "ip", "route", "show", "default")).stdout
    assert route.startswith("default via 172.18.0.1 dev eth1"), route


CONTAINER_IPS = ("10.0.0.2", "10.0.0.3")


def test_tcp_bulk_and_udp_both_ways_cross_the_underlay_only_as_vxlan(cluster: Cluster) -> None:
    d1, d2, _ = cluster.daemons
    c1, c2 = sandbox(d1, "c1"), sandbox(d2, "c2")
    ip1, ip2 = ip_of(d1, "c1", "demo"), ip_of(d2, "c2", "demo")
    for ns in (c1, c2):
        servers.serve(cluster.scope, ns, "tcp", 7000)
        servers.serve(cluster.scope, ns, "udp", 7001)
    cap = Capture(cluster.scope, cluster.outside, "pn1")
    bulk = "".join(chr(ord("a") + i % 26) for i in range(100_000))
    try:
        for src, dst_ip, src_ip in ((c1, ip2, ip1), (c2, ip1, ip2)):
            tcp = servers.client(src, "tcp", dst_ip, 7000, bulk, timeout=10)
            assert "error" not in tcp, tcp
            assert tcp["reply"]["data"] == bulk and tcp["reply"]["peer"][0] == src_ip
            udp = servers.client(src, "udp", dst_ip, 7001, f"from {src_ip}")
            assert udp["reply"] == {"peer": [src_ip, udp["reply"]["peer"][1]],
                                    "data": f"from {src_ip}"}  # fmt: skip
    finally:
        frames = cap.stop()
    tunnelled = [v for v in map(parse_vxlan, frames) if v is not None]
    vni = int(d1.json("network", "inspect", "demo")[0]["Options"][
        "com.docker.network.driver.overlay.vxlanid_list"])  # fmt: skip
    assert {v for v, _ in tunnelled} == {vni}
    carried = sum(len(inner) for _, inner in tunnelled)  # GSO: frames are up to 64 KiB
    assert carried > 4 * len(bulk), carried  # the bulk and its echo, both ways
    # the inner frames are the containers' (their MACs from their addresses)
    inner_ips = {(f[26:30], f[30:34]) for _, f in tunnelled if f[12:14] == b"\x08\x00"}
    wanted = {socket.inet_aton(ip1), socket.inet_aton(ip2)}
    assert inner_ips and all({a, b} == wanted for a, b in inner_ips)
    # nothing between the containers crossed the underlay outside the tunnel (no ARP either)
    for frame in frames:
        if parse_vxlan(frame) is None:
            assert frame[12:14] != b"\x08\x06" or frame[38:42] not in wanted
            assert frame[12:14] != b"\x08\x00" or not {frame[26:30], frame[30:34]} & wanted
    remote = tunnel(d1)[ip2]
    assert (remote["node"], remote["vni"], remote["mac"]) == (cluster.address(1), vni,
                                                             "02:42:0a:00:00:03")  # fmt: skip
    assert remote["container"].startswith("c2@")
    counted = samples(d1)
    for direction in ("tx", "rx"):  # the datapath's counters per remote node
        key = f'hawser_tunnel_bytes_total{{direction="{direction}",node="{cluster.address(1)}"}}'
        assert counted[key] > 2 * len(bulk), (key, counted.get(key))


def test_two_overlays_are_isolated_and_rm_works_anywhere(cluster: Cluster) -> None:
    d1, d2, d3 = cluster.daemons
    d1.cli("network", "create", "-d", "overlay", "-o", "com.docker.network.driver.mtu=1400",
           "--attachable", "other")  # fmt: skip
    wait_for(lambda: "other" in networks_of(d2), 1.0, "other on n2")
    assert networks_of(d2)["other"]["Attachable"] is True
    run(d1, "c3", "other")
    run(d2, "c4", "other")
    c3, ip4, ip2 = sandbox(d1, "c3"), ip_of(d2, "c4", "other"), ip_of(d2, "c2", "demo")
    assert ip4.startswith("10.0.1.")
    mtu = json.loads(sh(*netns_exec(c3, "ip", "-j", "link", "show", "eth0")).stdout)[0]["mtu"]
    assert mtu == 1400
    assert ping(c3, ip4) and ping(c3, "c4")  # positive: within "other", across nodes
    before = stats(d1)[("from_container", "isolation")]
    assert not ping(c3, ip2)  # "other" -> "demo"'s remote endpoint
    assert stats(d1)[("from_container", "isolation")] > before
    assert resolve(c3, "c2") == "" and resolve(c3, "c4") == ip4  # names per network too
    # rm from any node: refused while any node has an endpoint on it (Docker's text)
    other_id = networks_of(d3)["other"]["Id"]
    assert failing(d3, "network", "rm", "other") == (
        f"Error response from daemon: error while removing network: network other id "
        f"{other_id} has active endpoints"
    )
    d1.cli("rm", "-f", "c3")
    d2.cli("rm", "-f", "c4")
    d3.cli("network", "rm", "other")
    for d in (d1, d2, d3):
        wait_for(lambda d=d: "other" not in networks_of(d), 1.0, f"other gone from {d.name}")
    # a global subnet that a node uses locally is not applied there (and says why)
    d3.cli("network", "create", "--subnet", "10.0.5.0/24", "mine")
    assert "Pool overlaps" in failing(d3, "network", "create", "-d", "overlay",
                                      "--subnet", "10.0.5.0/24", "clash")  # fmt: skip
    clash = d1.cli("network", "create", "-d", "overlay", "--subnet", "10.0.5.0/24", "clash")
    wait_for(lambda: "clash" in networks_of(d2), 1.0, "clash on n2")
    assert "clash" not in networks_of(d3) and "mine" in networks_of(d3)
    assert (f"cluster: network {clash.stdout.strip()[:12]} not applied here: Pool overlaps "
            "with other one on this address space") in d3.log()  # fmt: skip
    d1.cli("network", "rm", "clash")
    d3.cli("network", "rm", "mine")


def test_published_port_and_masquerade_go_through_the_gateway_network(cluster: Cluster) -> None:
    d1, _, _ = cluster.daemons
    run(d1, "c5", "demo", "-p", "8080:80")
    c5 = sandbox(d1, "c5")
    servers.serve(cluster.scope, c5, "tcp", 80)
    reply = servers.client(cluster.outside, "tcp", cluster.address(0), 8080, "published")
    assert "error" not in reply, reply
    assert reply["reply"] == {"peer": [cluster.underlay.bridge_ip, reply["reply"]["peer"][1]],
                              "data": "published"}  # fmt: skip
    assert d1.cli("port", "c5").stdout.strip() == "80/tcp -> 0.0.0.0:8080"
    assert "0.0.0.0:8080->80/tcp" in d1.cli("ps").stdout
    # out through eth1, masqueraded to the node's address
    servers.serve(cluster.scope, cluster.outside, "tcp", 7100)
    out = servers.client(sandbox(d1, "c1"), "tcp", cluster.underlay.bridge_ip, 7100, "masq")
    assert out["reply"]["peer"][0] == cluster.address(0) and out["reply"]["data"] == "masq"
    # leaving its last overlay, a container leaves the gateway network too (its ports stop)
    d1.cli("network", "disconnect", "demo", "c5")
    assert set(d1.json("inspect", "c5")[0]["NetworkSettings"]["Networks"]) == set()
    assert "error" in servers.client(cluster.outside, "tcp", cluster.address(0), 8080, "x",
                                     timeout=1)  # fmt: skip
    d1.cli("rm", "-f", "c5")


def test_a_container_on_a_bridge_network_connects_to_an_overlay(cluster: Cluster) -> None:
    _, d2, _ = cluster.daemons
    d2.cli("network", "create", "local2")
    run(d2, "b1", "local2")
    b1 = sandbox(d2, "b1")
    c1 = sandbox(cluster.daemons[0], "c1")
    assert resolve(c1, "b1") == ""
    d2.cli("network", "connect", "--alias", "bee", "demo", "b1")
    nets = d2.json("inspect", "b1")[0]["NetworkSettings"]["Networks"]
    assert set(nets) == {"local2", "demo"}  # its bridge network keeps the way out: no eth1
    route = sh(*netns_exec(b1, "ip", "route", "show", "default")).stdout
    assert "dev eth0" in route, route
    ip = nets["demo"]["IPAddress"]
    wait_for(lambda: resolve(c1, "bee") == ip, 1.0, "b1's alias on n1")
    assert ping(b1, "c1") and ping(c1, ip)
    d2.cli("network", "disconnect", "demo", "b1")
    wait_for(lambda: resolve(c1, "b1") == "", 1.0, "b1 gone from n1's DNS")
    assert not ping(c1, ip)
    d2.cli("rm", "-f", "b1")
    d2.cli("network", "rm", "local2")


CREATE_BODY = {"Network": "ipam", "Detach": True}


def test_concurrent_creates_on_three_nodes_never_give_an_address_twice(cluster: Cluster) -> None:
    d1, d2, d3 = cluster.daemons
    d2.cli("network", "create", "-d", "overlay", "--internal", "ipam")
    for d in (d1, d3):
        wait_for(lambda d=d: "ipam" in networks_of(d), 1.0, f"ipam on {d.name}")
    names = [(d, f"a{i}-{j}") for i, d in enumerate(cluster.daemons) for j in range(30)]

    def create(item: tuple[Daemon, str]) -> tuple[int, Any]:
        d, name = item
        return d.api("POST", "/v1/containers", {**CREATE_BODY, "Name": name})

    try:
        with ThreadPoolExecutor(90) as pool:  # 30 at once on each of the three nodes
            results = list(pool.map(create, names))
        assert [s for s, _ in results] == [201] * 90, [r for r in results if r[0] != 201][:3]
        ids = {name: body["Id"] for (_, name), (_, body) in zip(names, results, strict=True)}
        wait_for(lambda: len(d1.json("network", "inspect", "ipam")[0]["Containers"]) == 90,
                 5, "90 endpoints on n1")  # fmt: skip
        shown = d1.json("network", "inspect", "ipam")[0]["Containers"]
        addresses = [c["IPv4Address"] for c in shown.values()]
        assert len(set(addresses)) == 90, sorted(addresses)
        local = {c["Name"] for k, c in shown.items() if not k.startswith("ep-")}
        assert local == {name for d, name in names if d is d1}
        # --internal: eth0 only, no way out, no default route
        one = d3.json("inspect", ids["a2-0"])[0]
        assert list(one["NetworkSettings"]["Networks"]) == ["ipam"]
        ns = sandbox(d3, "a2-0")
        assert sh(*netns_exec(ns, "ip", "route", "show", "default")).stdout.strip() == ""
    finally:

        def remove(item: tuple[Daemon, str]) -> int:
            return item[0].api("DELETE", f"/v1/containers/{item[1]}?force=1")[0]

        with ThreadPoolExecutor(30) as pool:
            list(pool.map(remove, names))
    # released everywhere: the network can go
    wait_for(lambda: not d3.json("network", "inspect", "ipam")[0]["Containers"], 5, "released")
    d3.cli("network", "rm", "ipam")


def test_a_name_is_unique_per_network_across_nodes_and_a_refusal_leaves_nothing(
    cluster: Cluster,
) -> None:
    d1, d2, d3 = cluster.daemons
    before = {d.name: (census.sandbox_netns(d.name), census.hawser_links(d.netns)) for d in (d2,)}
    assert failing(d2, "run", "-d", "--name", "c1", "--network", "demo", "--", "true") == (
        "Error response from daemon: service endpoint with name c1 already exists"
    )
    assert "c1" not in d2.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    after = {d.name: (census.sandbox_netns(d.name), census.hawser_links(d.netns)) for d in (d2,)}
    assert after == before
    assert ping(sandbox(d2, "c2"), "c1")  # n1's c1 is untouched
    # the same name on two nodes at once: exactly one of them gets it
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda d: d.api("POST", "/v1/containers",
                            {"Name": "dup", "Network": "demo", "Detach": True}),
            (d2, d3),
        ))  # fmt: skip
    statuses = sorted(s for s, _ in results)
    assert statuses == [201, 409], results
    loser = (d2, d3)[[s for s, _ in results].index(409)]
    assert results[[s for s, _ in results].index(409)][1] == {
        "message": "service endpoint with name dup already exists"
    }
    assert "dup" not in loser.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    winner = (d2, d3)[[s for s, _ in results].index(201)]
    winner.cli("rm", "-f", "dup")


# the dashboard's overlay row on a real Prometheus -----------------------------------------------
def _overlay_queries() -> list[tuple[str, str]]:
    dash = json.loads((REPO / "grafana" / "dashboards" / "hawser.json").read_text())
    rows = [p for p in dash["panels"] if p["type"] == "row" and p["title"] == OVERLAY_ROW]
    assert len(rows) == 1, "no overlay row in the dashboard"
    return [
        (f"{p['title']} [{t['refId']}]", t["expr"])
        for p in rows[0]["panels"]
        for t in p.get("targets", [])
    ]


def test_the_dashboards_overlay_row_returns_data_on_prometheus(cluster: Cluster) -> None:
    d1 = cluster.daemons[0]
    address = d1.get("/v1/info")["MetricsAddress"]
    folder = cluster.workdir / "prometheus"
    folder.mkdir(exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(textwrap.dedent(f"""
        global: {{scrape_interval: 1s, evaluation_interval: 1s}}
        scrape_configs:
          - job_name: hawser
            static_configs: [{{targets: ["{address}"]}}]
        """))  # fmt: skip
    prom = Proc(procs.enter(d1.netns, PROMETHEUS, f"--config.file={config}",
                            f"--storage.tsdb.path={folder / 'tsdb'}",
                            "--web.listen-address=127.0.0.1:9090", "--log.level=warn"),
                log=folder / "prometheus.log")  # fmt: skip
    cluster.scope.on_close(prom.stop, key=prom)

    def promql(query: str) -> list[Any]:
        url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
        status, body = procs.http_get(url, d1.netns)
        assert status == 200, body
        return list(json.loads(body)["data"]["result"])

    def scraped_since(moment: float) -> bool:
        try:
            got = promql('timestamp(up{job="hawser"})')
        except (AssertionError, OSError, ValueError):
            return False
        return bool(got) and float(got[0]["value"][1]) > moment

    wait_for(lambda: scraped_since(0), 30, "a first scrape")
    # traffic through the tunnel between two scrapes, so rates have something to show
    ip2 = ip_of(cluster.daemons[1], "c2", "demo")
    for _ in range(2):
        now = time.time()
        wait_for(lambda now=now: scraped_since(now), 30, "a scrape")
        assert servers.client(sandbox(d1, "c1"), "tcp", ip2, 7000, "x" * 20000)["reply"]
    now = time.time()
    wait_for(lambda: scraped_since(now), 30, "a scrape after the traffic")
    values = {"instance": re.sub(r"([.])", r"\\\\\1", address), "__rate_interval": "1m",
              "__interval": "5s", "__range": "5m"}  # fmt: skip
    queries = _overlay_queries()
    assert len(queries) >= 5
    empty = []
    for where, expr in queries:
        for name in sorted(values, key=len, reverse=True):
            expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
        assert "$" not in expr, expr
        if not promql(expr):
            empty.append(f"{where}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)
    sent = promql(f'sum(hawser_tunnel_bytes_total{{node="{cluster.address(1)}",direction="tx"}})')
    assert float(sent[0]["value"][1]) > 40000
    assert float(promql("max(hawser_cluster_nodes)")[0]["value"][1]) == 3


# faults ------------------------------------------------------------------------------------------
def test_etcd_stopped_and_started(cluster: Cluster) -> None:
    d1, d2, d3 = cluster.daemons
    c1, c2 = sandbox(d1, "c1"), sandbox(d2, "c2")
    ip2 = ip_of(d2, "c2", "demo")
    before = {d.name: metrics(d) for d in (d1, d2)}
    assert all(m["hawser_cluster_store_up"] == 1 for m in before.values())
    cluster.etcd.stop()
    wait_for(lambda: metrics(d1)["hawser_cluster_store_up"] == 0, 10, "n1 sees etcd gone")
    # established overlay flows keep flowing: the maps are the node's own
    assert ping(c1, ip2) and ping(c2, "c1")
    tcp = servers.client(c1, "tcp", ip2, 7000, "while etcd is down")
    assert tcp["reply"]["data"] == "while etcd is down"
    # new overlay operations fail with one line naming the store
    store = f"cluster store etcd://198.18.0.254:2379{cluster.prefix} is unreachable"
    assert store in failing(d1, "network", "create", "-d", "overlay", "later")
    assert store in failing(d2, "run", "-d", "--name", "late", "--network", "demo", "--", "true")
    assert "late" not in d2.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    # local networks work; and a daemon started while etcd is away starts all the same
    d3.restart()
    d3.cli("network", "create", "localnet")
    run(d3, "l1", "localnet")
    assert "demo" in networks_of(d3)  # what it knew stays
    assert store in failing(d3, "run", "-d", "--name", "late", "--network", "demo", "--", "true")
    d3.cli("rm", "-f", "l1")
    d3.cli("network", "rm", "localnet")
    cluster.etcd.start()
    for d in (d1, d2):  # each watch resumed from its revision: no full read again
        wait_for(lambda d=d: metrics(d)["hawser_cluster_store_up"] == 1, 20, f"{d.name} back")
        now = metrics(d)
        assert now["hawser_cluster_watch_reconnects_total"] > before[d.name][
            "hawser_cluster_watch_reconnects_total"]  # fmt: skip
        assert now["hawser_cluster_watch_resets_total"] == before[d.name][
            "hawser_cluster_watch_resets_total"]  # fmt: skip
    wait_for(lambda: len(d1.jsonl("node", "ls", "--format", "json")) == 3, 20, "n3 joined")
    wait_for(lambda: metrics(d3)["hawser_cluster_store_up"] == 1, 20, "n3 watching")
    d2.cli("network", "create", "-d", "overlay", "after")
    for d in (d1, d3):
        wait_for(lambda d=d: "after" in networks_of(d), 1.0, f"after on {d.name}")
    d3.cli("network", "rm", "after")


def test_a_killed_node_leaves_the_others_when_its_lease_expires(cluster: Cluster) -> None:
    d1, _, d3 = cluster.daemons
    run(d3, "c6", "demo")
    ip6 = ip_of(d3, "c6", "demo")
    c1 = sandbox(d1, "c1")
    wait_for(lambda: ip6 in tunnel(d1) and resolve(c1, "c6") == ip6, 1.0, "c6 on n1")
    d3.kill()
    killed = time.monotonic()
    # not before the lease runs out: its address is still held, its endpoint still known
    assert ip6 in tunnel(d1) and resolve(c1, "c6") == ip6
    gone = timed(lambda: ip6 not in tunnel(d1), TTL[2] + 10, "c6 gone from n1's tunnel map")
    assert TTL[2] - 1.5 <= time.monotonic() - killed <= TTL[2] + 10, gone
    assert resolve(c1, "c6") == ""
    assert d3.name not in {n["Name"] for n in d1.jsonl("node", "ls", "--format", "json")}
    assert not any(k.startswith("ep-") and v["Name"] == "c6" for k, v in
                   d1.json("network", "inspect", "demo")[0]["Containers"].items())  # fmt: skip
    # back under a new lease: its container is claimed again, the others see it again
    d3.start()
    wait_for(lambda: ip6 in tunnel(d1) and resolve(c1, "c6") == ip6, 10, "c6 back on n1")
    assert ping(c1, ip6)
    d3.cli("rm", "-f", "c6")
    wait_for(lambda: ip6 not in tunnel(d1), 2, "c6 removed")


PING_LOG = re.compile(r"(\d+) packets transmitted, (\d+) received")


def test_a_daemon_killed_and_restarted_within_its_lease_interrupts_nothing(
    cluster: Cluster,
) -> None:
    d1, d2, _ = cluster.daemons
    ip1 = ip_of(d1, "c1", "demo")
    c2 = sandbox(d2, "c2")
    absent: list[float] = []
    stop = threading.Event()

    def watch_n2() -> None:  # n2 must keep c1 in its tunnel map all along
        while not stop.is_set():
            if ip1 not in tunnel(d2):
                absent.append(time.monotonic())
            stop.wait(0.1)

    pinger = Proc(netns_exec(c2, "ping", "-i", "0.02", "-W", "1", "-c", "400", ip1), lines=True)
    cluster.scope.on_close(pinger.stop, key=pinger)
    watcher = threading.Thread(target=watch_n2)
    watcher.start()
    try:
        d1.kill()
        d1.start()
        assert d1.cli("network", "ls").returncode == 0
        assert pinger.popen.wait(30) == 0
    finally:
        stop.set()
        watcher.join()
    assert pinger.out is not None
    sent, received = map(int, PING_LOG.search(pinger.out.text()).groups())  # type: ignore[union-attr]
    assert sent == 400 and received == sent, pinger.out.text()[-300:]
    assert absent == []
    assert d1.name in {n["Name"] for n in d2.jsonl("node", "ls", "--format", "json")}
    # the restarted daemon serves overlays again
    run(d1, "c7", "demo")
    assert ping(c2, "c7")
    d1.cli("rm", "-f", "c7")


def _bpftool(*args: str) -> Any:
    return json.loads(sh("bpftool", "-j", *args).stdout or "null")


def _hexbytes(*parts: bytes) -> list[str]:
    return [f"{b:02x}" for b in b"".join(parts)]


def test_the_reconcile_repairs_the_tunnel_map_the_device_and_sandbox_dns(
    cluster: Cluster,
) -> None:
    d1, d2, _ = cluster.daemons
    pins = Path("/sys/fs/bpf/hawser", d2.name, PIN_VERSION)
    c1_ip = ip_of(d1, "c1", "demo")
    d2.restart("--resync-interval", "1")  # the periodic repair, every second here
    # drift behind the daemon's back: a stray tunnel entry, a stray sandbox DNS entry, the
    # VXLAN device gone
    stray = _hexbytes(socket.inet_aton("10.0.0.99"))
    sh("bpftool", "map", "update", "pinned", str(pins / "hawser_tunnel"), "key", "hex", *stray,
       "value", "hex", *_hexbytes(socket.inet_aton("198.18.0.9"), (256).to_bytes(4, "little"),
                                  bytes.fromhex("02420a000063"), b"\0\0"))  # fmt: skip
    cookie = _hexbytes((0xC0FFEE).to_bytes(8, "little"))
    sh("bpftool", "map", "update", "pinned", str(pins / "hawser_sandbox_dns"), "key", "hex",
       *cookie, "value", "hex", *_hexbytes(socket.inet_aton("10.0.0.1"), bytes(4)))  # fmt: skip
    assert "10.0.0.99" in tunnel(d2)  # positive controls: the drift is there
    assert _bpftool("map", "lookup", "pinned", str(pins / "hawser_sandbox_dns"), "key", "hex",
                    *cookie)  # fmt: skip
    netns.ip(d2.netns, "link", "del", "hawser_vx")

    def repaired() -> bool:
        found = sh(*procs.enter(d2.netns, "ip", "-d", "-j", "link", "show", "hawser_vx"),
                   check=False)  # fmt: skip
        if found.returncode != 0:
            return False
        gone = sh("bpftool", "map", "lookup", "pinned", str(pins / "hawser_sandbox_dns"),
                  "key", "hex", *cookie, check=False).returncode != 0  # fmt: skip
        return gone and "10.0.0.99" not in tunnel(d2) and c1_ip in tunnel(d2)

    wait_for(repaired, 10, "the repair of n2's tunnel map, device and sandbox DNS map")
    assert ping(sandbox(d2, "c2"), c1_ip) and ping(sandbox(d2, "c2"), "c1")


def test_the_nodes_rulesets_are_untouched(cluster: Cluster) -> None:
    scratch = new_netns(cluster.scope, "scratch")  # positive control: a rule is seen
    sh(*procs.enter(scratch, "nft", "add", "table", "inet", "t"))
    assert census.netns_ruleset(scratch)
    for ns in (*cluster.underlay.nodes, cluster.outside):
        assert census.netns_ruleset(ns) == "", ns
    assert Path("/run/netns", scratch).exists() and netns.links(scratch)
