"""Debian's dockerd 20.10 and podman 4.3 run inside a test's node netns and leave nothing behind.

These prove the fixtures of testbed/engines.py that the Docker-plugin and CNI tests
build on: the engines start, run busybox (imported from busybox-static), podman serves httpd
through a plain CNI bridge conflist to another test netns, and after stop() there is no
process, mount, cgroup, netns, link or host rule of theirs left.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.census import host_mounts_under, host_ruleset, netns_ruleset
from testbed.engines import DockerEngine, PodmanEngine, cgroup_dirs
from testbed.hawser import UPLINK_IP, HawserNode
from testbed.shell import sh

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

APPLETS = ["/bin/sh", "/usr/sbin/httpd", "/usr/bin/nc", "/usr/bin/wget", "/sbin/ip"]


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[HawserNode]:
    """The harness's node + ext netns; no Hawser daemon (the engines alone are under test)."""
    hn = HawserNode(tmp_path / "node")
    try:
        yield hn
    finally:
        hn.close()


def host_links() -> list[str]:
    """Links of the root netns, less the t-* veths other tests create there for a moment."""
    lines = sh("ip", "-o", "link", "show").stdout.splitlines()
    names = [line.split(": ")[1].split("@")[0] for line in lines]
    return sorted(n for n in names if not n.startswith("t-"))


def podman_netns_in_host() -> list[str]:
    return [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith("netns-")]


def host_snapshot() -> dict[str, object]:
    """What an engine could change on the host: rules, links, forwarding, state dirs, key."""
    return {
        "ruleset": host_ruleset(),
        "links": host_links(),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
        "run": sorted(
            p for p in ("/run/docker", "/run/containerd", "/run/runc") if Path(p).exists()
        ),
        "varlib": sorted(p for p in ("/var/lib/cni", "/var/lib/containers") if Path(p).exists()),
        "key": Path("/etc/docker/key.json").exists(),
    }


def netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def test_dockerd_runs_busybox_in_the_node_netns_and_leaves_nothing(
    topo: HawserNode, tmp_path: Path
) -> None:
    before = host_snapshot()
    eng = DockerEngine(topo.node_ns, tmp_path / "d", topo.tag)
    try:
        eng.start()
        pid = int(eng.pidfile.read_text())
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == netns_inode(topo.node_ns)
        eng.import_busybox()
        assert eng.docker("run", "--rm", "--network", "none", "busybox", "true").returncode == 0
        found = eng.docker(
            "run", "--rm", "--network", "none", "busybox", "sh", "-c",
            "which sh httpd nc wget ip",
        ).stdout.split()  # fmt: skip
        assert found == APPLETS

        eng.docker("run", "-d", "--name", "idle", "--network", "none", "busybox", "sleep", "600")
        # the container's overlay root is mounted in the engine's namespace, not the host's
        engine_mounts = Path(f"/proc/{pid}/mountinfo").read_text()
        assert str(eng.data_root) in engine_mounts
        assert host_mounts_under(tmp_path) == []
        assert Path(f"/proc/{pid}/root/run/containerd/s").is_dir()  # shim sockets: private
        assert cgroup_dirs(eng.cgroup_parent), "the container's cgroup parent exists while it runs"
        assert netns_ruleset(topo.node_ns) == "", "--iptables=false writes no rule"
    finally:
        eng.stop()

    assert eng.ns is None and not Path(f"/proc/{pid}").exists()
    assert cgroup_dirs(eng.cgroup_parent) == []
    assert host_mounts_under(tmp_path) == []
    assert host_snapshot() == before


def test_dockerd_with_iptables_programs_only_the_node_netns(
    topo: HawserNode, tmp_path: Path
) -> None:
    before = host_snapshot()
    eng = DockerEngine(topo.node_ns, tmp_path / "d", topo.tag, iptables=True, bip="172.31.250.1/24")
    try:
        eng.start()
        eng.import_busybox()
        out = eng.docker(
            "run", "--rm", "busybox", "sh", "-c", "ip -4 addr show eth0; ping -c1 -W2 172.31.250.1"
        ).stdout  # fmt: skip
        assert "inet 172.31.250." in out and "1 packets received" in out
        rules = netns_ruleset(topo.node_ns)
        assert ":DOCKER-ISOLATION-STAGE-1" in rules
        assert "-A POSTROUTING -s 172.31.250.0/24 ! -o docker0 -j MASQUERADE" in rules
        assert topo.in_node("ip", "link", "show", "docker0").returncode == 0
        assert host_snapshot() == before, "dockerd touched the host"
    finally:
        eng.stop()
    assert host_snapshot() == before


def test_podman_cni_bridge_serves_httpd_to_another_netns(topo: HawserNode, tmp_path: Path) -> None:
    before = host_snapshot()
    eng = PodmanEngine(topo.node_ns, tmp_path / "p", topo.tag)
    net, bridge, subnet = f"t{topo.tag}", f"t-{topo.tag}-br", "10.77.0.0/24"
    try:
        eng.start()
        eng.import_busybox()
        eng.add_conflist(
            net,
            [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(tmp_path / "ipam"),
                    },
                }
            ],
        )
        topo.in_node("sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", topo.ext_ns, "route", "add", subnet, "via", UPLINK_IP)

        eng.run("-d", "--name", "web", "--network", net, "localhost/busybox",
                "httpd", "-f", "-p", "80", "-h", "/www")  # fmt: skip
        ip = eng.podman(
            "inspect", "web", "--format", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}'
        ).stdout.decode().strip()  # fmt: skip
        assert ip.startswith("10.77.0.")
        url = f"http://{ip}/"
        assert topo.in_ext("curl", "-sS", "--max-time", "3", url).stdout == "busybox httpd\n"
        # a second container on the same network reaches the first
        # busybox-static 1.35's `wget -T` segfaults (even on the host): bound it with timeout
        got = eng.run(
            "--rm", "--network", net, "localhost/busybox", "timeout", "5", "wget", "-qO-", url
        )  # fmt: skip
        assert got == "busybox httpd"
        # the bridge is the node's, podman's netns bind mounts live in the engine's namespace
        assert topo.in_node("ip", "link", "show", bridge).returncode == 0
        assert sh("ip", "link", "show", bridge, check=False).returncode != 0
        assert eng.ns is not None
        assert list(Path(f"/proc/{eng.ns.pid}/root/run/netns").glob("netns-*"))
        assert podman_netns_in_host() == []

        eng.podman("rm", "--force", "--time=0", "web")
        gone = topo.in_ext("curl", "-sS", "--max-time", "2", url, check=False)
        assert gone.returncode != 0, "httpd still answers after podman rm -f"
    finally:
        eng.stop()

    assert cgroup_dirs(eng.cgroup_parent) == []
    assert host_mounts_under(tmp_path) == []
    assert host_snapshot() == before
