"""Links (env, hosts, refusals, icc-off allow entries) and embedded DNS, through the real daemon.

Topology: netns ``t-<hex>-ext`` (an outside host running two test resolvers)
joined by a veth to ``t-<hex>-node``, where ``hawser daemon --icc=false`` runs
with ``--dns-upstream`` pointing at the first resolver. Every packet stays in
namespaces this module creates.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.hawser import EXT_IP, REPO, UPLINK_IP, HawserNode
from testbed.procs import PY, Proc, netns_exec, wait_tcp
from testbed.wait import until

VENV_PY = str(REPO / ".venv" / "bin" / "python")

# Serves "hi" on each proto:port given; prints READY once every socket is bound.
SERVE = textwrap.dedent(
    """
    import socket, sys, threading
    def tcp(s):
        while True:
            c, _ = s.accept(); c.sendall(b"hi"); c.close()
    def udp(s):
        while True:
            data, peer = s.recvfrom(100); s.sendto(b"hi", peer)
    for spec in sys.argv[1:]:
        proto, port = spec.split(":")
        if proto == "tcp":
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", int(port))); s.listen(16)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(port)))
        threading.Thread(target=tcp if proto == "tcp" else udp, args=(s,)).start()
    print("READY", flush=True)
    """
)
PROBE = textwrap.dedent(
    """
    import socket, sys
    proto, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        if proto == "tcp":
            s = socket.create_connection((ip, port), timeout=1.5); data = s.recv(10)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
            s.sendto(b"x", (ip, port)); data = s.recv(10)
        print("ok" if data == b"hi" else "fail")
    except OSError:
        print("fail")
    """
)
ZONE_A = "outside.example. 60 IN A 10.9.9.9\n"
ZONE_B = "outside.example. 60 IN A 10.8.8.8\n"


def records(text: str) -> list[dict[str, Any]]:
    """``--format json`` output: a JSON array or one object per line."""
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Node(HawserNode):
    """A node whose outside host also runs two test resolvers (on .2 and .3 of its subnet)."""

    prefix = EXT_IP.rsplit(".", 1)[0]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, ["--uplink", "uplink0", "--dns-upstream", EXT_IP])
        self.folder = workdir

    def hawser(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, check=check)

    def run(self, *args: str) -> str:
        return self.cli("run", "-d", *args).stdout.strip()

    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli("exec", name, "--", *cmd, check=check)

    def inspect(self, name: str) -> dict[str, Any]:
        return dict(self.json("inspect", name)[0])

    def ip(self, name: str, network: str = "bridge") -> str:
        return self.ip_of(name, network)

    def getent(self, name: str, target: str) -> list[str]:
        r = self.exec(name, "getent", "hosts", target, check=False)
        return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

    def probe(self, name: str, proto: str, ip: str, port: int) -> bool:
        return self.exec(name, PY, "-c", PROBE, proto, ip, str(port)).stdout.strip() == "ok"

    def probe_from_node(self, proto: str, ip: str, port: int) -> bool:
        """Positive control for a refused probe: the server answers the node itself."""
        return self.in_node(PY, "-c", PROBE, proto, ip, str(port)).stdout.strip() == "ok"

    def serve(self, name: str, *specs: str, expose: tuple[str, ...] = ()) -> None:
        """Run a SERVE container on ``specs`` (proto:port) and wait for its READY."""
        flags = [arg for port in expose for arg in ("--expose", port)]
        self.run("--name", name, *flags, PY, "-c", SERVE, *specs)
        assert wait_for(lambda: "READY" in self.hawser("logs", name).stdout, 10), name

    def policy(self) -> set[tuple[str, str, str, int]]:
        rows = records(self.cli("bpf", "policy", "--format", "json").stdout)
        return {(r["src"], r["dst"], r["proto"], int(r["dport"])) for r in rows}

    def start_resolvers(self) -> None:
        """Two dnslib resolvers in ext (on .2 and .3), ready once they accept on TCP 53."""
        self.in_ext("ip", "addr", "add", f"{self.prefix}.3/24", "dev", "eth0")
        self.in_ext("ip", "route", "add", "172.16.0.0/12", "via", UPLINK_IP)
        for addr, zone in ((f"{self.prefix}.2", ZONE_A), (f"{self.prefix}.3", ZONE_B)):
            zfile = self.folder / f"zone-{addr}"
            zfile.write_text(zone)
            resolver = Proc(
                netns_exec(self.ext_ns, VENV_PY, "-u", "-m", "dnslib.zoneresolver",
                           "--zone", str(zfile), "--address", addr, "--port", "53", "--tcp"),
                log=self.folder / f"resolver-{addr}.log",
            )  # fmt: skip
            self.scope.on_close(resolver.stop, key=resolver)
        for addr in (f"{self.prefix}.2", f"{self.prefix}.3"):
            wait_tcp(self.ext_ns, addr, 53)


def start_daemon(node: Node, icc: bool) -> None:
    """(Re)start the daemon on the node's state with icc on or off."""
    node.stop()
    node.start("--icc", str(icc).lower())


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = Node(tmp_path_factory.mktemp("links-dns"))
    try:
        n.start_resolvers()
        start_daemon(n, icc=False)
        yield n
    finally:
        n.close()


