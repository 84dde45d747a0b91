"""Observability against real components: a Hawser daemon, real packets, Debian's Prometheus.

Topology (all names ``t-<hex>-…``, addresses only inside these namespaces)::

    t-<hex>-ext  eth0 10.99.0.2/24  ── veth ──  uplink0 10.99.0.1/24  t-<hex>-node
      (outside host: a TCP echo server)         hawser daemon (metrics on 127.0.0.1:<ephemeral>)
                                                prometheus (127.0.0.1:9090, scrapes every 1 s)

One module-scoped scenario: a network with icc off, a web container publishing
8080:80, a client container and an egress container holding a masqueraded
connection to ext. Then every query of every Grafana panel must return data
from Prometheus; a deliberately dropped packet (icc) must move the drop counter
in /metrics and ``hawser bpf stats`` and show up in ``hawser monitor``; ``hawser
bpf ct`` must show the published-port flow with its translation.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import textwrap
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.bpf import MONITOR_BANNER, TRACE_OFF
from testbed import procs
from testbed.hawser import HAWSER, REPO, HawserNode
from testbed.procs import PY, LineReader, Proc, netns_exec
from testbed.servers import ECHO
from testbed.shell import sh
from testbed.wait import until, wait_for

PROMETHEUS = "/usr/bin/prometheus"
DASHBOARDS = sorted((REPO / "grafana").rglob("*.json"))

# A connection that stays open (a live conntrack entry): connect, send, print any reply, wait.
HOLD = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(sys.argv[3].encode())
    s.settimeout(1.0)
    try:
        print("reply", s.recv(200).decode(errors="replace"), flush=True)
    except socket.timeout:
        print("no reply", flush=True)
    time.sleep(float(sys.argv[4]))
    """
)
PROBE = textwrap.dedent(
    """
    import socket, sys
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0)
        print("connected")
    except OSError as exc:
        print("failed", exc)
    """
)
HTTP_GET = textwrap.dedent(
    """
    import sys, urllib.request
    for _ in range(int(sys.argv[2])):
        print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
    """
)


def json_rows(text: str) -> list[dict[str, Any]]:
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text format → {(name, labels): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    assert found, f"no sample {name}{labels}"
    return sum(found)


class Node(HawserNode):
    """The standard node with its metrics on an ephemeral loopback port (in the node netns)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, metrics_address="127.0.0.1:0")
        self.folder = workdir
        self.metrics_address = ""

    def start(self, *extra: str, wait: bool = True, timeout: float = 90) -> float:
        took = super().start(*extra, wait=wait, timeout=timeout)
        self.metrics_address = str(self.get("/v1/info")["MetricsAddress"])
        return took

    def hawser(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, check=check)

    def fetch(self, url: str) -> str:
        """GET from inside the node netns; it must answer 200."""
        status, body = procs.http_get(url, self.node_ns)
        assert status == 200, f"GET {url}: {status} {body[:300]!r}"
        return body.decode()

    def metrics(self) -> dict[Any, float]:
        return parse_metrics(self.fetch(f"http://{self.metrics_address}/metrics"))

    def promql(self, query: str) -> list[dict[str, Any]]:
        url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
        body = json.loads(self.fetch(url))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def spawn(self, argv: list[str], **kw: Any) -> Proc:
        """A process stopped (SIGTERM, then SIGKILL) when the node closes."""
        proc = Proc(argv, **kw)
        self.scope.on_close(proc.stop, key=proc)
        return proc


def _start_prometheus(node: Node) -> None:
    config = node.folder / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: hawser
                static_configs:
                  - targets: ["{node.metrics_address}"]
            """
        )
    )
    prometheus = node.spawn(
        procs.enter(
            node.node_ns,
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={node.folder / 'tsdb'}",
            "--web.listen-address=127.0.0.1:9090",
            "--log.level=warn",
        ),
        log=node.folder / "prometheus.log",
    )

    def scraped() -> bool:
        assert prometheus.alive(), (node.folder / "prometheus.log").read_text()
        try:
            return bool(node.promql('up{job="hawser"} == 1'))
        except AssertionError:  # not answering yet
            return False

    if not until(scraped, 30, interval=0.2):
        raise AssertionError(
            "prometheus never scraped the daemon:\n" + (node.folder / "prometheus.log").read_text()
        )


