"""Debian's dockerd 20.10 on Hawser's datapath, through the Docker plugin the daemon serves.

Each test runs a real Hawser daemon and a real dockerd in one node netns (the plugin socket is
dockerd's /run/docker/plugins/hawser.sock), busybox containers made with ``docker run``, and
clients in the outside netns. What is proven is what a Docker user gets: a Hawser network
from ``docker network create -d hawser``, containers that talk, published ports served by BPF
with the client's address kept (no docker-proxy), icc off, masquerade, the iptables-on dockerd
whose rules Hawser's packets never cross, and nothing left after ``docker rm``/``network rm``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import servers
from testbed.hawser import EXT_IP, UPLINK_IP
from testbed.procs import Proc
from tests.engine_support import (
    NOTHING_LEFT,
    DockerOnHawser,
    curl,
    forward_counters,
    httpd,
    leftovers,
    seen_as,
    wait_served,
)

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

SUBNET, GATEWAY = "10.210.0.0/24", "10.210.0.1"


@pytest.fixture
def dh(tmp_path: Path) -> Iterator[DockerOnHawser]:
    pair = DockerOnHawser(tmp_path)
    try:
        pair.start()
        yield pair
    finally:
        pair.close()


def create_network(dh: DockerOnHawser, name: str, subnet: str, *opts: str) -> None:
    dh.docker(
        "network", "create", "-d", "hawser", "--ipam-driver", "hawser", "--subnet", subnet,
        *opts, name,
    )  # fmt: skip


def udp_echo_in(dh: DockerOnHawser, container: str, port: int) -> Proc:
    """The standard UDP echo server in a container's netns (busybox has no UDP server that
    tells the peer's address)."""
    argv = ["nsenter", f"--net=/proc/{dh.pid_of(container)}/ns/net", servers.PY, "-u", "-c",
            servers.ECHO, "udp", str(port)]  # fmt: skip
    proc = Proc(argv, lines=True)
    dh.node.scope.on_close(proc.stop, key=proc)
    proc.expect("READY", 10)
    return proc


def metrics(dh: DockerOnHawser) -> str:
    address = dh.node.get("/v1/info")["MetricsAddress"]
    return str(
        dh.node.in_node("curl", "-sS", "--max-time", "3", f"http://{address}/metrics").stdout
    )


def sample(text: str, prefix: str) -> float:
    """The value of the one sample of ``text`` whose line starts with ``prefix``."""
    found = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]
    name = prefix.split("{", 1)[0]
    assert len(found) == 1, [line for line in text.splitlines() if line.startswith(name)]
    return found[0]


