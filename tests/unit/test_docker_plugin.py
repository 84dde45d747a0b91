"""Docker's remote network + IPAM driver protocol, without a daemon.

The conversation replayed here was recorded from the real dockerd 20.10 talking to this
plugin (tests/unit/data/dockerd-20.10-plugin-calls.json, made by
tests/kernel/test_docker_plugin_live.py): the same bodies, in the same order, through
:func:`dispatch` and through the HTTP server on a unix socket.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from controller.errors import InvalidArgument
from controller.plugins.docker import PluginServer, dispatch, write_spec
from controller.plugins.docker.backend import AddressKind, ExposedPort
from controller.plugins.docker.server import CONTENT_TYPE, remove_spec
from controller.plugins.docker.wire import port_requests
from controller.rules.portspec import PortBinding
from tests.docker_plugin_fake import FakeBackend, container_side

RECORDED = json.loads(
    (Path(__file__).parent / "data" / "dockerd-20.10-plugin-calls.json").read_text()
)["calls"]


def replay(backend: FakeBackend) -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for call in RECORDED:
        status, reply = dispatch(backend, call["path"], call["body"])
        out.append((call["path"], status, reply))
    return out


def test_the_recorded_conversation_succeeds_call_by_call() -> None:
    replies = replay(FakeBackend())
    # the enable_icc=maybe network is refused (Err), the --ip of a taken address (Error)
    failed = [(p, r) for p, s, r in replies if "Err" in r or "Error" in r]
    assert failed == [
        (
            "/NetworkDriver.CreateNetwork",
            {
                "Err": "invalid value for com.docker.network.bridge.enable_icc (maybe): "
                'strconv.ParseBool: parsing "maybe": invalid syntax'
            },
        ),
        ("/IpamDriver.RequestAddress", {"Error": "Address already in use: 10.200.0.250"}),
    ]
    assert all(status == 200 for _, status, _ in replies)


def test_handshake_answers() -> None:
    backend = FakeBackend()
    assert dispatch(backend, "/Plugin.Activate", None) == (
        200,
        {"Implements": ["NetworkDriver", "IpamDriver"]},
    )
    assert dispatch(backend, "/NetworkDriver.GetCapabilities", None) == (
        200,
        {"Scope": "local", "ConnectivityScope": "local"},
    )
    assert dispatch(backend, "/IpamDriver.GetCapabilities", None) == (
        200,
        {"RequiresMACAddress": False, "RequiresRequestReplay": False},
    )
    status, spaces = dispatch(backend, "/IpamDriver.GetDefaultAddressSpaces", None)
    assert status == 200 and set(spaces) == {
        "LocalDefaultAddressSpace",
        "GlobalDefaultAddressSpace",
    }
    assert backend.calls == []  # the handshake needs nothing from the backend


def test_pool_answer_carries_the_gateway_in_data() -> None:
    backend = FakeBackend()
    body = {"AddressSpace": "hawser-local", "Pool": "10.200.0.0/24", "SubPool": "", "V6": False}
    assert dispatch(backend, "/IpamDriver.RequestPool", body) == (
        200,
        {
            "PoolID": "hawser-10.200.0.0/24",
            "Pool": "10.200.0.0/24",
            "Data": {"com.docker.network.gateway": "10.200.0.1/24"},
        },
    )
    gw = {"PoolID": "hawser-10.200.0.0/24", "Address": "10.200.0.254",
          "Options": {"RequestAddressType": "com.docker.network.gateway"}}  # fmt: skip
    assert dispatch(backend, "/IpamDriver.RequestAddress", gw) == (
        200,
        {"Address": "10.200.0.254/24", "Data": {}},
    )
    request = backend.last("request_address")
    assert (request.kind, request.address) == (AddressKind.GATEWAY, IPv4Address("10.200.0.254"))


def test_network_endpoint_join_and_ports_are_typed() -> None:
    backend = FakeBackend()
    replay(backend)
    net = [arg for name, arg in backend.calls if name == "create_network"][0]
    assert net.subnet == IPv4Network("10.200.0.0/24")
    assert net.gateway == IPv4Interface("10.200.0.1/24")
    assert net.aux_addresses == {"printer": IPv4Address("10.200.0.250")}
    assert net.options == {"com.docker.network.bridge.enable_icc": "false"}
    assert not net.internal
    internal = [arg for name, arg in backend.calls if name == "create_network"][-1]
    assert internal.internal and internal.options == {}

    program = [arg for name, arg in backend.calls if name == "program"][0]
    assert set(program.ports) == {
        PortBinding("tcp", 90, "", 9000, 9001),
        PortBinding("udp", 80, "127.0.0.1", 8081, 8081),
        PortBinding("tcp", 80, "", 8080, 8080),
        PortBinding("tcp", 53, "", None, None),
    }
    assert ExposedPort(7000, "tcp") in program.exposed


def test_endpoint_reply_gives_only_what_docker_left_empty() -> None:
    backend = FakeBackend()
    body = {"NetworkID": "n" * 64, "EndpointID": "e" * 64, "Options": {},
            "Interface": {"Address": "10.200.0.2/24", "AddressIPv6": "", "MacAddress": ""}}  # fmt: skip
    assert dispatch(backend, "/NetworkDriver.CreateEndpoint", body) == (
        200,
        {"Interface": {"MacAddress": "02:42:0a:c8:00:02"}},
    )
    body["Interface"]["MacAddress"] = "02:aa:bb:cc:dd:ee"  # --mac-address: not echoed back
    assert dispatch(backend, "/NetworkDriver.CreateEndpoint", body) == (200, {"Interface": None})


def test_join_reply_shape() -> None:
    backend = FakeBackend()
    internal = next(
        c["body"] for c in RECORDED if c["body"] and "com.docker.network.internal" in json.dumps(c)
    )
    assert dispatch(backend, "/NetworkDriver.CreateNetwork", internal) == (200, {})
    network_id = internal["NetworkID"]
    status, reply = dispatch(
        backend,
        "/NetworkDriver.Join",
        {"NetworkID": network_id, "EndpointID": "f" * 64, "SandboxKey": "/run/docker/netns/x"},
    )
    assert status == 200
    assert reply == {
        "InterfaceName": {"SrcName": container_side("f" * 64), "DstPrefix": "eth"},
        "Gateway": "",  # internal: no default route
        "GatewayIPv6": "",
        "StaticRoutes": [],
        "DisableGatewayService": True,
    }


def test_revoke_needs_no_options_the_backend_remembers() -> None:
    backend = FakeBackend()
    body = {"NetworkID": "n" * 64, "EndpointID": "e" * 64, "Options": {
        "com.docker.network.portmap": [{"Proto": 6, "IP": "", "Port": 80, "HostIP": "",
                                        "HostPort": 8080, "HostPortEnd": 8080}]}}  # fmt: skip
    assert dispatch(backend, "/NetworkDriver.ProgramExternalConnectivity", body) == (200, {})
    assert "e" * 64 in backend.bindings
    ids = {"NetworkID": "n" * 64, "EndpointID": "e" * 64}
    assert dispatch(backend, "/NetworkDriver.RevokeExternalConnectivity", ids) == (200, {})
    assert backend.bindings == {}


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/IpamDriver.RequestPool", {"AddressSpace": "x", "Pool": "10.0.0.0/33"}, "Error",
         "invalid Pool: '10.0.0.0/33'"),
        ("/IpamDriver.RequestPool", {"AddressSpace": "x", "Pool": "10.0.0.1/24"}, "Error",
         "invalid Pool: '10.0.0.1/24' has host bits set"),
        ("/IpamDriver.RequestPool", {"AddressSpace": "x", "V6": True}, "Error",
         "IPv6 pools are not supported by Hawser"),
        ("/IpamDriver.RequestPool", {"AddressSpace": "x", "SubPool": "10.0.0.0/25"}, "Error",
         "SubPool given without Pool"),
        ("/IpamDriver.RequestPool", {"Pool": "10.0.0.0/24", "SubPool": "10.1.0.0/25"}, "Error",
         "SubPool 10.1.0.0/25 is not inside Pool 10.0.0.0/24"),
        ("/IpamDriver.RequestAddress", {"Address": "10.0.0.2"}, "Error", "PoolID is required"),
        ("/IpamDriver.RequestAddress", {"PoolID": "p", "Address": "nope"}, "Error",
         "invalid Address: 'nope'"),
        ("/IpamDriver.RequestAddress", {"PoolID": "nope"}, "Error", "unknown pool nope"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": "n", "IPv4Data": []}, "Err",
         "IPv4Data must hold exactly one pool, not []"),
        ("/NetworkDriver.CreateNetwork",
         {"NetworkID": "n", "IPv4Data": [{"Pool": "10.0.0.0/24"}], "IPv6Data": [{"Pool": "fd00::/64"}]},
         "Err", "IPv6 is not supported by Hawser networks"),
        ("/NetworkDriver.CreateNetwork",
         {"NetworkID": "n", "IPv4Data": [{"Pool": "10.0.0.0/24"}],
          "Options": {"com.docker.network.generic": {"mtu": 1500}}},
         "Err", "com.docker.network.generic must map strings to strings"),
        ("/NetworkDriver.DeleteEndpoint", {"NetworkID": "n"}, "Err", "EndpointID is required"),
        ("/NetworkDriver.CreateEndpoint",
         {"NetworkID": "n", "EndpointID": "e", "Interface": {"AddressIPv6": "fd00::2/64"}},
         "Err", "IPv6 is not supported by Hawser: Interface.AddressIPv6"),
        ("/NetworkDriver.ProgramExternalConnectivity",
         {"NetworkID": "n", "EndpointID": "e", "Options": {"com.docker.network.portmap": [
             {"Proto": 99, "Port": 80}]}},
         "Err", "com.docker.network.portmap[0]: unknown protocol number 99"),
        ("/NetworkDriver.ProgramExternalConnectivity",
         {"NetworkID": "n", "EndpointID": "e", "Options": {"com.docker.network.portmap": [
             {"Proto": 6, "Port": 80, "HostIP": "::", "HostPort": 80}]}},
         "Err", "IPv6 host addresses are not supported: ::"),
        ("/NetworkDriver.ProgramExternalConnectivity",
         {"NetworkID": "n", "EndpointID": "e", "Options": {"com.docker.network.portmap": [
             {"Proto": 6, "Port": 80, "HostPort": 90, "HostPortEnd": 85}]}},
         "Err", "com.docker.network.portmap[0]: HostPortEnd 85 is below HostPort 90"),
        ("/NetworkDriver.ProgramExternalConnectivity",
         {"NetworkID": "n", "EndpointID": "e", "Options": {"com.docker.network.portmap": [
             {"Proto": 17, "Port": 0}]}},
         "Err", "com.docker.network.portmap[0]: Port is required"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_in_the_right_field(
    path: str, body: dict[str, Any], field: str, message: str
) -> None:
    backend = FakeBackend()
    assert dispatch(backend, path, body) == (200, {field: message})
    assert [n for n in backend.names() if n != "request_address"] == []  # nothing made


def test_unknown_methods_and_bodies() -> None:
    backend = FakeBackend()
    assert dispatch(backend, "/NetworkDriver.AllocateNetwork", {}) == (
        404,
        {"Err": "unknown plugin method: NetworkDriver.AllocateNetwork"},
    )
    assert dispatch(backend, "/IpamDriver.Nope", {})[1] == {
        "Error": "unknown plugin method: IpamDriver.Nope"
    }
    assert dispatch(backend, "/NetworkDriver.Leave", [1, 2]) == (
        400,
        {"Err": "request body must be a JSON object"},
    )


def test_an_unexpected_failure_is_reported_as_internal_error() -> None:
    class Broken(FakeBackend):
        def delete_network(self, network_id: str) -> None:
            raise OSError(5, "Input/output error")

    status, reply = dispatch(Broken(), "/NetworkDriver.DeleteNetwork", {"NetworkID": "n"})
    assert (status, reply) == (200, {"Err": "internal error: [Errno 5] Input/output error"})


def test_port_requests_accept_an_empty_or_null_portmap() -> None:
    assert port_requests(None) == () and port_requests([]) == ()
    with pytest.raises(InvalidArgument, match="must be a list"):
        port_requests({"Proto": 6})


# --- over HTTP, as dockerd's plugin client sends it ------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("plugin")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeBackend, Path]]:
    backend = FakeBackend()
    sock = tmp_path / "plugins" / "hawser.sock"
    server = PluginServer(backend, sock)
    try:
        yield backend, sock
    finally:
        server.close()
    assert not sock.exists()


def post(sock: Path, path: str, body: bytes) -> tuple[int, str, Any]:
    conn = UnixHTTPConnection(sock)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
        )
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), json.loads(resp.read())
    finally:
        conn.close()


def test_http_server_on_a_unix_socket(served: tuple[FakeBackend, Path]) -> None:
    backend, sock = served
    assert sock.stat().st_mode & 0o777 == 0o660
    assert post(sock, "/Plugin.Activate", b"null\n") == (
        200,
        CONTENT_TYPE,
        {"Implements": ["NetworkDriver", "IpamDriver"]},
    )
    for call in RECORDED[:9]:  # handshake, pool, aux address, network, endpoint address+create
        status, ctype, reply = post(sock, call["path"], json.dumps(call["body"]).encode())
        assert (status, ctype) == (200, CONTENT_TYPE) and "Err" not in reply
    assert backend.names() == [
        "request_pool", "request_address", "create_network", "request_address", "create_endpoint",
    ]  # fmt: skip
    assert post(sock, "/NetworkDriver.Nope", b"{}")[0] == 404
    assert post(sock, "/NetworkDriver.Leave", b"{not json")[:2] == (400, CONTENT_TYPE)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # announces 2 MiB
        raw.connect(str(sock))
        raw.sendall(b"POST /NetworkDriver.Leave HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_spec_file_points_at_the_socket(tmp_path: Path) -> None:
    spec = write_spec(Path("/run/hawser/docker.sock"), tmp_path / "plugins")
    assert spec == tmp_path / "plugins" / "hawser.spec"
    assert spec.read_text() == "unix:///run/hawser/docker.sock\n"
    assert [p.name for p in spec.parent.iterdir()] == ["hawser.spec"]  # no temp file left
    remove_spec(tmp_path / "plugins")
    remove_spec(tmp_path / "plugins")  # idempotent
    assert not spec.exists()
