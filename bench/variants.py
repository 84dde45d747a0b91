"""The dataplane configurations compared, each owning its topology and its proof of path.

- limit: two netns joined by one veth, no translation: the floor of every scenario.
- no NAT (Docker's path): the outside host routes to the container's address through the node's
  bridge and IP forwarding, no rules (and, for S8, the container's own address goes out as is).
- iptables: Docker 20.10's rule layout in the node (DNAT, MASQUERADE); docker-proxy for S5.
- Hawser: a `hawser daemon` in the node, containers made with `hawser run`.

Every variant says where each kind of client runs and what the server should see as the peer
address; `probe()` snapshots the counters that prove the path and `check()` compares two
snapshots with what the load did (bench/paths.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import docker_proxy, paths
from bench.hawser_driver import HawserNode
from bench.iptables_layout import Published, ruleset
from bench.paths import Load
from bench.proc import RUN_ID, server, sh, spawn
from bench.topology import (
    CLIENT_SRC_OFFSET,
    CLIENT_SRCS,
    DEST_OFFSET,
    EXT_IP,
    LIMIT_CLIENT_IP,
    LIMIT_SERVER_IP,
    NODE_IP,
    SRV_IP,
    UPLINK,
    BaselineNode,
    DirectPair,
    Link,
    nth,
    src_spec,
)
from testbed.netns import enter
from testbed.procs import wait_tcp

SRV_PORT = 80  # loadgen server (TCP and UDP) in the server container
IPERF_PORT = 5201
PUB_PORT = 8080  # published host port of SRV_PORT
MASQ_SERVER_PORT = 9000  # loadgen server outside for S8: a fresh port per run (fresh tuples)
MASQ_SERVER_PORTS = 64


@dataclass(frozen=True)
class Target:
    host: str
    port: int


class Variant:
    """Common surface; subclasses fill the places and the proofs."""

    label = ""
    kind = ""  # limit | nonat | iptables | hawser
    sweeps_n = False  # has published ports, so S2/S3 sweep N other published ports
    extra = 0

    def __init__(self, loadgen: str) -> None:
        self.loadgen = loadgen
        self._masq_port = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        raise NotImplementedError

    def set_extra(self, n: int) -> None:
        if n:
            raise ValueError(f"{self.label} has no published ports")

    # -- where clients run and connect ---------------------------------------------------------
    def ext_client(self, *cmd: str) -> list[str]:
        """Argv for the outside client (S1-S4)."""
        raise NotImplementedError

    def remote(self, *cmd: str) -> list[str]:
        """Argv in the outside host that S8's connections go to (its server's netns)."""
        raise NotImplementedError

    def in_server(self, *cmd: str) -> list[str]:
        """Argv in the server container (S1-S5 servers)."""
        raise NotImplementedError

    def on_node(self, *cmd: str) -> list[str]:
        """Argv for a node-local client (S5)."""
        raise NotImplementedError

    def in_container(self, *cmd: str) -> list[str]:
        """Argv in the container that opens outbound connections (S8 client)."""
        return self.in_server(*cmd)

    def published(self) -> Target:
        """Where the outside host reaches the server's TCP/UDP port."""
        return Target(NODE_IP, PUB_PORT)

    def published_iperf(self) -> Target:
        return Target(NODE_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        """(loadgen, iperf3) targets for the node-local client (S5)."""
        return Target("127.0.0.1", PUB_PORT), Target("127.0.0.1", IPERF_PORT)

    def outside_ip(self) -> str:
        return EXT_IP

    def sources(self) -> str:
        """loadgen -s value: the outside client's source addresses."""
        return src_spec(self.outside_ip())

    def client_peers(self, spread: bool) -> set[str]:
        """Peer addresses the server may see for outside clients (spread = with -s)."""
        base = self.outside_ip()
        if spread:
            return {nth(base, CLIENT_SRC_OFFSET + i) for i in range(CLIENT_SRCS)}
        return {base}

    def destination(self, many: bool) -> str:
        """First S8 destination (the next ones follow it)."""
        return nth(self.outside_ip(), DEST_OFFSET) if many else self.outside_ip()

    def masq_peers(self) -> set[str]:
        """The source address the outside server sees for S8 connections."""
        return {NODE_IP}

    def next_masq_port(self) -> int:
        """A server port no earlier S8 run of this variant used (no leftover tuples)."""
        port = MASQ_SERVER_PORT + self._masq_port % MASQ_SERVER_PORTS
        self._masq_port += 1
        return port

    def config_label(self) -> str:
        return self.label

    # -- proof of path ---------------------------------------------------------------------------
    def probe(self, scenario: str) -> Any:
        raise NotImplementedError

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        raise NotImplementedError

    def drops(self, before: Any, after: Any) -> dict[str, float]:
        """Datapath drop counters moved during a run (Hawser only)."""
        return {}

    def _start_servers(self, srv_ns: str, outside_ns: str) -> None:
        spawn(enter(srv_ns, *server(self.loadgen, "server", str(SRV_PORT))))
        spawn(enter(srv_ns, *server("iperf3", "-s", "-p", str(IPERF_PORT))))
        spawn(
            enter(
                outside_ns,
                *server(self.loadgen, "server", str(MASQ_SERVER_PORT), str(MASQ_SERVER_PORTS)),
            )
        )


class Limit(Variant):
    """Client netns `a`, server netns `b`, one veth: no bridge, no forwarding, no translation."""

    label = "limit (direct veth)"
    kind = "limit"

    def setup(self) -> None:
        self.topo = DirectPair(f"lim{RUN_ID[:2]}")
        self.topo.build()
        self._start_servers(self.topo.b, self.topo.b)
        for port in (SRV_PORT, IPERF_PORT, MASQ_SERVER_PORT):
            wait_tcp(self.topo.a, LIMIT_SERVER_IP, port)

    def teardown(self) -> None:
        if hasattr(self, "topo"):
            self.topo.destroy()

    def ext_client(self, *cmd: str) -> list[str]:
        return enter(self.topo.a, *cmd)

    def in_server(self, *cmd: str) -> list[str]:
        return enter(self.topo.b, *cmd)

    def on_node(self, *cmd: str) -> list[str]:
        return enter(self.topo.a, *cmd)

    def in_container(self, *cmd: str) -> list[str]:
        return enter(self.topo.a, *cmd)

    def remote(self, *cmd: str) -> list[str]:
        return enter(self.topo.b, *cmd)

    def published(self) -> Target:
        return Target(LIMIT_SERVER_IP, SRV_PORT)

    def published_iperf(self) -> Target:
        return Target(LIMIT_SERVER_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        return self.published(), self.published_iperf()

    def outside_ip(self) -> str:
        return LIMIT_CLIENT_IP

    def destination(self, many: bool) -> str:
        return nth(LIMIT_SERVER_IP, DEST_OFFSET) if many else LIMIT_SERVER_IP

    def masq_peers(self) -> set[str]:
        return {LIMIT_CLIENT_IP}

    def probe(self, scenario: str) -> Any:
        return None

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        return paths.untranslated(self.topo.namespaces)


class NoNat(Variant):
    """Client in ext reaches the server's own address, routed through the node: Docker's path."""

    label = "no NAT (Docker's path)"
    kind = "nonat"

    def setup(self) -> None:
        self.topo = BaselineNode(f"nonat{RUN_ID[:2]}")
        self.topo.build()
        self._start_servers(self.topo.srv, self.topo.ext)
        for port in (SRV_PORT, IPERF_PORT):
            wait_tcp(self.topo.ext, SRV_IP, port)
        wait_tcp(self.topo.srv, EXT_IP, MASQ_SERVER_PORT)

    def teardown(self) -> None:
        if hasattr(self, "topo"):
            self.topo.destroy()

    def ext_client(self, *cmd: str) -> list[str]:
        return enter(self.topo.ext, *cmd)

    def in_server(self, *cmd: str) -> list[str]:
        return enter(self.topo.srv, *cmd)

    def on_node(self, *cmd: str) -> list[str]:
        return enter(self.topo.node, *cmd)

    def remote(self, *cmd: str) -> list[str]:
        return enter(self.topo.ext, *cmd)

    def published(self) -> Target:
        return Target(SRV_IP, SRV_PORT)

    def published_iperf(self) -> Target:
        return Target(SRV_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        return Target(SRV_IP, SRV_PORT), Target(SRV_IP, IPERF_PORT)

    def masq_peers(self) -> set[str]:
        return {SRV_IP}

    def probe(self, scenario: str) -> Any:
        return None

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        return paths.untranslated(self.topo.namespaces)


class Iptables(NoNat):
    """Docker 20.10's rules inside the node netns; node-local access through docker-proxy."""

    label = "iptables"
    kind = "iptables"
    sweeps_n = True

    def setup(self) -> None:
        self.topo = BaselineNode(f"ipt{RUN_ID[:2]}")
        self.topo.build()
        self._start_servers(self.topo.srv, self.topo.ext)
        self.set_extra(0)
        # dockerd starts one docker-proxy per published port (userland-proxy=true, the default).
        self.proxies = {
            (proto, host_port): docker_proxy.start(self.topo.node, proto, host_port, SRV_IP, port)
            for proto, host_port, port in (
                ("tcp", PUB_PORT, SRV_PORT),
                ("udp", PUB_PORT, SRV_PORT),
                ("tcp", IPERF_PORT, IPERF_PORT),
            )
        }
        for port in (PUB_PORT, IPERF_PORT):
            wait_tcp(self.topo.ext, NODE_IP, port)
        wait_tcp(self.topo.srv, EXT_IP, MASQ_SERVER_PORT)

    def set_extra(self, n: int) -> None:
        measured = [
            Published("tcp", PUB_PORT, SRV_IP, SRV_PORT),
            Published("udp", PUB_PORT, SRV_IP, SRV_PORT),
            Published("tcp", IPERF_PORT, SRV_IP, IPERF_PORT),
        ]
        sh(enter(self.topo.node, "iptables-restore"), input=ruleset(measured, n), timeout=300)
        self.extra = n

    def published(self) -> Target:
        return Target(NODE_IP, PUB_PORT)

    def published_iperf(self) -> Target:
        return Target(NODE_IP, IPERF_PORT)

    def local(self) -> tuple[Target, Target]:
        return Target("127.0.0.1", PUB_PORT), Target("127.0.0.1", IPERF_PORT)

    def masq_peers(self) -> set[str]:
        return {NODE_IP}

    def config_label(self) -> str:
        return f"{self.label} N={self.extra}"

    def probe(self, scenario: str) -> Any:
        return paths.iptables_probe(self.topo.node, scenario, self.proxies)

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        return paths.iptables_check(load, before, after)


class Hawser(Variant):
    """A Hawser daemon in the node netns; the server container made with `hawser run`."""

    label = "Hawser"
    kind = "hawser"
    sweeps_n = True

    def setup(self) -> None:
        self.topo = Link(f"hw{RUN_ID[:2]}")
        self.topo.build()
        self.hw = HawserNode(self.topo.node, UPLINK, f"tb{RUN_ID}")
        self.start_seconds = self.hw.start()
        pin = " ".join(server())
        cmd = [
            "sh",
            "-c",
            f"{pin} iperf3 -s -p {IPERF_PORT} & exec {pin} {self.loadgen} server {SRV_PORT}",
        ]
        self.hw.run(
            "srv",
            [f"{PUB_PORT}:{SRV_PORT}", f"{PUB_PORT}:{SRV_PORT}/udp", f"{IPERF_PORT}:{IPERF_PORT}"],
            cmd,
        )
        self.srv_ip = self.hw.container_ip("srv")
        self.sandbox = self.hw.netns_path("srv")
        spawn(
            enter(
                self.topo.ext,
                *server(self.loadgen, "server", str(MASQ_SERVER_PORT), str(MASQ_SERVER_PORTS)),
            )
        )
        for port in (PUB_PORT, IPERF_PORT):
            wait_tcp(self.topo.ext, NODE_IP, port)
        wait_tcp(self.sandbox, EXT_IP, MASQ_SERVER_PORT)

    def set_extra(self, n: int) -> None:
        if "fill" in self.hw.containers:
            self.hw.rm("fill")
        if n:
            first = 10000
            self.hw.run("fill", [f"{first}-{first + n - 1}:{first}-{first + n - 1}"])
        self.extra = n

    def ext_client(self, *cmd: str) -> list[str]:
        return enter(self.topo.ext, *cmd)

    def in_server(self, *cmd: str) -> list[str]:
        return enter(self.sandbox, *cmd)

    def on_node(self, *cmd: str) -> list[str]:
        return enter(self.topo.node, *cmd)

    def remote(self, *cmd: str) -> list[str]:
        return enter(self.topo.ext, *cmd)

    def config_label(self) -> str:
        return f"{self.label} N={self.extra}"

    def probe(self, scenario: str) -> Any:
        return paths.hawser_probe(self.hw, scenario)

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        problems = paths.hawser_check(self.hw, load, before, after, self.srv_ip)
        return problems + paths.no_rules(self.topo.node)

    def drops(self, before: Any, after: Any) -> dict[str, float]:
        return paths.hawser_drops(before, after)

    def teardown(self) -> None:
        try:
            if hasattr(self, "hw"):
                self.hw.close()
        finally:
            if hasattr(self, "topo"):
                self.topo.destroy()


__all__ = ["Hawser", "Iptables", "Limit", "NoNat", "Target", "Variant"]
