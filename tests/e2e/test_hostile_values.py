"""Hostile values never reach a sandbox's files: refused, one line, nothing written.

Before the fix ``--dns $'1.1.1.1\\nnameserver 6.6.6.6'`` and ``--link $'pubc:x\\n6.6.6.6
evil.example'`` wrote extra lines into resolv.conf and /etc/hosts, a NUL sent through the
API landed in resolv.conf, and ``--dns abc``, ``--dns 1.2.3.999``, ``--dns ''``, ``-e ''``
were accepted. The daemon is the boundary (the API); the CLI refuses the flags Docker's CLI
refuses, with Docker's text, before calling it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.client import Client, DaemonError
from testbed.hawser import HawserNode

ALLOWED = "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 253 characters"


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> Iterator[HawserNode]:
    shared_node.cli("network", "create", "--subnet", "172.30.5.0/24", "usernet")
    shared_node.cli("run", "-d", "--name", "pubc", "--", "sleep", "600")
    shared_node.cli("run", "-d", "--name", "peer", "--network", "usernet", "--", "sleep", "600")
    yield shared_node


def files(hn: HawserNode) -> dict[str, Any]:
    """Every sandbox file of this node, and the containers the daemon knows."""
    etc = Path("/etc/netns")
    return {
        "files": {
            str(p): p.read_bytes()
            for folder in hn.sandbox_folders()
            for p in sorted((etc / folder).iterdir())
        },
        "containers": sorted(hn.cli("ps", "-aq", "--no-trunc").stdout.split()),
        "state": sorted(p.name for p in (hn.state_dir / "containers").iterdir()),
    }


def sandbox_file(hn: HawserNode, container: str, name: str) -> str:
    return (Path("/etc/netns") / hn.sandbox(container) / name).read_text()


# (CLI arguments, the one line on stderr)
CLI_CASES: list[tuple[list[str], str]] = [
    (["run", "-d", "--dns", "1.1.1.1\nnameserver 6.6.6.6", "--", "sleep", "1"],
     'invalid argument "1.1.1.1\\nnameserver 6.6.6.6" for "--dns" flag: '
     '"1.1.1.1\\nnameserver 6.6.6.6" is not an ip address'),
    (["run", "-d", "--dns", "abc"], 'invalid argument "abc" for "--dns" flag: abc is not an ip address'),
    (["run", "-d", "--dns", "1.2.3.999"],
     'invalid argument "1.2.3.999" for "--dns" flag: 1.2.3.999 is not an ip address'),
    (["run", "-d", "--dns", ""], 'invalid argument "" for "--dns" flag:  is not an ip address'),
    (["run", "-d", "--dns", "fe80::1%eth0"],
     'invalid argument "fe80::1%eth0" for "--dns" flag: fe80::1%eth0 is not an ip address'),
    (["run", "-d", "-e", ""], 'invalid argument "" for "-e, --env" flag: invalid environment variable: '),
    (["run", "-d", "-e", "=x"],
     'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),
    (["exec", "-e", "", "pubc", "--", "true"],
     'invalid argument "" for "-e, --env" flag: invalid environment variable: '),
    (["run", "-d", "--link", "pubc:x\n6.6.6.6 evil.example"],
     f'Error response from daemon: invalid alias "x\\n6.6.6.6 evil.example": {ALLOWED}'),
    (["run", "-d", "--link", "pubc\n6.6.6.6:x"],
     'Error response from daemon: bad format for links: "pubc\\n6.6.6.6:x": invalid container name'),
    (["run", "-d", "-h", "a\nb"], 'Error response from daemon: invalid hostname format: "a\\nb"'),
    (["run", "-d", "-h", "h" * 65], "Error response from daemon: invalid Hostname: longer than 64 characters"),
    (["run", "-d", "--name", "a\nb"],
     'Error response from daemon: Invalid container name ("a\\nb"), '
     "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    (["run", "-d", "--network", "usernet", "--network-alias", "db\n6.6.6.6 x"],
     f'Error response from daemon: invalid alias "db\\n6.6.6.6 x": {ALLOWED}'),
    (["network", "connect", "--alias", "y\nz", "usernet", "pubc"],
     f'Error response from daemon: invalid alias "y\\nz": {ALLOWED}'),
    (["run", "-d", "--add-host", "evil\n6.6.6.6 x:1.2.3.4"],
     'Error response from daemon: bad format for add-host: "evil\\n6.6.6.6 x:1.2.3.4"'),
    (["run", "-d", "--add-host", "h:1.2.3.4\n6.6.6.6 evil"],
     'invalid argument "h:1.2.3.4\\n6.6.6.6 evil" for "--add-host" flag: invalid IP address in '
     'add-host: "1.2.3.4\\n6.6.6.6 evil"'),
    (["run", "-d", "--dns-search", "a.com\nnameserver 6.6.6.6"],
     'invalid argument "a.com\\nnameserver 6.6.6.6" for "--dns-search" flag: '
     '"a.com\\nnameserver 6.6.6.6" is not a valid domain'),
    (["run", "-d", "--dns-option", "ndots:1\nnameserver 6.6.6.6"],
     'Error response from daemon: invalid DNS option "ndots:1\\nnameserver 6.6.6.6": an option '
     "is one word without spaces"),
    (["run", "-d", "--sysctl", "net.ipv4.ip_forward=1\nx"],
     'Error response from daemon: invalid value "1\\nx" for sysctl net.ipv4.ip_forward: one line'),
    (["run", "-d", "--sysctl", "net.ipv4/../../kernel/hostname=x"],
     'Error response from daemon: invalid sysctl name "net.ipv4/../../kernel/hostname"'),
]  # fmt: skip


@pytest.mark.parametrize(("args", "line"), CLI_CASES, ids=[repr(a[1:4]) for a, _ in CLI_CASES])
def test_the_cli_refuses_hostile_values_and_writes_nothing(
    hn: HawserNode, args: list[str], line: str
) -> None:
    before = files(hn)
    result = hn.cli(*args, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [line]
    assert files(hn) == before


def run_body(**fields: Any) -> dict[str, Any]:
    return {"Network": "bridge", "Cmd": ["sleep", "60"], "Detach": True, **fields}


# (method, path, body, the daemon's message)
API_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/v1/containers", run_body(Dns=["1.1.1.1\x00nameserver 6.6.6.6"]),
     "invalid Dns[0]: NUL bytes are not allowed"),
    ("POST", "/v1/containers", run_body(Dns=["1.1.1.1\nnameserver 6.6.6.6"]),
     'invalid argument "1.1.1.1\\nnameserver 6.6.6.6" for Dns: "1.1.1.1\\nnameserver 6.6.6.6" '
     "is not an ip address"),
    ("POST", "/v1/containers", run_body(Dns=["abc"]), 'invalid argument "abc" for Dns: abc is not an ip address'),
    ("POST", "/v1/containers", run_body(Dns=[""]), 'invalid argument "" for Dns:  is not an ip address'),
    ("POST", "/v1/containers", run_body(Dns=[" 1.1.1.1"]),
     'invalid argument " 1.1.1.1" for Dns:  1.1.1.1 is not an ip address'),
    ("POST", "/v1/containers", run_body(Dns=["fe80::1%x\nnameserver 6.6.6.6"]),
     'invalid argument "fe80::1%x\\nnameserver 6.6.6.6" for Dns'),
    ("POST", "/v1/containers", run_body(Env=[""]), "invalid environment variable: "),
    ("POST", "/v1/containers", run_body(Env=["=x"]), "invalid environment variable: =x"),
    ("POST", "/v1/containers", run_body(Env=["A=\x00"]), "invalid Env[0]: NUL bytes are not allowed"),
    ("POST", "/v1/containers", run_body(Hostname="a\nb"), 'invalid hostname format: "a\\nb"'),
    ("POST", "/v1/containers", run_body(Hostname="a\x00b"), "invalid Hostname: NUL bytes are not allowed"),
    ("POST", "/v1/containers", run_body(Links=["pubc:x\n6.6.6.6 evil.example"]),
     'invalid alias "x\\n6.6.6.6 evil.example"'),
    ("POST", "/v1/containers", run_body(Links=["pubc:x\x00"]), "invalid Links[0]: NUL bytes are not allowed"),
    ("POST", "/v1/containers", run_body(Network="usernet", NetworkAliases=["a\tb"]), 'invalid alias "a\\tb"'),
    ("POST", "/v1/containers", run_body(Name="x\x00"), "invalid Name: NUL bytes are not allowed"),
    ("POST", "/v1/containers", run_body(ExtraHosts=["a\nb:1.2.3.4"]), 'bad format for add-host: "a\\nb:1.2.3.4"'),
    ("POST", "/v1/containers", run_body(ExtraHosts=["a:1.2.3.4 b"]), 'invalid IP address in add-host: "1.2.3.4 b"'),
    ("POST", "/v1/containers", run_body(DnsSearch=["x\ny.example"]), '"x\\ny.example" is not a valid domain'),
    ("POST", "/v1/containers", run_body(DnsOptions=["a b"]), 'invalid DNS option "a b"'),
    ("POST", "/v1/containers", run_body(Sysctls={"net.a/../../x": "1"}), 'invalid sysctl name "net.a/../../x"'),
    ("POST", "/v1/containers", run_body(MacAddress="02:00:00:00:00:01\nx"),
     '"02:00:00:00:00:01\\nx" is not a valid mac address'),
    ("POST", "/v1/containers", run_body(Labels={" ": "x"}), "invalid label ' ': empty name"),
    ("POST", "/v1/containers/pubc/exec", {"Cmd": ["true"], "Env": [""]}, "invalid environment variable: "),
    ("POST", "/v1/containers/pubc/exec", {"Cmd": ["true\x00"]}, "invalid Cmd[0]: NUL bytes are not allowed"),
    ("POST", "/v1/networks/usernet/connect",
     {"Container": "pubc", "EndpointConfig": {"Aliases": ["a\nb"]}}, 'invalid alias "a\\nb"'),
    ("POST", "/v1/networks",
     {"Name": "n1", "Options": {"com.docker.network.bridge.name": "br\x00x"}},
     "invalid Options.com.docker.network.bridge.name: NUL bytes are not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    API_CASES,
    ids=[f"{p} {sorted(b.items())[-1]!r}"[:70] for _, p, b, _ in API_CASES],
)
def test_the_api_refuses_hostile_values_and_writes_nothing(
    hn: HawserNode, method: str, path: str, body: dict[str, Any], message: str
) -> None:
    before = files(hn)
    client = Client(str(hn.socket), timeout=30)
    with pytest.raises(DaemonError) as info:
        if path.endswith("/exec"):
            list(client.stream(method, path, body))
        else:
            client.request(method, path, body)
    assert info.value.status == 400
    assert info.value.message.startswith(message)
    assert files(hn) == before


def test_good_values_do_reach_the_files(hn: HawserNode) -> None:
    """The positive control: the same flags with sound values write what they should."""
    hn.cli("run", "-d", "--name", "good", "--dns", " 9.9.9.9 ", "--dns", "2001:db8::53",
           "--link", "pubc:alias1", "-h", "good-host", "-e", "A=1\n2",
           "--", "sleep", "600")  # fmt: skip
    try:
        assert sandbox_file(hn, "good", "resolv.conf").splitlines()[-2:] == [
            "nameserver 9.9.9.9",
            "nameserver 2001:db8::53",
        ]
        hosts = sandbox_file(hn, "good", "hosts").splitlines()
        pubc_ip = hn.ip_of("pubc")
        assert [h for h in hosts if h.startswith(pubc_ip + "\t")] == [
            f"{pubc_ip}\talias1 {hn.json('inspect', 'pubc')[0]['Config']['Hostname']} pubc"
        ]
        assert sandbox_file(hn, "good", "hostname") == "good-host\n"
        out = hn.cli("exec", "good", "--", "sh", "-c", 'printf %s "$A"').stdout
        assert out == "1\n2"
    finally:
        hn.cli("rm", "-f", "good")
