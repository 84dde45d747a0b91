"""The dataplane configurations compared: no NAT (the limit), Docker's iptables layout, Hawser.

Each variant owns one topology and knows where a client must connect for each kind of test.
`set_extra(n)` adds n other published ports (the N of S2/S3) the way that variant would.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from bench import docker_proxy
from bench.hawser_driver import HawserNode
from bench.iptables_layout import Published, ruleset
from bench.proc import RUN_ID, in_ns, sh, spawn, wait_until
from bench.topology import EXT_IP, NODE_IP, SRV_IP, UPLINK, BaselineNode, Link

SRV_PORT = 80  # loadgen server (TCP and UDP) in the server container
IPERF_PORT = 5201
PUB_PORT = 8080  # published host port of SRV_PORT
MASQ_SERVER_PORT = 9000  # loadgen server in ext for S8 (one port per run: fresh NAT tuples)
MASQ_SERVER_PORTS = 32


@dataclass(frozen=True)
class Target:
    host: str
    port: int


class Variant:
    """Common surface; subclasses fill the targets."""

    label = ""
    kind = ""
    extra = 0
    ext = ""
    node = ""

    def __init__(self, loadgen: str) -> None:
        self.loadgen = loadgen

    def setup(self) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        raise NotImplementedError

    def set_extra(self, n: int) -> None:
        raise NotImplementedError

    def published(self) -> Target:
        """Where ext reaches the server's TCP/UDP port."""
        return Target(NODE_IP, PUB_PORT)

    def published_iperf(self) -> Target:
        return Target(NODE_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        """(loadgen, iperf3) targets for a client in the node netns (S5)."""
        return Target("127.0.0.1", PUB_PORT), Target("127.0.0.1", IPERF_PORT)

    def in_server(self, *cmd: str) -> list[str]:
        """Argv running cmd inside the server container's netns (S8 client)."""
        raise NotImplementedError

    def _start_ext_server(self) -> None:
        spawn(
            in_ns(self.ext, self.loadgen, "server", str(MASQ_SERVER_PORT), str(MASQ_SERVER_PORTS))
        )

    def config_label(self) -> str:
        return self.label if self.kind == "nonat" else f"{self.label} N={self.extra}"


def _wait_tcp(ns_argv: list[str], host: str, port: int) -> None:
    """Wait until host:port accepts a TCP connection, probing from inside a netns."""
    probe = [
        *ns_argv,
        "python3",
        "-c",
        f"import socket; socket.create_connection(({host!r}, {port}), timeout=0.5).close()",
    ]

    def ok() -> bool:
        return subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode == 0

    wait_until(ok, 20, f"{host}:{port} to accept connections", interval=0.1)


class NoNat(Variant):
    """Client in ext reaches the server's own address, routed, no rules at all: the limit."""

    label = "no NAT"
    kind = "nonat"

    def setup(self) -> None:
        self.topo = BaselineNode("nonat")
        self.topo.build()
        self.ext, self.node = self.topo.ext, self.topo.node
        spawn(in_ns(self.topo.srv, self.loadgen, "server", str(SRV_PORT)))
        spawn(in_ns(self.topo.srv, "iperf3", "-s", "-p", str(IPERF_PORT)))
        self._start_ext_server()
        _wait_tcp(in_ns(self.ext), SRV_IP, SRV_PORT)
        _wait_tcp(in_ns(self.ext), SRV_IP, IPERF_PORT)

    def set_extra(self, n: int) -> None:
        if n:
            raise ValueError("no NAT has no published ports")

    def published(self) -> Target:
        return Target(SRV_IP, SRV_PORT)

    def published_iperf(self) -> Target:
        return Target(SRV_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        return Target(SRV_IP, SRV_PORT), Target(SRV_IP, IPERF_PORT)

    def in_server(self, *cmd: str) -> list[str]:
        return in_ns(self.topo.srv, *cmd)

    def teardown(self) -> None:
        if hasattr(self, "topo"):
            self.topo.destroy()


class Iptables(NoNat):
    """Docker 20.10's rules inside the node netns; node-local access through docker-proxy."""

    label = "iptables"
    kind = "iptables"

    def setup(self) -> None:
        self.topo = BaselineNode("ipt")
        self.topo.build()
        self.ext, self.node = self.topo.ext, self.topo.node
        spawn(in_ns(self.topo.srv, self.loadgen, "server", str(SRV_PORT)))
        spawn(in_ns(self.topo.srv, "iperf3", "-s", "-p", str(IPERF_PORT)))
        self._start_ext_server()
        self.set_extra(0)
        # dockerd starts one docker-proxy per published port (userland-proxy=true, the default).
        for proto, host_port, port in (
            ("tcp", PUB_PORT, SRV_PORT),
            ("udp", PUB_PORT, SRV_PORT),
            ("tcp", IPERF_PORT, IPERF_PORT),
        ):
            docker_proxy.start(self.node, proto, host_port, SRV_IP, port)
        _wait_tcp(in_ns(self.ext), NODE_IP, PUB_PORT)
        _wait_tcp(in_ns(self.ext), NODE_IP, IPERF_PORT)

    def set_extra(self, n: int) -> None:
        measured = [
            Published("tcp", PUB_PORT, SRV_IP, SRV_PORT),
            Published("udp", PUB_PORT, SRV_IP, SRV_PORT),
            Published("tcp", IPERF_PORT, SRV_IP, IPERF_PORT),
        ]
        sh(in_ns(self.node, "iptables-restore"), input=ruleset(measured, n), timeout=300)
        self.extra = n

    def published(self) -> Target:
        return Target(NODE_IP, PUB_PORT)

    def published_iperf(self) -> Target:
        return Target(NODE_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        return Target("127.0.0.1", PUB_PORT), Target("127.0.0.1", IPERF_PORT)


class Hawser(Variant):
    """A Hawser daemon in the node netns; the server container made with `hawser run`."""

    label = "Hawser"
    kind = "hawser"

    def setup(self) -> None:
        self.topo = Link("hw")
        self.topo.build()
        self.ext, self.node = self.topo.ext, self.topo.node
        self.hw = HawserNode(self.node, UPLINK, f"tb{RUN_ID}")
        self.start_seconds = self.hw.start()
        cmd = ["sh", "-c", f"iperf3 -s -p {IPERF_PORT} & exec {self.loadgen} server {SRV_PORT}"]
        self.hw.run(
            "srv",
            [f"{PUB_PORT}:{SRV_PORT}", f"{PUB_PORT}:{SRV_PORT}/udp", f"{IPERF_PORT}:{IPERF_PORT}"],
            cmd,
        )
        self.srv_ip = self.hw.container_ip("srv")
        self._start_ext_server()
        _wait_tcp(in_ns(self.ext), NODE_IP, PUB_PORT)
        _wait_tcp(in_ns(self.ext), NODE_IP, IPERF_PORT)

    def set_extra(self, n: int) -> None:
        if "fill" in self.hw.containers:
            self.hw.rm("fill")
        if n:
            first = 10000
            self.hw.run("fill", [f"{first}-{first + n - 1}:{first}-{first + n - 1}"])
        self.extra = n

    def in_server(self, *cmd: str) -> list[str]:
        return self.hw.in_container("srv", *cmd)

    def teardown(self) -> None:
        try:
            if hasattr(self, "hw"):
                self.hw.stop()
        finally:
            if hasattr(self, "topo"):
                self.topo.destroy()


__all__ = ["EXT_IP", "Hawser", "Iptables", "NoNat", "Target", "Variant"]