def wait_for(fn: Any, timeout: float = 1.0) -> Any:
    """Poll ``fn`` until truthy; the issue's bound is 1 s after a change."""
    return until(fn, timeout, interval=0.1)


# ---- --expose -----------------------------------------------------------------------------
def test_expose_shows_in_inspect_and_ps(node: Node) -> None:
    node.run("--name", "exp", "--expose", "80", "--expose", "7000-7002/udp", "sleep", "600")
    exposed = node.inspect("exp")["Config"]["ExposedPorts"]
    assert set(exposed) == {"80/tcp", "7000/udp", "7001/udp", "7002/udp"}
    line = next(x for x in node.hawser("ps").stdout.splitlines() if x.rstrip().endswith("exp"))
    assert "80/tcp" in line and "7000-7002/udp" in line
    node.hawser("rm", "-f", "exp")


# ---- --link on the default bridge -----------------------------------------------------------
def test_link_env_hosts_for_run_and_exec(node: Node) -> None:
    node.run("--name", "db", "--expose", "5432", "-e", "POSTGRES_DB=app", "sleep", "600")
    db_ip = node.ip("db")
    db_host = node.inspect("db")["Config"]["Hostname"]
    node.run("--name", "web", "--link", "db:dbalias", "sh", "-c", "env; sleep 600")
    want = {
        f"DBALIAS_PORT=tcp://{db_ip}:5432",
        f"DBALIAS_PORT_5432_TCP=tcp://{db_ip}:5432",
        f"DBALIAS_PORT_5432_TCP_ADDR={db_ip}",
        "DBALIAS_PORT_5432_TCP_PORT=5432",
        "DBALIAS_PORT_5432_TCP_PROTO=tcp",
        "DBALIAS_NAME=/web/dbalias",
        "DBALIAS_ENV_POSTGRES_DB=app",
    }
    exec_env = set(node.exec("web", "env").stdout.splitlines())
    assert want <= exec_env
    assert not any(v.startswith("DBALIAS_ENV_PATH=") for v in exec_env)
    run_env = wait_for(lambda: set(node.hawser("logs", "web").stdout.splitlines()) & want, 3)
    assert run_env == want
    hosts = node.exec("web", "cat", "/etc/hosts").stdout
    assert f"{db_ip}\tdbalias {db_host} db\n" in hosts
    assert node.getent("web", "dbalias") == [db_ip]
    node.hawser("rm", "-f", "web")


def test_link_refusals(node: Node) -> None:
    node.run("--name", "gone", "true")
    wait_for(lambda: "Exited" in node.hawser("ps", "-a").stdout, 5)
    r = node.hawser("run", "-d", "--name", "p1", "--link", "gone:g", "sleep", "5", check=False)
    assert r.returncode != 0
    assert "Cannot link to a non running container: /gone AS /p1/g" in r.stderr
    node.hawser("network", "create", "linknet")
    node.run("--name", "onuser", "--network", "linknet", "sleep", "600")
    r = node.hawser("run", "-d", "--name", "p2", "--link", "onuser", "sleep", "5", check=False)
    assert "Cannot link to /onuser, as it does not belong to the default network" in r.stderr
    r = node.hawser("run", "-d", "--network", "host", "--link", "onuser", "sleep", "5", check=False)
    assert "conflicting options: host type networking can't be used with links" in r.stderr
    assert not any(
        line.rstrip().endswith(("p1", "p2")) for line in node.hawser("ps", "-a").stdout.splitlines()
    )
    for name in ("gone", "onuser"):
        node.hawser("rm", "-f", name)
    node.hawser("network", "rm", "linknet")


