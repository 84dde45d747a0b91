"""Network commands through the CLI: Docker's shapes, pools, options, labels, prune."""

from __future__ import annotations

import re
from typing import Any

from testbed.hawser import HawserNode

# Docker 20.10's `network inspect noicc` (reference/network-inspect.json, captured on a real
# Docker), its ids and timestamp replaced by the placeholders `_normalised` writes.
DOCKER_NOICC = {
    "Name": "noicc",
    "Id": "<id>",
    "Created": "<time>",
    "Scope": "local",
    "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "172.30.0.0/24"}]},
    "Internal": False,
    "Attachable": False,
    "Ingress": False,
    "ConfigFrom": {"Network": ""},
    "ConfigOnly": False,
    "Containers": {
        "<id>": {
            "Name": "db",
            "EndpointID": "<id>",
            "MacAddress": "02:42:ac:1e:00:02",
            "IPv4Address": "172.30.0.2/24",
            "IPv6Address": "",
        }
    },
    "Options": {"com.docker.network.bridge.enable_icc": "false"},
    "Labels": {},
}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")


def _normalised(got: dict[str, Any]) -> dict[str, Any]:
    """``got`` with its ids and time checked for shape, then replaced by placeholders."""
    assert HEX64.match(got["Id"]) and CREATED.match(got["Created"]), got
    containers = {}
    for cid, member in got["Containers"].items():
        assert HEX64.match(cid) and HEX64.match(member["EndpointID"]), member
        containers["<id>"] = {**member, "EndpointID": "<id>"}
    return {**got, "Id": "<id>", "Created": "<time>", "Containers": containers}


def test_inspect_shape_options_labels_and_pools(node: HawserNode) -> None:
    node.cli("network", "create", "--subnet", "172.30.0.0/24",
             "-o", "com.docker.network.bridge.enable_icc=false", "--label", "team=blue", "noicc")  # fmt: skip
    node.cli("run", "-d", "--name", "db", "--network", "noicc")
    got = node.json("network", "inspect", "noicc")[0]
    # Docker's shape, key order and values; only the label is this test's own
    assert list(got) == list(DOCKER_NOICC)
    assert _normalised(got) == {**DOCKER_NOICC, "Labels": {"team": "blue"}}
    assert list(got["Containers"].values())[0]["MacAddress"] == "02:42:ac:1e:00:02"  # from the IP
    # pools: the default bridge took 172.17/16, the next automatic subnet is 172.18/16
    assert (
        node.json("network", "inspect", "bridge")[0]["IPAM"]["Config"][0]["Subnet"]
        == "172.17.0.0/16"
    )
    node.cli("network", "create", "auto")
    auto = node.json("network", "inspect", "auto")[0]["IPAM"]["Config"][0]
    assert auto == {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}
    node.cli("network", "create", "--subnet", "172.31.0.0/16", "--gateway", "172.31.0.254",
             "--ip-range", "172.31.5.0/24", "--aux-address", "printer=172.31.5.1", "custom")  # fmt: skip
    node.cli("run", "-d", "--name", "first", "--network", "custom")
    node.cli("run", "-d", "--name", "second", "--network", "custom")
    # as in Docker, the range starts at its own first address (a host address of the /16);
    # the aux address is skipped
    assert node.ip_of("first", "custom") == "172.31.5.0"
    assert node.ip_of("second", "custom") == "172.31.5.2"
    node.cli("exec", "second", "--", "ping", "-c1", "-W2", "172.31.0.254")


def test_ls_rm_and_prune(node: HawserNode) -> None:
    node.cli("network", "create", "used")
    node.cli("network", "create", "idle1")
    node.cli("network", "create", "--internal", "idle2")
    node.cli("run", "-d", "--name", "user", "--network", "used")
    table = node.cli("network", "ls").stdout.splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert sorted(line.split()[1] for line in table[1:]) == [
        "bridge", "host", "idle1", "idle2", "none", "used",
    ]  # fmt: skip
    assert all(len(i) == 12 for i in node.cli("network", "ls", "-q").stdout.split())
    pruned = node.cli("network", "prune", "-f").stdout
    assert pruned.splitlines()[0] == "Deleted Networks:"
    assert sorted(pruned.split()[2:]) == ["idle1", "idle2"]
    names = sorted(n["Name"] for n in node.jsonl("network", "ls", "--format", "json"))
    assert names == ["bridge", "host", "none", "used"]
    assert (
        node.cli("network", "rm", "none", check=False)
        .stderr.strip()
        .endswith("none is a pre-defined network and cannot be removed")
    )
    node.cli("rm", "-f", "user")
    assert node.cli("network", "rm", "used").stdout.strip() == "used"
    assert node.hawser_links() == ["hawser0"]
