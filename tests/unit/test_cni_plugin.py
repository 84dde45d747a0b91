"""``hawser-cni`` driven the way libcni drives a plugin: exec with CNI_* variables and the
network configuration on stdin, result or error object on stdout, exit code 0 or 1. The
daemon side is a stub serving the contract of controller/plugins/cni/client.py."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.plugins.cni.main import run
from controller.plugins.cni.spec import CniError
from tests.cni_stub_daemon import StubDaemon

REPO = Path(__file__).resolve().parents[2]
PLUGIN = str(REPO / ".venv" / "bin" / "hawser-cni")

OURS = {  # what the daemon answers an ADD: a CNI 1.0.0 result without cniVersion
    "interfaces": [
        {"name": "hwv0123456789a", "mac": "5e:00:00:00:00:01"},
        {"name": "eth0", "mac": "02:42:0a:58:00:02", "sandbox": "/run/netns/ns1"},
    ],
    "ips": [{"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}],
    "dns": {"nameservers": ["10.88.0.1"]},
}


class Daemon:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: dict[str, tuple[int, dict[str, Any]]] = {}
        self.stub = StubDaemon(path, self.answer)

    def answer(self, path: str, body: dict[str, Any], pid: int) -> tuple[int, dict[str, Any]]:
        default = (200, OURS) if path.endswith("/add") else (200, {})
        return self.replies.get(path, default)

    @property
    def requests(self) -> list[tuple[str, dict[str, Any], int]]:
        return self.stub.requests


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "hawser.sock")
    try:
        yield d
    finally:
        d.stub.close()


def conf(daemon: Daemon, version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"cniVersion": version, "name": "hawsernet", "type": "hawser-cni",
            "socket": str(daemon.path), **extra}  # fmt: skip


def env(command: str, **extra: str) -> dict[str, str]:
    base = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/run/netns/ns1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def exec_plugin(environ: dict[str, str], config: Any) -> tuple[int, Any]:
    """As libcni does: a fresh process, the environment, the config on stdin."""
    stdin = config if isinstance(config, bytes) else json.dumps(config).encode()
    done = subprocess.run(
        [PLUGIN], input=stdin, env={"PATH": os.environ["PATH"], **environ},
        capture_output=True, timeout=20,
    )  # fmt: skip
    out = done.stdout.decode().strip()
    return done.returncode, json.loads(out) if out else None


def test_version_lists_the_supported_versions() -> None:
    assert exec_plugin({"CNI_COMMAND": "VERSION"}, {"cniVersion": "0.4.0"}) == (
        0,
        {"cniVersion": "0.4.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]},
    )
    assert exec_plugin({"CNI_COMMAND": "VERSION"}, b"")[1]["cniVersion"] == "1.0.0"


def test_add_sends_the_contract_and_prints_a_1_0_0_result(daemon: Daemon) -> None:
    config = conf(daemon, capabilities={"portMappings": True}, runtimeConfig={"portMappings": [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
        {"hostPort": 0, "containerPort": 53, "protocol": "UDP", "hostIP": "0.0.0.0"},
        {"hostPort": 8443, "containerPort": 443, "hostIP": "127.0.0.1"},
    ]})  # fmt: skip
    code, result = exec_plugin(env("ADD"), config)
    assert code == 0
    assert result == {"cniVersion": "1.0.0", **OURS}
    [(path, body, pid)] = daemon.requests
    assert path == "/cni/v1/add" and pid > 0
    assert body == {
        "cniVersion": "1.0.0",
        "network": "hawsernet",
        "containerId": "c0ffee",
        "ifName": "eth0",
        "netns": "/run/netns/ns1",
        "args": {"IgnoreUnknown": "1", "K8S_POD_NAME": "web"},
        "portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
            {"hostPort": 0, "containerPort": 53, "protocol": "udp", "hostIP": ""},
            {"hostPort": 8443, "containerPort": 443, "protocol": "tcp", "hostIP": "127.0.0.1"},
        ],
        "prevResult": None,
        "config": config,
    }


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0"])
def test_older_versions_mark_each_ip(daemon: Daemon, version: str) -> None:
    code, result = exec_plugin(env("ADD"), conf(daemon, version, network="other"))
    assert code == 0 and result["cniVersion"] == version
    assert result["ips"] == [
        {"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 1, "version": "4"}
    ]
    assert daemon.requests[0][1]["network"] == "other"  # the "network" key wins over name


def test_chained_prev_result_is_kept_and_extended(daemon: Daemon) -> None:
    prev = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": "/run/netns/ns1"}],
        "ips": [{"address": "127.0.0.1/8", "interface": 0}],
        "routes": [{"dst": "127.0.0.0/8"}],
    }
    code, result = exec_plugin(env("ADD"), conf(daemon, prevResult=prev))
    assert code == 0
    assert [i["name"] for i in result["interfaces"]] == ["lo", "hwv0123456789a", "eth0"]
    assert result["ips"] == [
        {"address": "127.0.0.1/8", "interface": 0},
        {"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 2},  # shifted by 1
    ]
    assert result["routes"] == [{"dst": "127.0.0.0/8"}, {"dst": "0.0.0.0/0", "gw": "10.88.0.1"}]
    assert daemon.requests[0][1]["prevResult"] == prev


def test_del_is_idempotent_and_needs_no_netns(daemon: Daemon) -> None:
    assert exec_plugin(env("DEL"), conf(daemon)) == (0, None)
    assert exec_plugin(env("DEL"), conf(daemon)) == (0, None)
    assert exec_plugin(env("DEL", CNI_NETNS=""), conf(daemon)) == (0, None)
    assert [(p, b["netns"]) for p, b, _ in daemon.requests] == [
        ("/cni/v1/del", "/run/netns/ns1"),
        ("/cni/v1/del", "/run/netns/ns1"),
        ("/cni/v1/del", ""),
    ]


def test_check(daemon: Daemon) -> None:
    prev = {"cniVersion": "1.0.0", **OURS}
    assert exec_plugin(env("CHECK"), conf(daemon, prevResult=prev)) == (0, None)
    assert daemon.requests[-1][0] == "/cni/v1/check"
    daemon.replies["/cni/v1/check"] = (409, {"message": "eth0 has no address 10.88.0.2/24"})
    assert exec_plugin(env("CHECK"), conf(daemon, prevResult=prev)) == (
        1,
        {"cniVersion": "1.0.0", "code": 100, "msg": "eth0 has no address 10.88.0.2/24"},
    )


@pytest.mark.parametrize(
    ("environ", "config", "code", "msg"),
    [
        (env("ADD", CNI_CONTAINERID=""), {}, 4, "CNI_CONTAINERID is required for ADD"),
        (env("ADD", CNI_NETNS=""), {}, 4, "CNI_NETNS is required for ADD"),
        (env("CHECK", CNI_IFNAME=""), {}, 4, "CNI_IFNAME is required for CHECK"),
        (env("ADD", CNI_COMMAND="GC"), {}, 4, "CNI_COMMAND must be one of ADD, DEL, CHECK, VERSION"),
        (env("ADD", CNI_ARGS="novalue"), {}, 4, "invalid CNI_ARGS pair 'novalue': want KEY=VALUE"),
        (env("ADD"), {"cniVersion": "0.2.0"}, 1,
         "incompatible CNI versions: config is '0.2.0', plugin supports ['0.3.1', '0.4.0', '1.0.0']"),
        (env("ADD"), {"cniVersion": ""}, 7, "cniVersion is required in the network configuration"),
        (env("ADD"), {"name": ""}, 7, "name is required in the network configuration"),
        (env("CHECK"), {"cniVersion": "0.3.1"}, 1, "CHECK is not supported before CNI 0.4.0"),
        (env("CHECK"), {}, 7, "CHECK needs prevResult in the network configuration"),
        (env("ADD"), {"runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 0}]}}, 7,
         "runtimeConfig.portMappings[0].containerPort must be a port number, not 0"),
        (env("ADD"), {"runtimeConfig": {"portMappings": [
            {"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]}}, 7,
         "runtimeConfig.portMappings[0].protocol 'icmp' is not tcp, udp or sctp"),
        (env("ADD"), {"socket": "/nonexistent/hawser.sock"}, 11,
         "hawser daemon not reachable at /nonexistent/hawser.sock: No such file or directory"),
    ],
)  # fmt: skip
def test_errors_are_the_spec_object_with_its_codes(
    daemon: Daemon, environ: dict[str, str], config: dict[str, Any], code: int, msg: str
) -> None:
    version = config.get("cniVersion", "1.0.0")
    out_version = version if version in ("0.3.1", "0.4.0", "1.0.0") else "1.0.0"
    assert exec_plugin(environ, {**conf(daemon), **config}) == (
        1,
        {"cniVersion": out_version, "code": code, "msg": msg},
    )
    assert daemon.requests == []  # refused before asking the daemon


def test_undecodable_config() -> None:
    code, err = exec_plugin(env("ADD"), b"{not json")
    assert code == 1 and err["code"] == 6 and err["msg"].startswith("network configuration is not")


@pytest.mark.parametrize(
    ("status", "reply", "code", "msg"),
    [
        (404, {"message": "network hawsernet not found"}, 3, "network hawsernet not found"),
        (400, {"message": "invalid port 0"}, 7, "invalid port 0"),
        (503, {"message": "daemon starting"}, 11, "daemon starting"),
        (409, {"message": "Bind for 0.0.0.0:8080 failed: port is already allocated"}, 100,
         "Bind for 0.0.0.0:8080 failed: port is already allocated"),
        (409, {"message": "try later", "cniCode": 11}, 11, "try later"),
        (500, {}, 100, "hawser answered HTTP 500"),
    ],
)  # fmt: skip
def test_daemon_refusals_map_to_codes(
    daemon: Daemon, status: int, reply: dict[str, Any], code: int, msg: str
) -> None:
    daemon.replies["/cni/v1/add"] = (status, reply)
    with pytest.raises(CniError) as caught:
        run(env("ADD"), json.dumps(conf(daemon)).encode())
    assert (caught.value.code, caught.value.msg) == (code, msg)