def test_docker_containers_on_a_hawser_network(dh: DockerOnHawser) -> None:
    node = dh.node
    create_network(dh, "net1", SUBNET)
    dh.docker(
        "run", "-d", "--name", "web", "--network", "net1",
        "-p", "8080:80", "-p", "127.0.0.1:8081:80", "-p", "9000-9001:9000-9001",
        "-p", "5353:5353/udp", "-p", "9002", "busybox", *httpd(9000, 9001, 9002),
    )  # fmt: skip
    web_ip = dh.ip_of("web")
    assert web_ip.startswith("10.210.0.")

    # published ports, served from the outside with the client's address kept
    wait_served(node, f"http://{UPLINK_IP}:8080/cgi-bin/ip", seen_as(EXT_IP))
    ps = dh.named("web")  # Docker's name reaches Hawser shortly after the start (names.py)
    picked = int(node.cli("port", "web", "9002").stdout.rsplit(":", 1)[1])  # -p 9002: Hawser's
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= picked <= high
    for port in (9000, 9001, picked):
        assert curl(node, f"http://{UPLINK_IP}:{port}/") == "busybox httpd\n"
    udp_echo_in(dh, "web", 5353)
    got = servers.client(node.ext_ns, "udp", UPLINK_IP, 5353, "dns?")
    assert got["reply"]["peer"][0] == EXT_IP and got["from"] == [UPLINK_IP, 5353]
    # 127.0.0.1:8081 is the node's own (no proxy: the socket hook), not the outside's
    assert curl(node, "http://127.0.0.1:8081/", ext=False) == "busybox httpd\n"
    assert curl(node, f"http://{UPLINK_IP}:8081/", timeout=1) == ""
    assert curl(node, f"http://{UPLINK_IP}:8080/", timeout=1) == "busybox httpd\n"  # control
    assert dh.eng.ns is not None
    procs = [Path(f"/proc/{p}/comm").read_text().strip() for p in dh.eng.ns.pids()]
    assert "dockerd" in procs and "docker-proxy" not in procs

    # Hawser's views show Docker's container under Docker's name and id; Docker's cannot
    docker_id = dh.docker("inspect", "-f", "{{.Id}}", "web").stdout.strip()
    assert (ps["ID"], ps["Owner"]) == (docker_id[:12], "docker")
    assert node.cli("port", "web").stdout.splitlines() == [
        "80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081", "5353/udp -> 0.0.0.0:5353",
        "9000/tcp -> 0.0.0.0:9000", "9001/tcp -> 0.0.0.0:9001", f"9002/tcp -> 0.0.0.0:{picked}",
    ]  # fmt: skip
    assert dh.docker("port", "web").stdout == ""  # Docker reads a type it never fills for plugins
    inspect = node.json("inspect", "web")[0]
    assert inspect["Owner"] == "docker" and inspect["EngineId"] == docker_id
    assert inspect["NetworkSettings"]["Networks"]["net1"]["IPAddress"] == web_ip
    ports = {
        (p["host_port"], p["container"]) for p in node.jsonl("bpf", "ports", "--format", "json")
    }
    assert ports == {(p, "web") for p in (8080, 8081, 9000, 9001, picked, 5353)}
    counted = metrics(dh)  # the datapath's own counters, under Docker's names
    conns = (
        'hawser_port_connections_total{container="web",container_port="80",host_ip="0.0.0.0",'
        'host_port="8080",proto="tcp"}'
    )
    assert sample(counted, conns) >= 2  # the two curls to 8080 that were answered
    assert sample(counted, 'hawser_endpoint_rx_packets_total{container="web",network="net1"}') > 0

    # two containers on the network reach each other and the gateway
    out = dh.docker(
        "run", "--rm", "--network", "net1", "busybox", "sh", "-c",
        f"ping -c1 -W2 {GATEWAY} >/dev/null && timeout 5 wget -qO- http://{web_ip}/cgi-bin/ip",
    ).stdout  # fmt: skip
    assert out.startswith("[::ffff:10.210.0.") and web_ip not in out  # the peer's own address

    # masquerade: the outside host sees the node's address
    servers.serve(node.scope, node.ext_ns, "tcp", 7000)
    out = dh.docker(
        "run", "--rm", "--network", "net1", "busybox", "sh", "-c",
        f"echo out | timeout 5 nc {EXT_IP} 7000",
    ).stdout  # fmt: skip
    assert json.loads(out.splitlines()[0])["peer"][0] == UPLINK_IP

    # icc off: containers of that network cannot talk; the same client reaches its gateway
    create_network(dh, "quiet", "10.211.0.0/24", "--gateway", "10.211.0.254", "--ip-range",
                   "10.211.0.128/25", "--aux-address", "printer=10.211.0.129",
                   "-o", "com.docker.network.bridge.enable_icc=false")  # fmt: skip
    dh.docker("run", "-d", "--name", "q1", "--network", "quiet", "busybox", *httpd())
    q1 = dh.ip_of("q1")
    assert q1 == "10.211.0.130"  # in the range, past the aux address
    out = dh.docker(
        "run", "--rm", "--network", "quiet", "busybox", "sh", "-c",
        f"ping -c1 -W2 10.211.0.254 >/dev/null && echo gateway; timeout 2 wget -qO- http://{q1}/"
        " || echo blocked",
    ).stdout  # fmt: skip
    assert out.split() == ["gateway", "blocked"]

    # a second Hawser network joins the same sandbox, and leaves it
    dh.docker("network", "connect", "quiet", "web")
    assert set(node.json("inspect", "web")[0]["NetworkSettings"]["Networks"]) == {"net1", "quiet"}
    assert curl(node, f"http://{UPLINK_IP}:8080/", timeout=1) == "busybox httpd\n"
    dh.docker("network", "disconnect", "quiet", "web")
    assert set(node.json("inspect", "web")[0]["NetworkSettings"]["Networks"]) == {"net1"}

    # a refusal reads as Hawser's one line; Docker rolls IPAM back
    bad = dh.docker(
        "network", "create", "-d", "hawser", "--ipam-driver", "hawser", "--subnet",
        "10.212.0.0/24", "-o", "com.docker.network.bridge.enable_icc=maybe", "bad", check=False,
    )  # fmt: skip
    assert "remote: failed to parse com.docker.network.bridge.enable_icc value: maybe" in (
        bad.stderr
    )
    taken = dh.docker("run", "--rm", "--network", "net1", "-p", "8080:80", "busybox", "true",
                      check=False)  # fmt: skip
    assert "remote: Bind for 0.0.0.0:8080 failed: port is already allocated" in taken.stderr
    overlap = dh.docker("network", "create", "-d", "hawser", "--subnet", "10.210.0.0/16", "o",
                        check=False)  # fmt: skip
    assert "Pool overlaps with other one on this address space" in overlap.stderr
    # Docker's objects change only through Docker
    for argv, what in (
        (("rm", "-f", "web"), "container web"),
        (("exec", "web", "--", "true"), "container web"),
        (("stop", "web"), "container web"),
        (("start", "web"), "container web"),
        (("restart", "web"), "container web"),
        (("kill", "web"), "container web"),
        (("attach", "web"), "container web"),
        (("logs", "web"), "container web"),
        (("network", "rm", "net1"), "network net1"),
        (("run", "--network", "net1", "--", "true"), "network net1"),
    ):
        refused = node.cli(*argv, check=False)
        assert refused.returncode != 0  # 1, or 125 for run (as docker run)
        assert refused.stderr.splitlines()[0].endswith(  # start adds Docker's summary line
            f"{what} is managed by Docker: change it there, not with hawser"
        ), refused.stderr

    # Docker's removals leave nothing: no link, no map entry, no row, no sandbox
    dh.docker("rm", "-f", "web", "q1")
    dh.docker("network", "rm", "net1", "quiet")
    assert leftovers(node) == NOTHING_LEFT
    assert dh.docker_netns() == []
    assert curl(node, f"http://{UPLINK_IP}:8080/", timeout=1) == ""


