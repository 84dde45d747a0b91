"""``hawser network …``: requests sent and Docker-style output, against the fake API."""

from __future__ import annotations

import json

import pytest

from cli.networks import PRUNE_PROMPT
from tests.fake_daemon import FakeDaemon, invoke

ID1 = "7c749175428f7eadcf60dece0ca8cf411d3f99ef4e85329bb184342bdb5bbdef"
ID2 = "0fb5e1ef8ecaee763c3711234c255470c225a04393af6c8be4a91f9a80c16761"


def net(name: str, nid: str, **extra: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "Name": name,
        "Id": nid,
        "Created": "2026-11-22T11:16:15.354697276Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "172.30.0.0/24"}]},
        "Internal": False,
        "Attachable": False,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }
    obj.update(extra)
    return obj


def test_create_with_every_flag(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks", status=201, body={"Id": ID1, "Warning": ""})
    result = invoke(
        fake, "network", "create", "-d", "bridge", "--subnet", "10.9.0.0/16",
        "--gateway", "10.9.0.254", "--ip-range", "10.9.1.0/24",
        "--aux-address", "a=10.9.0.5", "--aux-address", "b=10.9.0.6",
        "--internal", "--attachable", "--label", "env=test", "--label", "team=net",
        "-o", "com.docker.network.bridge.enable_icc=false",
        "--opt", "com.docker.network.driver.mtu=1400",
        "mynet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ID1 + "\n"
    (req,) = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/networks")
    assert req.body == {
        "Name": "mynet",
        "Driver": "bridge",
        "IPAM": {
            "Config": [
                {
                    "Subnet": "10.9.0.0/16",
                    "Gateway": "10.9.0.254",
                    "IPRange": "10.9.1.0/24",
                    "AuxAddress": {"a": "10.9.0.5", "b": "10.9.0.6"},
                }
            ]
        },
        "Internal": True,
        "Attachable": True,
        "Labels": {"env": "test", "team": "net"},
        "Options": {
            "com.docker.network.bridge.enable_icc": "false",
            "com.docker.network.driver.mtu": "1400",
        },
    }


def test_create_defaults_and_warning(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks", status=201, body={"Id": ID2, "Warning": "odd but allowed"})
    result = invoke(fake, "network", "create", "plain")
    assert result.exit_code == 0
    assert result.stdout == ID2 + "\n"
    assert result.stderr == "WARNING: odd but allowed\n"
    assert fake.requests[0].body == {
        "Name": "plain",
        "Driver": "bridge",
        "IPAM": {"Config": []},
        "Internal": False,
        "Attachable": False,
        "Labels": {},
        "Options": {},
    }


def test_create_daemon_error_is_one_line(fake: FakeDaemon) -> None:
    fake.error("POST", "/v1/networks", 409, "network with name plain already exists")
    result = invoke(fake, "network", "create", "plain")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: network with name plain already exists\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "novalue"], "Error: bad attribute format: novalue\n"),
        (["--aux-address", "10.0.0.1"], "Error: invalid aux-address, expected HOST=IP: 10.0.0.1\n"),
    ],
)
def test_create_local_errors(fake: FakeDaemon, args: list[str], message: str) -> None:
    result = invoke(fake, "network", "create", *args, "n")
    assert result.exit_code == 1
    assert result.stderr == message
    assert fake.requests == []