def _wait_scraped(node: Node) -> None:
    """Wait for a scrape that started after now: Prometheus then holds what /metrics says now."""
    now = time.time()

    def scraped_since() -> bool:
        got = node.promql('timestamp(up{job="hawser"})')
        return bool(got) and float(got[0]["value"][1]) > now

    wait_for(scraped_since, 30, "a scrape of the daemon by prometheus", interval=0.2)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = Node(tmp_path_factory.mktemp("observability"))
    problems: list[str] = []
    try:
        n.start()
        yield n
    finally:
        if n.running:
            n.hawser("network", "prune", "-f", check=False)
        problems = n.close()
    assert not problems, problems


@pytest.fixture(scope="module")
def scenario(node: Node) -> dict[str, Any]:
    """Containers, traffic (published port, masquerade, icc drop), Prometheus scraping it all.

    Each burst of traffic waits for a scrape of the previous one, so every counter the
    dashboards rate over is seen moving between samples.
    """
    ext_server = node.spawn(netns_exec(node.ext_ns, PY, "-c", ECHO, "tcp", "7000"), lines=True)
    ext_server.expect("READY")
    _start_prometheus(node)
    node.hawser("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "noicc")
    node.hawser("run", "-d", "--name", "web", "--network", "noicc", "-p", "8080:80",
                "--", PY, "-m", "http.server", "80")  # fmt: skip
    node.hawser("run", "-d", "--name", "cli", "--network", "noicc", "--", "sleep", "600")
    node.hawser("run", "-d", "--name", "egress", "--network", "noicc",
                "--", PY, "-c", HOLD, node.ext_ip, "7000", "masq", "600")  # fmt: skip
    ips = {name: node.ip_of(name, "noicc") for name in ("web", "cli", "egress")}
    # a failing operation (409) feeds hawser_operation_errors_total{operation="container_remove"}
    assert node.hawser("rm", "web", check=False).returncode != 0
    # published-port traffic from the outside host, spread over a few scrapes
    _wait_scraped(node)
    procs.wait_tcp(node.ext_ns, node.node_ip, 8080)  # the web server is up
    r = sh(*netns_exec(node.ext_ns, PY, "-c", HTTP_GET, f"http://{node.node_ip}:8080/", "3"),
           check=False)  # fmt: skip
    assert r.stdout.split() == ["200"] * 3, r.stderr
    # a live published-port flow for `hawser bpf ct`
    hold = node.spawn(netns_exec(node.ext_ns, PY, "-c", HOLD, node.node_ip, "8080",
                                 "GET / HTTP/1.1\r\n", "120"), lines=True)  # fmt: skip
    # an unfinished request: the server keeps waiting, the connection stays established
    assert hold.line(15).startswith("no reply")
    for _ in range(2):
        _wait_scraped(node)
        sh(*netns_exec(node.ext_ns, PY, "-c", HTTP_GET, f"http://{node.node_ip}:8080/", "2"))
    # an icc drop (cli -> web) after Prometheus saw the counter without it
    probe = node.hawser("exec", "cli", "--", PY, "-c", PROBE, ips["web"], "80").stdout
    assert probe.startswith("failed"), probe
    _wait_scraped(node)
    return {"ips": ips}


def _monitor(node: Node, *args: str) -> tuple[Proc, LineReader]:
    """``hawser monitor`` and its output, once the daemon acknowledged the subscription."""
    proc = node.spawn([HAWSER, "--socket", str(node.socket), "monitor", *args], lines=True)
    assert proc.out is not None and proc.err is not None
    banner = proc.err.until(lambda line: True, 15)
    assert banner == [MONITOR_BANNER], banner
    return proc, proc.out


def _read_lines_until(reader: LineReader, pattern: str, seconds: float) -> list[str]:
    return reader.until(lambda line: re.search(pattern, line) is not None, seconds)


def _icc_drops(node: Node) -> tuple[float, int, dict[str, float]]:
    """icc drops in /metrics and `hawser bpf stats`, and drops per container."""
    samples = node.metrics()
    metrics = metric(samples, "hawser_drop_count_total", reason="icc",
                     direction="from_container")  # fmt: skip
    rows = json_rows(node.hawser("bpf", "stats", "--format", "json").stdout)
    cli = sum(int(r["packets"]) for r in rows if r["reason"] == "icc")
    per_container = {
        name: metric(samples, "hawser_endpoint_drop_packets_total", container=name)
        for name in ("cli", "web", "egress")
    }
    return metrics, cli, per_container


def _icc_drop_line(src: str, dst: str, src_name: str, dst_name: str) -> str:
    """A monitor line naming both ends: ``… drop icc tcp SRC:PORT (cli) -> DST:80 (web)``."""
    return (
        rf"drop icc tcp {re.escape(src)}:\d+ \({src_name}\) -> {re.escape(dst)}:80 \({dst_name}\)"
    )


def test_icc_drop_moves_counters_and_reaches_monitor(node: Node, scenario: dict[str, Any]) -> None:
    ips = scenario["ips"]
    before_metrics, before_cli, before_ctr = _icc_drops(node)
    involved, involved_out = _monitor(node, "--type", "drop", "--container", "cli")
    other, other_out = _monitor(node, "--type", "drop", "--container", "egress")
    r = node.hawser("exec", "cli", "--", PY, "-c", PROBE, ips["web"], "80")
    assert r.stdout.startswith("failed"), f"icc=false must block cli → web: {r.stdout}"

    cli_drop = _icc_drop_line(ips["cli"], ips["web"], "cli", "web")
    seen = _read_lines_until(involved_out, cli_drop, 10)
    assert any(re.search(cli_drop, line) for line in seen), seen
    # a later drop that involves egress: once the other stream shows it, a cli -> web event
    # would have reached that stream before it (one queue per stream, in order)
    r = node.hawser("exec", "egress", "--", PY, "-c", PROBE, ips["web"], "80")
    assert r.stdout.startswith("failed"), r.stdout
    egress_drop = _icc_drop_line(ips["egress"], ips["web"], "egress", "web")
    theirs = _read_lines_until(other_out, egress_drop, 10)
    assert any(re.search(egress_drop, line) for line in theirs), theirs
    assert not [line for line in theirs if re.search(cli_drop, line)], theirs
    for proc in (involved, other):
        proc.stop(5, sig=signal.SIGINT)

    after_metrics, after_cli, after_ctr = _icc_drops(node)
    assert after_metrics > before_metrics
    assert after_cli > before_cli
    # drops per container: counted on the senders (cli, egress), not on web they aimed at
    assert after_ctr["cli"] > before_ctr["cli"] and after_ctr["egress"] > before_ctr["egress"]
    assert after_ctr["web"] == before_ctr["web"]
    # the streams ended with their clients (heartbeats notice within about a second)
    until(lambda: metric(node.metrics(), "hawser_monitor_streams") == 0, 10, interval=0.2)
    assert metric(node.metrics(), "hawser_monitor_streams") == 0


def test_trace_shows_a_published_port_flow_named_at_both_ends(
    node: Node, scenario: dict[str, Any]
) -> None:
    # off by default: the monitor says so rather than waiting in silence
    off = node.spawn([HAWSER, "--socket", str(node.socket), "monitor", "--type", "trace"],
                     lines=True)  # fmt: skip
    assert off.err is not None
    assert off.err.until(lambda line: "tracing is off" in line, 15)[-1] == TRACE_OFF
    off.stop(5, sig=signal.SIGINT)
    assert node.get("/v1/monitor/config")["EffectiveTraceSampleRate"] == 0

    proc, out = _monitor(node, "--type", "trace", "--trace-sample-rate", "1", "--format", "json",
                         "--container", "web")  # fmt: skip
    assert node.get("/v1/monitor/config")["EffectiveTraceSampleRate"] == 1  # while it runs
    r = sh(*netns_exec(node.ext_ns, PY, "-c", HTTP_GET, f"http://{node.node_ip}:8080/", "1"))
    assert r.stdout.split() == ["200"]

    def inbound(line: str) -> bool:
        ev = json.loads(line)
        return (ev["direction"], ev["src"]) == ("from_uplink", node.ext_ip)

    seen = out.until(inbound, 10)
    assert seen and inbound(seen[-1]), seen
    event = json.loads(seen[-1])
    assert (event["type"], event["verdict"], event["reason"]) == ("trace", "forward", "forwarded")
    # as delivered: translated to the backend, both ends named
    assert (event["dst"], event["dport"]) == (scenario["ips"]["web"], 80)
    assert (event["src_container"], event["dst_container"]) == ("", "web")
    assert all(json.loads(line)["type"] == "trace" for line in seen)
    proc.stop(5, sig=signal.SIGINT)
    # the stream's rate goes with it: the node is back to no tracing
    until(lambda: node.get("/v1/monitor/config")["EffectiveTraceSampleRate"] == 0, 10,
          interval=0.2)  # fmt: skip
    assert node.get("/v1/monitor/config")["EffectiveTraceSampleRate"] == 0


def test_bpf_ct_shows_published_port_flow_with_translation(
    node: Node, scenario: dict[str, Any]
) -> None:
    ips = scenario["ips"]
    rows = json_rows(node.hawser("bpf", "ct", "--addr", node.ext_ip, "--port", "8080",
                                 "--proto", "tcp", "--format", "json").stdout)  # fmt: skip
    live = [r for r in rows if r["type"] == "dnat" and r["state"] == "established"]
    assert live, json.dumps(rows, indent=1)
    flow = live[0]
    # as the flow was opened: the outside client -> the published address -> the backend
    assert (flow["src"], flow["dst"], int(flow["dport"])) == (node.ext_ip, node.node_ip, 8080)
    assert flow["backend"] == f"{ips['web']}:80" and flow["nat_src"] == ""
    assert (flow["src_container"], flow["dst_container"]) == ("", "web")
    # the masqueraded egress connection: opened by egress, its source translated
    snat = json_rows(node.hawser("bpf", "ct", "--addr", ips["egress"], "--format", "json").stdout)
    [out] = [r for r in snat if r["type"] == "snat"]
    assert (out["src"], out["dst"], int(out["dport"])) == (ips["egress"], node.ext_ip, 7000)
    assert out["nat_src"].startswith(node.node_ip + ":") and out["src_container"] == "egress"
    # the table form is readable and a bad filter is a one-line error
    table = node.hawser("bpf", "ct", "--port", "8080").stdout.splitlines()
    assert table[0].split()[:4] == ["PROTO", "SOURCE", "DESTINATION", "BACKEND"]
    assert any(f"{node.ext_ip}:" in ln and f"{ips['web']}:80 (web)" in ln for ln in table), table
    bad = node.hawser("bpf", "ct", "--addr", "nonsense", check=False)
    assert bad.returncode != 0 and "invalid IP address: nonsense" in bad.stderr


def test_bpf_tables_are_named(node: Node, scenario: dict[str, Any]) -> None:
    ports = json_rows(node.hawser("bpf", "ports", "--format", "json").stdout)
    assert [(p["container"], int(p["host_port"]), p["backend_ip"]) for p in ports] == [
        ("web", 8080, scenario["ips"]["web"])
    ]
    assert int(ports[0]["conns"]) >= 1 and int(ports[0]["bytes"]) > 0
    eps = {
        e["container"]: e
        for e in json_rows(node.hawser("bpf", "endpoints", "--format", "json").stdout)
    }
    assert set(eps) == {"web", "cli", "egress"} and {e["network"] for e in eps.values()} == {
        "noicc"
    }
    maps = {m["name"]: m for m in json_rows(node.hawser("bpf", "maps", "--format", "json").stdout)}
    assert maps["hawser_ct"]["entries"] >= 2 and 0 < maps["hawser_ct"]["pressure"] < 1
    nat = json_rows(node.hawser("bpf", "nat", "--format", "json").stdout)
    assert any(r["container"] == "egress" for r in nat), nat
    # stats: only the counters that counted something, unless --all
    shown = json_rows(node.hawser("bpf", "stats", "--format", "json").stdout)
    every = json_rows(node.hawser("bpf", "stats", "--all", "--format", "json").stdout)
    assert shown and all(r["packets"] or r["bytes"] for r in shown)
    assert len(every) > len(shown) and any(not r["packets"] for r in every)
    text = node.fetch(f"http://{node.metrics_address}/metrics")
    assert "hawser_operation_duration_seconds_count" in text and "_created" not in text


#: Rows whose queries need another setup, and the test that proves them on Prometheus
PROVEN_ELSEWHERE = {"Overlay (multi-host)": "tests/kernel/test_overlay.py"}


def _panel_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        stack = list(dash["panels"])
        while stack:
            panel = stack.pop()
            if panel["type"] == "row" and panel["title"] in PROVEN_ELSEWHERE:
                continue  # a cluster's metrics: a single node has none
            stack.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                out.append((path.name, f"{panel['title']} [{target['refId']}]", target["expr"]))
    return out


def grafana_regex_escape(value: str) -> str:
    """How Grafana's Prometheus datasource writes a multi-value variable into a =~ string."""
    return re.sub(r"[$^*{}\[\]'+?.()|\\]", lambda m: "\\\\" + m.group(0), value)


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def test_every_grafana_query_returns_data(node: Node, scenario: dict[str, Any]) -> None:
    assert DASHBOARDS, "no dashboard JSON under grafana/"
    instances = {r["metric"]["instance"] for r in node.promql("hawser_build_info")}
    assert instances == {node.metrics_address}
    values = {
        "instance": grafana_regex_escape(node.metrics_address),
        "container": "web",
        "__rate_interval": "1m",
        "__interval": "5s",
        "__range": "5m",
    }
    _wait_scraped(node)  # the scenario's last traffic is in Prometheus
    queries = _panel_queries()
    assert len(queries) >= 15
    empty = []
    for dashboard, where, expr in queries:
        if not node.promql(_substitute(expr, values)):
            empty.append(f"{dashboard}: {where}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)

    # the values behind the main panels are the traffic this test made
    def value(query: str) -> float:
        result = node.promql(_substitute(query, values))
        return sum(float(r["value"][1]) for r in result)

    assert value('sum(increase(hawser_drop_count_total{reason="icc"}[$__range]))') > 0
    assert value('sum(hawser_port_bytes_total{container="web"})') > 0
    assert value('sum(hawser_endpoint_rx_bytes_total{container="web"})') > 0
    assert value('sum(hawser_endpoint_drop_packets_total{container="cli"})') > 0  # its icc drop
    assert value("sum(hawser_nat_entries)") >= 1  # the egress flow
    assert value('sum(hawser_operation_errors_total{operation="container_remove"})') >= 1
    assert value('sum(hawser_operation_duration_seconds_count{operation="container_create"})') >= 3


def test_removed_container_series_disappear(node: Node, scenario: dict[str, Any]) -> None:
    assert any(("container", "egress") in ls for (_, ls) in node.metrics())
    node.hawser("rm", "-f", "egress")
    samples = node.metrics()
    assert not any(("container", "egress") in ls for (_, ls) in samples)
    assert metric(samples, "hawser_endpoint_rx_bytes_total", container="web") > 0