def test_dockerd_with_iptables_keeps_its_rules_and_never_sees_hawser_packets(
    tmp_path: Path,
) -> None:
    dh = DockerOnHawser(tmp_path, iptables=True)
    try:
        dh.start(docker_first=True)
        node = dh.node
        node.in_node("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")  # bridged: filtered
        rules = forward_counters(node)
        assert ":FORWARD DROP" in "\n".join(rules)  # dockerd's policy for the node
        assert any("-o docker0" in r for r in rules)
        create_network(dh, "net1", SUBNET)
        dh.docker("run", "-d", "--name", "web", "--network", "net1", "-p", "8080:80",
                  "busybox", *httpd())  # fmt: skip
        wait_served(node, f"http://{UPLINK_IP}:8080/cgi-bin/ip", seen_as(EXT_IP))
        servers.serve(node.scope, node.ext_ns, "tcp", 7000)
        web_ip = dh.ip_of("web")

        # the gateway answers a new container (its ARP first): the node's own address
        ping = f"ping -c1 -W2 {GATEWAY} >/dev/null && ip neigh show {GATEWAY} | grep -c lladdr"
        assert dh.docker("run", "--rm", "--network", "net1", "busybox", "sh", "-c",
                         ping).stdout == "1\n"  # fmt: skip

        # forwarded traffic: same network, masquerade out, a published port from outside
        dh.docker("run", "-d", "--name", "client", "--network", "net1", "busybox", "sleep", "600")
        before = forward_counters(node)
        out = dh.docker(
            "exec", "client", "sh", "-c",
            f"timeout 5 wget -qO- http://{web_ip}/; echo out | timeout 5 nc {EXT_IP} 7000",
        ).stdout.splitlines()  # fmt: skip
        assert out[0] == "busybox httpd"
        assert json.loads(out[1])["peer"][0] == UPLINK_IP
        assert curl(node, f"http://{UPLINK_IP}:8080/cgi-bin/ip") == seen_as(EXT_IP)
        after = forward_counters(node)
        # Docker's rules are as Docker made them and not one counter moved for Hawser's packets
        assert after == before

        # control: Docker's own bridge traffic is counted by those rules
        dh.docker("run", "--rm", "busybox", "ping", "-c1", "-W2", "172.31.250.1")
        dh.docker("run", "--rm", "busybox", "sh", "-c", f"echo x | timeout 5 nc {EXT_IP} 7000")
        assert forward_counters(node) != after
        # Docker's own IPAM works too (Hawser takes the addresses it is given); internal: no
        # default route, and nothing beyond the network
        dh.docker("network", "create", "-d", "hawser", "--subnet", "10.216.0.0/24", "--internal",
                  "dipam")  # fmt: skip
        out = dh.docker(
            "run",
            "--rm",
            "--network",
            "dipam",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ip route; ping -c1 -W2 10.216.0.1 >/dev/null "
            f"&& echo gw; echo x | timeout 2 nc {EXT_IP} 7000 || echo cut off",
        )
        assert "inet 10.216.0.2/24" in out.stdout and "default" not in out.stdout
        assert out.stdout.endswith("gw\ncut off\n")
        dh.docker("rm", "-f", "web", "client")
        dh.docker("network", "rm", "net1", "dipam")
        assert leftovers(node) == NOTHING_LEFT
        assert [r.split("] ", 1)[-1] for r in forward_counters(node)] == [
            r.split("] ", 1)[-1] for r in rules
        ], "Docker's ruleset is what Docker made"
    finally:
        dh.close()