def test_create_opt_without_value_is_empty(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks", status=201, body={"Id": ID1})
    invoke(fake, "network", "create", "-o", "flag", "n")
    assert fake.requests[0].body["Options"] == {"flag": ""}


def test_ls_table(fake: FakeDaemon) -> None:
    fake.route(
        "GET",
        "/v1/networks",
        body=[net("bridge", ID2), net("noicc", ID1), net("h", "f" * 64, Driver="host")],
    )
    result = invoke(fake, "network", "ls")
    assert result.exit_code == 0
    # Docker's tab writer (columns at least 10 wide) and its order: names, naturally sorted
    assert result.stdout == (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "0fb5e1ef8eca   bridge    bridge    local\n"
        "ffffffffffff   h         host      local\n"
        "7c749175428f   noicc     bridge    local\n"
    )


def test_ls_quiet_and_no_trunc(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/networks", body=[net("a", ID1), net("b", ID2)])
    assert invoke(fake, "network", "ls", "-q").stdout == f"{ID1[:12]}\n{ID2[:12]}\n"
    assert invoke(fake, "network", "ls", "-q", "--no-trunc").stdout == f"{ID1}\n{ID2}\n"
    table = invoke(fake, "network", "ls", "--no-trunc").stdout.splitlines()
    assert table[1].split() == [ID1, "a", "bridge", "local"]


def test_ls_json(fake: FakeDaemon) -> None:
    fake.route(
        "GET", "/v1/networks", body=[net("a", ID1, Labels={"z": "1", "k": "v"}, Internal=True)]
    )
    result = invoke(fake, "network", "ls", "--format", "json")
    assert (
        [json.loads(line) for line in result.stdout.splitlines()]
        == [
            {
                "CreatedAt": "2026-11-22 11:16:15.354697276 +0000 UTC",  # Go's time.String
                "Driver": "bridge",
                "ID": ID1[:12],
                "IPv6": "false",
                "Internal": "true",
                "Labels": "k=v,z=1",
                "Name": "a",
                "Scope": "local",
            }
        ]
    )


def test_inspect_array_with_docker_indent(fake: FakeDaemon) -> None:
    a, b = net("a", ID1), net("b", ID2)
    fake.route("GET", "/v1/networks/a", body=a)
    fake.route("GET", "/v1/networks/b", body=b)
    result = invoke(fake, "network", "inspect", "a", "b")
    assert result.exit_code == 0
    assert result.stdout == json.dumps([a, b], indent=4) + "\n"
    assert '\n    {\n        "Name": "a",' in result.stdout


def test_inspect_missing_prints_found_then_error(fake: FakeDaemon) -> None:
    a = net("a", ID1)
    fake.route("GET", "/v1/networks/a", body=a)
    fake.error("GET", "/v1/networks/nope", 404, "network nope not found")
    result = invoke(fake, "network", "inspect", "nope", "a")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [a]
    assert result.stderr == "Error: No such network: nope\n"


def test_rm_prints_each_name_and_continues_after_error(fake: FakeDaemon) -> None:
    fake.route("DELETE", "/v1/networks/a", status=204)
    fake.error(
        "DELETE",
        "/v1/networks/bridge",
        403,
        "bridge is a pre-defined network and cannot be removed",
    )
    fake.route("DELETE", "/v1/networks/c", status=204)
    result = invoke(fake, "network", "rm", "a", "bridge", "c")
    assert result.exit_code == 1
    assert result.stdout == "a\nc\n"
    assert result.stderr == (
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"
    )
    assert [(r.method, r.path) for r in fake.requests] == [
        ("DELETE", "/v1/networks/a"),
        ("DELETE", "/v1/networks/bridge"),
        ("DELETE", "/v1/networks/c"),
    ]


def test_connect_body(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks/n1/connect", body={})
    result = invoke(
        fake, "network", "connect", "--ip", "10.1.0.9", "--alias", "x", "--alias", "y", "n1", "web"
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert fake.requests[0].body == {
        "Container": "web",
        "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.1.0.9"}, "Aliases": ["x", "y"]},
    }


def test_connect_defaults_and_error(fake: FakeDaemon) -> None:
    fake.error("POST", "/v1/networks/n1/connect", 409, "web is already attached to network n1")
    result = invoke(fake, "network", "connect", "n1", "web")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: web is already attached to network n1\n"
    assert fake.requests[0].body == {
        "Container": "web",
        "EndpointConfig": {"IPAMConfig": {"IPv4Address": ""}, "Aliases": []},
    }


@pytest.mark.parametrize(("flag", "force"), [([], False), (["-f"], True), (["--force"], True)])
def test_disconnect_body(fake: FakeDaemon, flag: list[str], force: bool) -> None:
    fake.route("POST", "/v1/networks/n1/disconnect", body={})
    result = invoke(fake, "network", "disconnect", *flag, "n1", "web")
    assert result.exit_code == 0
    assert fake.requests[0].body == {"Container": "web", "Force": force}


def test_prune_prompt_yes(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks/prune", body={"NetworksDeleted": ["n1", "n2"]})
    result = invoke(fake, "network", "prune", input="y\n")
    assert result.exit_code == 0
    assert result.stdout == PRUNE_PROMPT + "Deleted Networks:\nn1\nn2\n\n"
    assert PRUNE_PROMPT.endswith("Are you sure you want to continue? [y/N] ")
    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/networks/prune")]


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "yes please\n"])
def test_prune_prompt_no_sends_nothing(fake: FakeDaemon, answer: str) -> None:
    result = invoke(fake, "network", "prune", input=answer)
    assert result.exit_code == 0
    assert result.stdout == PRUNE_PROMPT
    assert fake.requests == []


def test_prune_force_nothing_deleted(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks/prune", body={"NetworksDeleted": []})
    result = invoke(fake, "network", "prune", "-f")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert len(fake.requests) == 1
