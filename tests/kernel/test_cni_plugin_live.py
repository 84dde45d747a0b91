"""The real ``hawser-cni`` executable driven by the real podman 4.3 (CNI backend).

The daemon side is a stub of the contract in controller/plugins/cni/client.py that does the
kernel work with ``ip`` (phase B does it through the operations layer): a veth per ADD, its
container side moved into the runtime's netns — opened through ``/proc/<plugin pid>/root``,
since podman's netns file exists only in podman's mount namespace — and the result returned.
What this proves is the plugin and the contract under a real runtime: the invocation podman
makes, that it accepts the result, DEL on removal.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.engines import PodmanEngine
from testbed.hawser import REPO, UPLINK_IP, HawserNode
from testbed.shell import sh
from tests.cni_stub_daemon import StubDaemon

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

SUBNET, GATEWAY = "10.88.0.0/24", "10.88.0.1"


class KernelStub:
    """ADD: a veth on bridge ``hwbcni`` (the gateway) in the node netns; DEL: delete it."""

    def __init__(self, node: HawserNode, socket_path: Path) -> None:
        self.node = node
        self.hosts = itertools.count(2)
        self.macs: dict[str, str] = {}  # container id -> the MAC the result reported
        self.daemon = StubDaemon(socket_path, self.answer)
        node.in_node("ip", "link", "add", "hwbcni", "type", "bridge")
        node.in_node("ip", "addr", "add", f"{GATEWAY}/24", "dev", "hwbcni")
        node.in_node("ip", "link", "set", "hwbcni", "up")

    def answer(self, path: str, body: dict[str, Any], pid: int) -> tuple[int, dict[str, Any]]:
        host = f"hwv{body['containerId'][:11]}"
        if path == "/cni/v1/del":
            self.node.in_node("ip", "link", "del", host, check=False)  # gone already: fine
            return 200, {}
        if path != "/cni/v1/add":
            return 404, {"message": f"no {path}"}
        netns = f"/proc/{pid}/root{body['netns']}"  # the runtime's mount namespace
        peer, ifname = f"hwc{body['containerId'][:11]}", body["ifName"]
        address = f"10.88.0.{next(self.hosts)}"
        self.node.in_node("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        self.node.in_node("ip", "link", "set", host, "master", "hwbcni", "up")
        self.node.in_node("ip", "link", "set", peer, "netns", netns)
        inside = ("nsenter", f"--net={netns}", "ip")
        sh(*inside, "link", "set", peer, "name", ifname)
        sh(*inside, "addr", "add", f"{address}/24", "dev", ifname)
        sh(*inside, "link", "set", ifname, "up")
        sh(*inside, "route", "add", "default", "via", GATEWAY)
        mac = sh(*inside, "-br", "link", "show", ifname).stdout.split()[2]
        self.macs[body["containerId"]] = mac
        return 200, {
            "interfaces": [{"name": ifname, "mac": mac, "sandbox": body["netns"]}],
            "ips": [{"address": f"{address}/24", "gateway": GATEWAY, "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": GATEWAY}],
            "dns": {"nameservers": [GATEWAY]},
        }

    def close(self) -> None:
        self.daemon.close()


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[tuple[HawserNode, PodmanEngine, KernelStub]]:
    node = HawserNode(tmp_path / "node")
    bin_dir = tmp_path / "cni-bin"  # test-local: not the machine's /usr/lib/cni
    bin_dir.mkdir()
    (bin_dir / "hawser-cni").symlink_to(REPO / ".venv" / "bin" / "hawser-cni")
    eng = PodmanEngine(node.node_ns, tmp_path / "p", node.tag, plugin_dirs=[str(bin_dir)])
    stub = KernelStub(node, tmp_path / "hawser.sock")
    try:
        eng.start()
        eng.import_busybox()
        node.in_node("sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", node.ext_ns, "route", "add", SUBNET, "via", UPLINK_IP)
        yield node, eng, stub
    finally:
        eng.close()
        stub.close()
        node.close()


def test_podman_runs_hawser_cni_and_accepts_its_result(
    podman: tuple[HawserNode, PodmanEngine, KernelStub], tmp_path: Path
) -> None:
    node, eng, stub = podman
    net = f"t{node.tag}"
    eng.add_conflist(
        net,
        [{"type": "hawser-cni", "socket": str(tmp_path / "hawser.sock"),
          "capabilities": {"portMappings": True}}],
    )  # fmt: skip
    cid = eng.run("-d", "--name", "web", "--network", net, "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp",
                  "localhost/busybox", "httpd", "-f", "-p", "80", "-h", "/www")  # fmt: skip

    [(path, body, pid)] = stub.daemon.requests
    assert path == "/cni/v1/add"
    assert body["containerId"] == cid and body["ifName"] == "eth0"
    assert body["network"] == net and body["cniVersion"] == "1.0.0"
    assert body["netns"].startswith("/run/netns/netns-")
    assert not Path(body["netns"]).exists()  # only in podman's mount namespace
    assert sorted(body["portMappings"], key=str) == sorted(
        [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
            {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
        ],
        key=str,
    )
    assert body["args"]["IgnoreUnknown"] == "1" and body["args"]["K8S_POD_NAME"] == "web"

    fmt = f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}} {{{{(index .NetworkSettings.Networks "{net}").MacAddress}}}}'
    ip, mac = eng.podman("inspect", "web", "--format", fmt).stdout.decode().split()
    assert (ip, mac) == ("10.88.0.2", stub.macs[cid])  # podman took our result
    url = f"http://{ip}/"
    assert node.in_ext("curl", "-sS", "--max-time", "3", url).stdout == "busybox httpd\n"
    got = eng.run(
        "--rm", "--network", net, "localhost/busybox", "timeout", "5", "wget", "-qO-", url
    )
    assert got == "busybox httpd"  # a second pod on the same network reaches the first

    eng.podman("rm", "--force", "--time=0", "web")
    dels = [b for p, b, _ in stub.daemon.requests if p == "/cni/v1/del" and b["containerId"] == cid]
    assert dels, "podman rm -f called DEL"
    assert node.in_node("ip", "link", "show", f"hwv{cid[:11]}", check=False).returncode != 0
    assert node.in_ext("curl", "-sS", "--max-time", "2", url, check=False).returncode != 0
