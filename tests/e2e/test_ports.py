"""Published ports through the CLI: every -p form, -P, `port`, PORTS, conflicts, reachability."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.hawser import EXT_IP, UPLINK_IP, HawserNode

# Replies with the peer address it saw, so tests can assert the client's source IP.
WHOAMI_TCP = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen()
while True:
    c, peer = s.accept()
    c.sendall(f"{peer[0]}:{peer[1]}".encode()); c.close()
"""
WHOAMI_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data + b" from " + peer[0].encode(), peer)
"""
# Connects, prints what the server saw and what getpeername() says.
TCP_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
seen = c.recv(100).decode()
print(seen.split(":")[0], "%s:%d" % c.getpeername())
"""
UDP_CLIENT = """
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(3)
c.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
data, peer = c.recvfrom(2048)
print(data.decode(), "%s:%d" % peer)
"""


def _retry(fn, attempts: int = 40):  # type: ignore[no-untyped-def]
    last = None
    for _ in range(attempts):
        last = fn()
        if last.returncode == 0 and last.stdout.strip():
            return last
        time.sleep(0.1)
    return last


@pytest.fixture(scope="module")
def pnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HawserNode]:
    hn = HawserNode(tmp_path_factory.mktemp("ports"))
    try:
        hn.start()
        hn.cli("run", "-d", "--name", "tcpsrv", "-p", "8080:80", "-p", "127.0.0.1:8081:80",
               "--", "python3", "-c", WHOAMI_TCP, "80")  # fmt: skip
        hn.cli("run", "-d", "--name", "udpsrv", "-p", "5353:53/udp",
               "--", "python3", "-c", WHOAMI_UDP, "53")  # fmt: skip
        hn.cli("run", "-d", "--name", "client", "--", "sleep", "600")
        yield hn
    finally:
        hn.close()


def test_outside_client_keeps_its_source_ip_tcp_and_udp(pnode: HawserNode) -> None:
    tcp = _retry(lambda: pnode.in_ext("python3", "-c", TCP_CLIENT, UPLINK_IP, "8080", check=False))
    assert tcp.stdout.split() == [EXT_IP, f"{UPLINK_IP}:8080"]
    udp = _retry(lambda: pnode.in_ext("python3", "-c", UDP_CLIENT, UPLINK_IP, "5353", check=False))
    assert udp.stdout.split() == ["ping", "from", EXT_IP, f"{UPLINK_IP}:5353"]


@pytest.mark.parametrize("target", ["127.0.0.1", UPLINK_IP])
def test_node_local_clients_see_the_address_they_dialled(pnode: HawserNode, target: str) -> None:
    tcp = _retry(lambda: pnode.in_node("python3", "-c", TCP_CLIENT, target, "8080", check=False))
    assert tcp.stdout.split()[1] == f"{target}:8080"
    udp = _retry(lambda: pnode.in_node("python3", "-c", UDP_CLIENT, target, "5353", check=False))
    assert udp.stdout.split()[0] == "ping"
    assert udp.stdout.split()[-1] == f"{target}:5353"


def test_loopback_binding_is_local_only(pnode: HawserNode) -> None:
    local = _retry(lambda: pnode.in_node("python3", "-c", TCP_CLIENT, "127.0.0.1", "8081",
                                         check=False))  # fmt: skip
    assert local.stdout.split()[1] == "127.0.0.1:8081"
    outside = pnode.in_ext("python3", "-c", TCP_CLIENT, UPLINK_IP, "8081", check=False)
    assert outside.returncode != 0
    # the same server, published on every address, does answer the outside host
    wide = _retry(lambda: pnode.in_ext("python3", "-c", TCP_CLIENT, UPLINK_IP, "8080", check=False))
    assert wide.stdout.split() == [EXT_IP, f"{UPLINK_IP}:8080"]


def test_hairpin_from_a_container_and_to_itself(pnode: HawserNode) -> None:
    client_ip = pnode.ip_of("client")
    other = _retry(lambda: pnode.cli("exec", "client", "--", "python3", "-c", TCP_CLIENT,
                                     UPLINK_IP, "8080", check=False))  # fmt: skip
    assert other.stdout.split() == [client_ip, f"{UPLINK_IP}:8080"]
    itself = _retry(lambda: pnode.cli("exec", "tcpsrv", "--", "python3", "-c", TCP_CLIENT,
                                      UPLINK_IP, "8080", check=False))  # fmt: skip
    assert itself.stdout.split()[1] == f"{UPLINK_IP}:8080"