def test_link_opens_exposed_ports_only_with_icc_off(node: Node) -> None:
    node.serve("svc", "tcp:5432", "udp:5433", "tcp:6000", expose=("5432", "5433/udp"))
    node.serve("peer", "tcp:7000")
    node.run("--name", "client", "--link", "svc:svc", "sleep", "600")
    node.run("--name", "other", "sleep", "600")
    svc, client, peer = node.ip("svc"), node.ip("client"), node.ip("peer")
    assert node.policy() == {(client, svc, "tcp", 5432), (client, svc, "udp", 5433)}
    assert node.probe("client", "tcp", svc, 5432)  # the link's ports, replies included
    assert node.probe("client", "udp", svc, 5433)
    assert not node.probe("client", "tcp", svc, 6000)  # not exposed
    assert not node.probe("other", "tcp", svc, 5432)  # not linked
    assert not node.probe("client", "tcp", peer, 7000)  # icc off elsewhere
    assert not node.probe("svc", "tcp", peer, 7000)
    assert node.probe_from_node("tcp", svc, 6000) and node.probe_from_node("tcp", peer, 7000)
    # removing the parent removes its entries, and a new parent's link adds its own
    node.hawser("rm", "-f", "client")
    assert node.policy() == set()
    node.run("--name", "client2", "--link", "svc", "sleep", "600")
    client2 = node.ip("client2")
    assert node.policy() == {(client2, svc, "tcp", 5432), (client2, svc, "udp", 5433)}
    assert node.probe("client2", "tcp", svc, 5432)
    # removing the child removes them too; a new container under its name is not linked
    node.hawser("rm", "-f", "svc")
    assert node.policy() == set()
    node.serve("svc", "tcp:5432", expose=("5432",))
    assert node.policy() == set()
    assert not node.probe("client2", "tcp", node.ip("svc"), 5432)
    assert node.probe_from_node("tcp", node.ip("svc"), 5432)
    for name in ("svc", "peer", "client2", "other"):
        node.hawser("rm", "-f", name)


def test_link_policy_restored_after_daemon_restart(node: Node) -> None:
    node.serve("kid", "tcp:9000", "tcp:9001", expose=("9000",))
    node.run("--name", "dad", "--link", "kid", "sleep", "600")
    entry = (node.ip("dad"), node.ip("kid"), "tcp", 9000)
    assert node.policy() == {entry}
    # the pinned map outlives the daemon; each start makes it match the store again
    start_daemon(node, icc=True)
    assert node.policy() == set()
    start_daemon(node, icc=False)
    assert node.policy() == {entry}
    assert node.probe("dad", "tcp", entry[1], 9000)
    assert not node.probe("dad", "tcp", entry[1], 9001)
    assert node.probe_from_node("tcp", entry[1], 9001)
    node.hawser("rm", "-f", "dad")
    node.hawser("rm", "-f", "kid")
    assert node.policy() == set()


