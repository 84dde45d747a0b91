"""``run``'s networking flags as Docker users pass them: ``--net``, ``--add-host``
(``host-gateway``), ``--dns-search``, ``--dns-option``, ``--mac-address``, ``--env-file``,
``--label``, ``--sysctl net.*`` — what reaches the sandbox, and Docker's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.hawser import HawserNode


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> HawserNode:
    shared_node.cli("network", "create", "--subnet", "172.30.77.0/24", "flagnet")
    return shared_node


def sandbox_file(hn: HawserNode, name: str, file: str) -> str:
    return (Path("/etc/netns") / hn.sandbox(name) / file).read_text()


def test_hosts_resolver_mac_and_net_alias(hn: HawserNode) -> None:
    gateway = hn.json("network", "inspect", "bridge")[0]["IPAM"]["Config"][0]["Gateway"]
    hn.cli("run", "-d", "--name", "f1", "--net", "flagnet", "--add-host", "db.local:10.1.2.3",
           "--add-host", "host.docker.internal:host-gateway", "--add-host", "v6=[::1]",
           "--dns-search", "corp.example.", "--dns-option", "ndots:3", "--dns-opt", "timeout:2",
           "--mac-address", "02:aa:bb:cc:dd:ee", "--", "sleep", "600")  # fmt: skip
    ctr = hn.json("inspect", "f1")[0]
    assert list(ctr["NetworkSettings"]["Networks"]) == ["flagnet"]  # --net is --network
    hosts = hn.cli("exec", "f1", "cat", "/etc/hosts").stdout  # what the process reads
    assert "10.1.2.3\tdb.local\n" in hosts
    assert f"{gateway}\thost.docker.internal\n" in hosts  # the default bridge's gateway
    assert "::1\tv6\n" in hosts
    resolv = hn.cli("exec", "f1", "cat", "/etc/resolv.conf").stdout
    assert "search corp.example\n" in resolv  # the embedded DNS keeps the user's choices
    assert "nameserver 127.0.0.11\n" in resolv and "options ndots:3 timeout:2\n" in resolv
    link = hn.cli("exec", "f1", "ip", "-o", "link", "show", "eth0").stdout
    assert "link/ether 02:aa:bb:cc:dd:ee" in link
    assert ctr["NetworkSettings"]["Networks"]["flagnet"]["MacAddress"] == "02:aa:bb:cc:dd:ee"
    assert ctr["HostConfig"]["ExtraHosts"] == [
        "db.local:10.1.2.3",
        "host.docker.internal:host-gateway",
        "v6:::1",
    ]
    assert ctr["HostConfig"]["DnsSearch"] == ["corp.example"]
    assert ctr["HostConfig"]["DnsOptions"] == ["ndots:3", "timeout:2"]
    ping = hn.cli("exec", "f1", "ping", "-c1", "-W2", "172.30.77.1")
    assert "1 received" in ping.stdout  # the custom MAC still forwards

    hn.cli("run", "-d", "--name", "f2", "--dns-search", "a.example", "--dns-option", "rotate",
           "--", "sleep", "600")  # fmt: skip
    plain = sandbox_file(hn, "f2", "resolv.conf")  # default bridge: the node's resolvers
    assert "search a.example\n" in plain and "options rotate\n" in plain
    assert "127.0.0.11" not in plain
    f3 = hn.cli("run", "-d", "--name", "f3", "--", "sleep", "600")  # positive control
    assert f3.returncode == 0 and "search a.example" not in sandbox_file(hn, "f3", "resolv.conf")


def test_env_file_labels_and_sysctls(hn: HawserNode, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# settings\nGREETING=hello world\n  INDENTED=yes\nFROM_CLI\nEMPTY=\n")
    labels = tmp_path / "labels"
    labels.write_text("team=net\n")
    hn.cli("run", "-d", "--name", "f4", "--env-file", str(env_file), "-e", "GREETING=override",
           "-l", "tier=web", "--label", "flag", "--label-file", str(labels),
           "--sysctl", "net.ipv4.ip_unprivileged_port_start=80",
           "--sysctl", "net.ipv4.conf.all.forwarding=1", "--", "sleep", "600")  # fmt: skip
    env = hn.cli("exec", "f4", "env").stdout.splitlines()
    assert "GREETING=override" in env and "INDENTED=yes" in env and "EMPTY=" in env
    assert not any(line.startswith("FROM_CLI") for line in env)  # unset here: dropped
    ctr = hn.json("inspect", "f4")[0]
    assert ctr["Config"]["Labels"] == {"tier": "web", "flag": "", "team": "net"}
    assert hn.cli("inspect", "-f", '{{index .Config.Labels "tier"}}', "f4").stdout == "web\n"
    listed = hn.cli("ps", "--filter", "label=tier=web", "--format", "{{.Names}} {{.Labels}}")
    assert listed.stdout == "f4 flag=,team=net,tier=web\n"
    sysctl = hn.cli("exec", "f4", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout
    assert sysctl == "80\n"
    node_value = hn.in_node("cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout
    assert node_value != "80\n"  # the sandbox's own, not the node's
    assert hn.json("inspect", "f4")[0]["HostConfig"]["Sysctls"] == {
        "net.ipv4.ip_unprivileged_port_start": "80",
        "net.ipv4.conf.all.forwarding": "1",
    }


# (arguments, exit status, stderr)
REFUSED: list[tuple[list[str], int, str]] = [
    (
        ["--add-host", "nocolon"],
        125,
        'invalid argument "nocolon" for "--add-host" flag: bad format for add-host: "nocolon"\n',
    ),
    (
        ["--add-host", "h:999.1.1.1"],
        125,
        'invalid argument "h:999.1.1.1" for "--add-host" flag: invalid IP address in add-host: '
        '"999.1.1.1"\n',
    ),
    (
        ["--dns-search", "bad domain"],
        125,
        'invalid argument "bad domain" for "--dns-search" flag: bad domain is not a valid domain\n',
    ),
    (
        ["-l", " =x"],
        125,
        'invalid argument " =x" for "-l, --label" flag: invalid label \' =x\': empty name\n',
    ),
    (
        ["--sysctl", "kernel.domainname=x"],
        125,
        'invalid argument "kernel.domainname=x" for "--sysctl" flag: sysctl '
        "'kernel.domainname=x' is not allowed\n",
    ),
    (
        ["--sysctl", "kernel.shmmax=1"],
        125,
        'Error response from daemon: sysctl "kernel.shmmax" not allowed in host IPC namespace\n',
    ),
    (
        ["--net", "host", "--sysctl", "net.ipv4.ip_forward=1"],
        125,
        'Error response from daemon: sysctl "net.ipv4.ip_forward" not allowed in host network '
        "namespace\n",
    ),
    (
        ["--sysctl", "net.ipv4.no_such_knob=1"],
        127,  # Docker's CLI: "no such file" is 127
        "Error response from daemon: open /proc/sys/net/ipv4/no_such_knob: no such file or "
        "directory\n",
    ),
    (
        ["--mac-address", "zz:zz"],
        125,
        "hawser: zz:zz is not a valid mac address.\nSee 'hawser run --help'.\n",
    ),
    (
        ["--mac-address", "01:00:5e:00:00:01"],
        125,
        "Error response from daemon: 01:00:5e:00:00:01 is not a valid mac address: a multicast "
        "address\n",
    ),
    (
        ["--net", "none", "--mac-address", "02:00:00:00:00:01"],
        125,
        "Error response from daemon: conflicting options: mac-address and the network mode\n",
    ),
    (
        ["--env-file", "/nonexistent.env"],
        125,
        "hawser: --env-file: open /nonexistent.env: no such file or directory.\n"
        "See 'hawser run --help'.\n",
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "stderr"), REFUSED, ids=[" ".join(a) for a, _, _ in REFUSED]
)
def test_docker_refusals_leave_nothing(
    hn: HawserNode, args: list[str], code: int, stderr: str
) -> None:
    before = sorted(hn.hawser_netns())
    got = hn.cli("run", "-d", *args, "--", "sleep", "600", check=False)
    assert (got.returncode, got.stdout, got.stderr) == (code, "", stderr)
    assert sorted(hn.hawser_netns()) == before  # nothing half-made