def test_port_and_ps_show_docker_shapes(pnode: HawserNode) -> None:
    assert pnode.cli("port", "tcpsrv").stdout.splitlines() == [
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:8081",
    ]
    assert pnode.cli("port", "tcpsrv", "80/tcp").stdout.split() == [
        "0.0.0.0:8080",
        "127.0.0.1:8081",
    ]
    assert pnode.cli("port", "udpsrv", "53/udp").stdout.strip() == "0.0.0.0:5353"
    ps = pnode.cli("ps").stdout
    assert "0.0.0.0:8080->80/tcp, 127.0.0.1:8081->80/tcp" in ps
    assert "0.0.0.0:5353->53/udp" in ps


def test_every_publish_form(pnode: HawserNode) -> None:
    pnode.cli("run", "-d", "--name", "forms",
              "-p", "9001:90", "-p", f"{UPLINK_IP}:9002:91", "-p", f"{UPLINK_IP}::92",
              "-p", "9010-9012:100-102", "-p", "9020-9029:110", "-p", "120/udp", "-p", "130")  # fmt: skip
    lines = pnode.cli("port", "forms").stdout.splitlines()
    by_private = {line.split(" -> ")[0]: line.split(" -> ")[1] for line in lines}
    assert by_private["90/tcp"] == "0.0.0.0:9001"
    assert by_private["91/tcp"] == f"{UPLINK_IP}:9002"
    assert by_private["92/tcp"].startswith(f"{UPLINK_IP}:")
    assert [by_private[f"{p}/tcp"] for p in (100, 101, 102)] == [
        "0.0.0.0:9010", "0.0.0.0:9011", "0.0.0.0:9012",
    ]  # fmt: skip
    assert 9020 <= int(by_private["110/tcp"].rsplit(":", 1)[1]) <= 9029
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= int(by_private["120/udp"].rsplit(":", 1)[1]) <= high
    assert low <= int(by_private["130/tcp"].rsplit(":", 1)[1]) <= high
    pnode.cli("rm", "-f", "forms")


def test_publish_all_uses_ephemeral_ports_upward(pnode: HawserNode) -> None:
    pnode.cli("run", "-d", "--name", "pall", "--expose", "7000-7002", "--expose", "7100/udp", "-P")
    ports = [int(line.rsplit(":", 1)[1]) for line in pnode.cli("port", "pall").stdout.splitlines()]
    low, _ = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert len(ports) == 4 and all(p >= low for p in ports)
    tcp_ports = ports[:3]
    assert tcp_ports == sorted(tcp_ports) and len(set(tcp_ports)) == 3
    pnode.cli("rm", "-f", "pall")


def test_exposed_only_port_shows_in_ps(pnode: HawserNode) -> None:
    pnode.cli("run", "-d", "--name", "db", "--expose", "5432")
    line = [ln for ln in pnode.cli("ps").stdout.splitlines() if " db " in ln + " "][0]
    assert "5432/tcp" in line
    assert pnode.json("inspect", "db")[0]["Config"]["ExposedPorts"] == {"5432/tcp": {}}
    pnode.cli("rm", "-f", "db")


# Lists the node's listening sockets while holding one of its own (the positive control).
SS_WITH_A_LISTENER = """
import socket, subprocess
s = socket.socket(); s.bind(("0.0.0.0", 8099)); s.listen()
print(subprocess.run(["ss", "-Hltnu"], capture_output=True, text=True, check=True).stdout)
"""


def test_no_process_of_hawser_listens_on_published_ports(pnode: HawserNode) -> None:
    listening = pnode.in_node("python3", "-c", SS_WITH_A_LISTENER).stdout
    assert ":8099 " in listening  # ss sees a listener in the node
    for port in ("8080", "8081", "5353"):
        assert f":{port} " not in listening


def test_host_binding_option_applies(pnode: HawserNode) -> None:
    pnode.cli("network", "create", "-o", f"com.docker.network.bridge.host_binding_ipv4={UPLINK_IP}",
              "bound")  # fmt: skip
    pnode.cli("run", "-d", "--name", "hb", "--network", "bound", "-p", "9300:80",
              "--", "python3", "-c", WHOAMI_TCP, "80")  # fmt: skip
    assert pnode.cli("port", "hb").stdout.strip() == f"80/tcp -> {UPLINK_IP}:9300"
    got = _retry(lambda: pnode.in_ext("python3", "-c", TCP_CLIENT, UPLINK_IP, "9300", check=False))
    assert got.stdout.split()[0] == EXT_IP
    pnode.cli("rm", "-f", "hb")
    pnode.cli("network", "rm", "bound")