# ---- embedded DNS ----------------------------------------------------------------------------
def test_dns_names_aliases_short_id_hostname(node: Node) -> None:
    node.hawser("network", "create", "front")
    cid = node.run("--name", "api", "--network", "front", "--network-alias", "backend",
                   "--hostname", "apihost", "sleep", "600")  # fmt: skip
    node.run("--name", "cli", "--network", "front", "sleep", "600")
    api = node.ip("api", "front")
    gateway = node.inspect("api")["NetworkSettings"]["Networks"]["front"]["Gateway"]
    resolv = node.exec("cli", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 127.0.0.11\n" in resolv and "ndots:0" in resolv  # Docker's address
    # 127.0.0.11 answers from inside the sandbox, UDP and TCP, and looks like itself to dig
    for transport in ("+notcp", "+tcp"):
        out = node.exec("cli", "dig", transport, "+time=2", "@127.0.0.11", "api").stdout
        assert f"\t{api}\n" in out and "SERVER: 127.0.0.11#53" in out, out
    # the responder itself is the network's gateway listener, the same answers
    direct = node.exec("cli", "dig", "+short", "+time=2", f"@{gateway}", "api").stdout.split()
    assert direct == [api]
    for name in ("api", "backend", cid[:12], "apihost", "api.front", "API"):
        assert node.getent("cli", name) == [api], name
    dig = node.exec("cli", "dig", "+short", "+tries=1", "+time=2", "backend").stdout.split()
    assert dig == [api]
    tcp = node.exec("cli", "dig", "+tcp", "+short", "+time=2", "api").stdout.split()
    assert tcp == [api]
    aaaa = node.exec("cli", "dig", "+time=2", "AAAA", "api").stdout
    assert "status: NOERROR" in aaaa and "ANSWER: 0" in aaaa
    ptr = node.exec("cli", "dig", "+short", "+time=2", "-x", api).stdout.split()
    assert ptr == ["api.front."]
    assert node.exec("cli", "ping", "-c1", "-W2", "api").returncode == 0
    # local names are never leaked to the upstream resolver, whose log shows what it is asked
    log = node.folder / f"resolver-{node.prefix}.2.log"
    assert node.getent("cli", "outside.example") == ["10.9.9.9"]
    assert wait_for(lambda: "outside.example" in log.read_text(), 5)
    assert "backend" not in log.read_text() and "apihost" not in log.read_text()


def test_dns_same_alias_on_two_containers_answers_both(node: Node) -> None:
    node.run("--name", "api2", "--network", "front", "--network-alias", "backend", "sleep", "600")
    both = {node.ip("api", "front"), node.ip("api2", "front")}
    assert set(node.getent("cli", "backend")) <= both
    dig = node.exec("cli", "dig", "+short", "+time=2", "backend").stdout.split()
    assert set(dig) == both
    node.hawser("rm", "-f", "api2")
    assert wait_for(
        lambda: (
            node.exec("cli", "dig", "+short", "backend").stdout.split() == [node.ip("api", "front")]
        )
    )


def test_dns_connect_alias_disconnect_and_removal(node: Node) -> None:
    node.run("--name", "late", "sleep", "600")  # default bridge: the node's resolvers
    assert "ndots:0" not in node.exec("late", "cat", "/etc/resolv.conf").stdout
    # and no embedded DNS at 127.0.0.11 (as in Docker); it appears with a user network
    probe = ("dig", "+short", "+tries=1", "+time=1", "@127.0.0.11", "cli")
    unanswered = node.exec("late", *probe, check=False)
    assert unanswered.returncode == 9 and "127.0.0.11#53: connection refused" in unanswered.stdout
    node.hawser("network", "connect", "--alias", "cache", "front", "late")
    late = node.ip("late", "front")
    assert wait_for(lambda: node.getent("cli", "cache") == [late])
    assert node.getent("cli", "late") == [late]
    assert node.exec("late", *probe).stdout.split() == [node.ip("cli", "front")]
    r = node.hawser("network", "connect", "--alias", "again", "front", "late", check=False)
    assert r.returncode != 0
    assert "endpoint with name late already exists in network front" in r.stderr
    node.hawser("network", "disconnect", "front", "late")
    assert wait_for(lambda: node.getent("cli", "cache") == [])
    node.hawser("rm", "-f", "api")
    assert wait_for(lambda: node.getent("cli", "api") == [])
    node.hawser("rm", "-f", "late")


def test_dns_two_networks(node: Node) -> None:
    node.hawser("network", "create", "back")
    node.run("--name", "fa", "--network", "front", "sleep", "600")
    node.run("--name", "bb", "--network", "back", "sleep", "600")
    node.run("--name", "both", "--network", "front", "sleep", "600")
    node.hawser("network", "connect", "back", "both")
    assert wait_for(lambda: node.getent("both", "bb") == [node.ip("bb", "back")])
    assert node.getent("both", "fa") == [node.ip("fa", "front")]
    # each side sees the dual-homed container at its address on the shared network
    assert node.getent("fa", "both") == [node.ip("both", "front")]
    assert node.getent("bb", "both") == [node.ip("both", "back")]
    # no resolution across networks that are not shared
    assert node.getent("fa", "bb") == []
    assert node.getent("bb", "fa") == []
    for name in ("fa", "bb", "both"):
        node.hawser("rm", "-f", name)
    node.hawser("network", "rm", "back")


def test_dns_forwards_to_upstream_and_dns_flag_overrides(node: Node) -> None:
    assert node.getent("cli", "outside.example") == ["10.9.9.9"]
    tcp = node.exec("cli", "dig", "+tcp", "+short", "+time=2", "outside.example").stdout.split()
    assert tcp == ["10.9.9.9"]
    nx = node.exec("cli", "dig", "+time=2", "nowhere.example").stdout
    assert "status: NXDOMAIN" in nx
    node.run("--name", "own", "--network", "front", "--dns", f"{node.prefix}.3", "sleep", "600")
    # --dns on a user network: still 127.0.0.11 in resolv.conf, the flag is its upstream
    assert "nameserver 127.0.0.11\n" in node.exec("own", "cat", "/etc/resolv.conf").stdout
    assert node.getent("own", "outside.example") == ["10.8.8.8"]
    assert node.getent("own", "cli") == [node.ip("cli", "front")]
    node.hawser("rm", "-f", "own")


def test_dns_bad_inputs(node: Node) -> None:
    r = node.hawser("run", "-d", "--network-alias", "x", "sleep", "5", check=False)
    assert r.returncode != 0
    assert (
        "network-scoped alias is supported only for containers in user defined networks" in r.stderr
    )
    node.run("--name", "plain", "sleep", "600")
    r = node.hawser("network", "connect", "--alias", "x", "bridge", "plain", check=False)
    assert "network-scoped alias is supported only for containers in user defined networks" in (
        r.stderr
    )
    node.hawser("rm", "-f", "plain")
    node.hawser("rm", "-f", "cli")
    node.hawser("network", "rm", "front")
