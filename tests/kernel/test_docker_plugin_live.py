"""The Docker plugin protocol layer driven by the real dockerd 20.10, not by hand-made JSON.

The backend is the test's in-memory fake plus just enough kernel work (a bridge holding the
gateway, a veth per endpoint, made in the node netns with ``ip``) for Docker to move the
interface into the container. The point is the protocol: what dockerd sends for each command
and that it accepts every answer (the recording in tests/unit/data comes from here). The
real backend over the operations layer is driven by dockerd in test_docker_engine.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from controller.plugins.docker import PluginServer, write_spec
from controller.plugins.docker.backend import AddressKind, EndpointSpec, ExposedPort, NetworkSpec
from controller.rules.portspec import PortBinding
from testbed.engines import DockerEngine
from testbed.hawser import HawserNode
from testbed.shell import sh
from tests.docker_plugin_fake import FakeBackend, container_side, host_side

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


class KernelFake(FakeBackend):
    """FakeBackend that also makes the links Docker expects to find in the node netns."""

    def __init__(self, netns: str) -> None:
        super().__init__()
        self.netns = netns

    def ip(self, *args: str) -> None:
        sh("ip", "-n", self.netns, *args)

    def bridge(self, network_id: str) -> str:
        return f"hwb{network_id[:11]}"

    def create_network(self, spec: NetworkSpec) -> None:
        super().create_network(spec)
        self.ip("link", "add", self.bridge(spec.network_id), "type", "bridge")
        if spec.gateway is not None:
            self.ip("addr", "add", str(spec.gateway), "dev", self.bridge(spec.network_id))
        self.ip("link", "set", self.bridge(spec.network_id), "up")

    def delete_network(self, network_id: str) -> None:
        super().delete_network(network_id)
        sh("ip", "-n", self.netns, "link", "del", self.bridge(network_id), check=False)

    def create_endpoint(self, spec: EndpointSpec) -> str:
        mac = super().create_endpoint(spec)
        host, cont = host_side(spec.endpoint_id), container_side(spec.endpoint_id)
        self.ip("link", "add", host, "type", "veth", "peer", "name", cont)
        self.ip("link", "set", cont, "address", mac)
        self.ip("link", "set", host, "master", self.bridge(spec.network_id), "up")
        return mac

    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        super().delete_endpoint(network_id, endpoint_id)
        sh("ip", "-n", self.netns, "link", "del", host_side(endpoint_id), check=False)


@pytest.fixture
def docker(tmp_path: Path) -> Iterator[tuple[HawserNode, DockerEngine]]:
    node = HawserNode(tmp_path / "node")
    eng = DockerEngine(node.node_ns, tmp_path / "d", node.tag)
    try:
        eng.start()
        eng.import_busybox()
        yield node, eng
    finally:
        eng.close()
        node.close()


def node_links(node: HawserNode) -> list[str]:
    out = node.in_node("ip", "-o", "link", "show").stdout.splitlines()
    return [line.split(": ")[1].split("@")[0] for line in out if ": hw" in line]


def test_dockerd_drives_network_ipam_join_and_ports(
    docker: tuple[HawserNode, DockerEngine],
) -> None:
    node, eng = docker
    assert eng.ns is not None
    backend = KernelFake(node.node_ns)
    server = PluginServer(backend, eng.ns.plugin_dir / "hawser.sock")  # /run/docker/plugins
    try:
        eng.docker(
            "network", "create", "-d", "hawser", "--ipam-driver", "hawser",
            "--subnet", "10.200.0.0/24", "--aux-address", "printer=10.200.0.250",
            "-o", "com.docker.network.bridge.enable_icc=false", "--label", "team=blue", "net1",
        )  # fmt: skip
        pool = backend.last("request_pool")
        assert pool.pool == IPv4Network("10.200.0.0/24") and pool.sub_pool is None
        kinds = [(r.kind, r.address) for n, r in backend.calls if n == "request_address"]
        # no --gateway: Docker takes the one in RequestPool's Data and does not ask for it
        assert kinds == [(AddressKind.ENDPOINT, IPv4Address("10.200.0.250"))]  # the aux address
        spec = backend.last("create_network")
        assert spec.subnet == IPv4Network("10.200.0.0/24")
        assert spec.gateway == IPv4Interface("10.200.0.1/24")
        assert spec.aux_addresses == {"printer": IPv4Address("10.200.0.250")}
        assert spec.options["com.docker.network.bridge.enable_icc"] == "false"
        assert spec.internal is False

        out = eng.docker(
            "run", "--rm", "--network", "net1", "-p", "8080:80", "-p", "127.0.0.1:8081:80/udp",
            "-p", "9000-9001:90", "-p", "53", "--expose", "7000", "busybox",
            "sh", "-c", "ip -4 addr show eth0; ip link show eth0; ip route; ping -c1 -W2 10.200.0.1",
        ).stdout  # fmt: skip
        assert "inet 10.200.0.2/24" in out
        assert "link/ether 02:42:0a:c8:00:02" in out  # the MAC the backend chose
        assert "default via 10.200.0.1 dev eth0" in out
        assert "1 packets received" in out

        ep = backend.last("create_endpoint")
        assert ep.address == IPv4Interface("10.200.0.2/24") and ep.mac is None
        program = backend.last("program")
        assert program.endpoint_id == ep.endpoint_id
        assert sorted(program.ports, key=str) == sorted(
            [
                PortBinding("tcp", 80, "", 8080, 8080),
                PortBinding("udp", 80, "127.0.0.1", 8081, 8081),
                PortBinding("tcp", 90, "", 9000, 9001),
                PortBinding("tcp", 53, "", None, None),  # -p 53: Hawser picks the host port
            ],
            key=str,
        )
        assert set(program.exposed) == {
            ExposedPort(80, "tcp"), ExposedPort(80, "udp"), ExposedPort(90, "tcp"),
            ExposedPort(53, "tcp"), ExposedPort(7000, "tcp"),
        }  # fmt: skip
        # the whole conversation; --rm tears down with a Revoke that carries no bindings
        assert [n for n in backend.names() if n != "endpoint_info"] == [
            "request_pool", "request_address", "create_network",  # network create
            "request_address", "create_endpoint", "join", "program",  # run
            "revoke", "leave", "delete_endpoint", "release_address",  # exit with --rm
        ]  # fmt: skip
        assert "endpoint_info" in backend.names()  # docker asks while the container runs
        assert backend.last("revoke") == (ep.network_id, ep.endpoint_id)
        assert ("release_address", ("hawser-10.200.0.0/24", IPv4Address("10.200.0.2"))) in (
            backend.calls
        )
        assert node_links(node) == [backend.bridge(ep.network_id)]  # veth gone with the ep

        # a refusal reaches the user as "remote: <message>", and Docker rolls IPAM back
        bad = eng.docker(
            "network", "create", "-d", "hawser", "--ipam-driver", "hawser",
            "--subnet", "10.201.0.0/24", "-o", "com.docker.network.bridge.enable_icc=maybe", "bad",
            check=False,
        )  # fmt: skip
        assert bad.returncode != 0
        assert "remote: invalid value for com.docker.network.bridge.enable_icc (maybe)" in (
            bad.stderr
        )
        assert backend.last("release_pool") == "hawser-10.201.0.0/24"
        # Docker cannot show a remote driver's ports: it reads them from EndpointOperInfo
        # through a Go type only its built-in drivers fill, so even Docker's own JSON shape in
        # the answer shows nothing. hawser ps / hawser port are where they are seen.
        eng.docker("run", "-d", "--name", "pub", "--network", "net1", "-p", "8080:80",
                   "busybox", "sleep", "600")  # fmt: skip
        pub = backend.last("program")
        assert pub.ports == (PortBinding("tcp", 80, "", 8080, 8080),)
        assert backend.endpoint_info(pub.network_id, pub.endpoint_id)[
            "com.docker.network.portmap"
        ], "the backend does report the binding"
        assert eng.docker("port", "pub").stdout == ""
        assert eng.docker("ps", "--filter", "name=pub", "--format", "{{.Ports}}").stdout == "\n"
        eng.docker("rm", "-f", "pub")
        taken = eng.docker(
            "run", "--rm", "--network", "net1", "--ip", "10.200.0.250", "busybox", "true",
            check=False,
        )  # fmt: skip
        assert taken.returncode != 0
        assert "remote: Address already in use: 10.200.0.250" in taken.stderr

        eng.docker("network", "rm", "net1")
        # IPAM is released first — the gateway too, though Docker took it from Data and never
        # asked for it — and DeleteNetwork comes last
        assert backend.calls[-4:] == [
            ("release_address", ("hawser-10.200.0.0/24", IPv4Address("10.200.0.1"))),
            ("release_address", ("hawser-10.200.0.0/24", IPv4Address("10.200.0.250"))),
            ("release_pool", "hawser-10.200.0.0/24"),
            ("delete_network", spec.network_id),
        ]
        assert node_links(node) == []
    finally:
        server.close()


def test_dockerd_finds_the_plugin_through_a_spec_file(
    docker: tuple[HawserNode, DockerEngine], tmp_path: Path
) -> None:
    node, eng = docker
    assert eng.ns is not None
    backend = KernelFake(node.node_ns)
    sock = tmp_path / "elsewhere.sock"
    server = PluginServer(backend, sock)
    spec = write_spec(sock, eng.ns.spec_dir, "hawserspec")  # /etc/docker/plugins/hawserspec.spec
    try:
        assert spec.read_text() == f"unix://{sock}\n"
        eng.docker(
            "network", "create", "-d", "hawserspec", "--ipam-driver", "hawserspec",
            "--subnet", "10.202.0.0/24", "--gateway", "10.202.0.254", "--internal", "net2",
        )  # fmt: skip
        spec_seen = backend.last("create_network")
        assert spec_seen.internal is True
        assert spec_seen.gateway == IPv4Interface("10.202.0.254/24")
        gw = [r for n, r in backend.calls if n == "request_address"][0]
        assert (gw.kind, gw.address) == (AddressKind.GATEWAY, IPv4Address("10.202.0.254"))
        out = eng.docker("run", "--rm", "--network", "net2", "busybox", "ip", "route").stdout
        assert "default" not in out and "10.202.0.0/24 dev eth0" in out
        eng.docker("network", "rm", "net2")
        assert backend.names()[-2:] == ["release_pool", "delete_network"]
    finally:
        server.close()
