"""Bad input gets one clear error naming the problem and leaves nothing half-made."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import HawserNode

LISTENING_PORT = "9999"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HawserNode]:
    hn = HawserNode(tmp_path_factory.mktemp("bad"))
    listener: subprocess.Popen[bytes] | None = None
    try:
        hn.start()
        hn.cli("network", "create", "--subnet", "172.31.1.0/24", "net1")
        hn.cli("run", "-d", "--name", "web", "-p", "8080:80", "--expose", "5432",
               "--", "sleep", "600")  # fmt: skip
        hn.cli("run", "-d", "--name", "user1", "--network", "net1", "--ip", "172.31.1.10")
        hn.cli("run", "--name", "stopped", "--", "true")
        listener = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{hn.node_ns}", "python3", "-c",
             "import socket,time;s=socket.socket();s.bind(('0.0.0.0',"
             f"{LISTENING_PORT}));s.listen();time.sleep(600)"],
        )  # fmt: skip
        time.sleep(0.5)
        yield hn
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        hn.close()


def snapshot(hn: HawserNode) -> dict[str, Any]:
    networks = hn.jsonl("network", "ls", "--format", "json")
    return {
        "networks": sorted((n["ID"], n["Name"]) for n in networks),
        "members": {
            n["Name"]: sorted(hn.json("network", "inspect", n["Name"])[0]["Containers"])
            for n in networks
        },
        "containers": sorted(hn.cli("ps", "-aq", "--no-trunc").stdout.split()),
        "links": sorted(hn.hawser_links()),
        "netns": sorted(hn.hawser_netns()),
        "folders": hn.sandbox_folders(),
        "ports": sorted(
            (p["proto"], p["host_ip"], p["host_port"], p["backend_ip"], p["backend_port"])
            for p in hn.jsonl("bpf", "ports", "--format", "json")
        ),
        "endpoints": sorted(
            (e["ip"], e["mac"], e["ifname"])
            for e in hn.jsonl("bpf", "endpoints", "--format", "json")
        ),
    }


BAD_INPUTS: list[tuple[list[str], str]] = [
    # networks
    (["network", "create", "bad name"], "includes invalid characters"),
    (["network", "create", "net1"], "network with name net1 already exists"),
    (
        ["network", "create", "--subnet", "172.31.1.0/25", "n2"],
        "Pool overlaps with other one on this address space",
    ),
    (
        ["network", "create", "--subnet", "10.99.0.0/24", "n3"],
        "Pool overlaps with other one on this address space",
    ),  # the uplink's route
    (["network", "create", "--subnet", "10.0.0.0/33", "n4"], "invalid CIDR address: 10.0.0.0/33"),
    (["network", "create", "--subnet", "foo", "n5"], "invalid CIDR address: foo"),
    (
        ["network", "create", "--gateway", "10.9.0.1", "n6"],
        "every ip-range or gateway must have a corresponding subnet",
    ),
    (
        ["network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.8.0.1", "n7"],
        "no matching subnet for gateway 10.8.0.1",
    ),
    (
        ["network", "create", "--subnet", "10.9.0.0/24", "--ip-range", "10.10.0.0/25", "n8"],
        "no matching subnet for range 10.10.0.0/25",
    ),
    (
        ["network", "create", "--subnet", "10.9.0.0/24", "--aux-address", "a=10.8.0.5", "n9"],
        "no matching subnet for aux-address 10.8.0.5",
    ),
    (
        ["network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", "n10"],
        "failed to parse com.docker.network.bridge.enable_icc value: maybe",
    ),
    (
        ["network", "create", "-o", "com.docker.network.driver.mtu=abc", "n11"],
        "failed to parse com.docker.network.driver.mtu value: abc",
    ),
    (["network", "create", "-d", "overlay", "n12"], 'plugin "overlay" not found'),
    (["network", "rm", "bridge"], "bridge is a pre-defined network and cannot be removed"),
    (["network", "rm", "net1"], "has active endpoints"),
    (["network", "rm", "nosuch"], "network nosuch not found"),
    (["network", "connect", "nosuch", "web"], "network nosuch not found"),
    (["network", "connect", "net1", "nosuch"], "No such container: nosuch"),
    (
        ["network", "connect", "net1", "user1"],
        "endpoint with name user1 already exists in network net1",
    ),
    (["network", "connect", "--ip", "172.31.1.10", "net1", "web"], "Address already in use"),
    (
        ["network", "connect", "--ip", "10.1.1.1", "net1", "web"],
        "Invalid address 10.1.1.1: It does not belong to any of this network's subnets",
    ),
    (
        ["network", "connect", "--alias", "x", "bridge", "user1"],
        "network-scoped alias is supported only for containers in user defined networks",
    ),
    (["network", "disconnect", "net1", "web"], "is not connected to network net1"),
    # containers
    (["run", "-d", "--name", "web"], 'The container name "/web" is already in use'),
    (["run", "-d", "--name", "b@d"], "Invalid container name (b@d)"),
    (["run", "-d", "--name", "new1", "--network", "nosuch"], "network nosuch not found"),
    (
        ["run", "-d", "--name", "new2", "--ip", "172.17.0.50"],
        "user specified IP address is supported on user defined networks only",
    ),
    (
        ["run", "-d", "--name", "new3", "--network", "net1", "--ip", "172.31.1.10"],
        "Address already in use",
    ),
    (
        ["run", "-d", "--name", "new4", "-p", "8080:80"],
        "Bind for 0.0.0.0:8080 failed: port is already allocated",
    ),
    (
        ["run", "-d", "--name", "new5", "-p", LISTENING_PORT + ":80"],
        f"failed to bind host port 0.0.0.0:{LISTENING_PORT}/tcp: address already in use",
    ),
    (["run", "-d", "--name", "new6", "-p", "80:80/xyz"], "invalid proto: xyz"),
    (
        ["run", "-d", "--name", "new7", "-p", "1-3:1-2"],
        "invalid ranges specified for container and host Ports",
    ),
    (["run", "-d", "--name", "new8", "-p", "abc"], "invalid containerPort: abc"),
    (["run", "-d", "--name", "new9", "-p", "99999:80"], "invalid hostPort: 99999"),
    (["run", "-d", "--name", "new10", "-p", "300.1.1.1:80:80"], "invalid IP address: 300.1.1.1"),
    (
        ["run", "-d", "--name", "new11", "--network", "host", "--link", "web:w"],
        "conflicting options: host type networking can't be used with links",
    ),
    (
        ["run", "-d", "--name", "new12", "--network", "container:nosuch"],
        "No such container: nosuch",
    ),
    (
        ["run", "-d", "--name", "new13", "--network", "container:stopped"],
        "cannot join network of a non running container",
    ),
    (
        ["run", "-d", "--name", "new14", "--network", "container:web", "-p", "80"],
        "conflicting options: port publishing and the container type network mode",
    ),
    (
        ["run", "-d", "--name", "new15", "--link", "stopped:s"],
        "Cannot link to a non running container: /stopped AS /new15/s",
    ),
    (
        ["run", "-d", "--name", "new16", "--link", "user1:u"],
        "Cannot link to /user1, as it does not belong to the default network",
    ),
    (
        ["run", "-d", "--name", "new17", "--network-alias", "x"],
        "network-scoped alias is supported only for containers in user defined networks",
    ),
    (["run", "-d", "--name", "new18", "--hostname", "bad_host!"], "invalid hostname format"),
    (["run", "-d", "--name", "new19", "--expose", "abc"], "invalid range format for --expose: abc"),
    (
        ["run", "-d", "--name", "new20", "-p", "8090:80", "-p", "8090:81"],
        "Bind for 0.0.0.0:8090 failed: port is already allocated",
    ),
    (
        ["run", "-d", "--name", "new21", "-p", "9000:9000/sctp"],
        "publishing sctp ports is not supported by Hawser's datapath: 9000/sctp",
    ),
    (["rm", "nosuch"], "No such container: nosuch"),
    (["rm", "web"], "You cannot remove a running container"),
    (["exec", "nosuch", "--", "true"], "No such container: nosuch"),
    (["port", "web", "81"], "no public port '81/tcp' published for web"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_refused_and_changes_nothing(
    world: HawserNode, args: list[str], message: str
) -> None:
    before = snapshot(world)
    result = world.cli(*args, check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert snapshot(world) == before


def test_the_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 30
    assert Path(__file__).exists()
