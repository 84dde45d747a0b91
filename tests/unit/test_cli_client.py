"""cli.client against the fake API server: JSON, errors, NDJSON streaming, connection errors."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest
from click.testing import CliRunner

from cli.client import Client, ConnectError, DaemonError, path_for
from cli.main import hawser
from tests.fake_daemon import FakeDaemon


def test_request_sends_json_and_decodes_answer(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/networks", status=201, body={"Id": "ab" * 32, "Warning": ""})
    out = Client(fake.socket_path).post("/v1/networks", {"Name": "n1", "Labels": {"a": "b"}})
    assert out == {"Id": "ab" * 32, "Warning": ""}
    assert [(r.method, r.path, r.body) for r in fake.requests] == [
        ("POST", "/v1/networks", {"Name": "n1", "Labels": {"a": "b"}})
    ]


def test_no_content_is_none(fake: FakeDaemon) -> None:
    fake.route("DELETE", "/v1/networks/n1", status=204)
    assert Client(fake.socket_path).delete("/v1/networks/n1") is None


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            409,
            {"message": "network with name n1 already exists"},
            "network with name n1 already exists",
        ),
        (404, {"message": "first line\nsecond"}, "first line"),
        (500, {}, "500 Internal Server Error"),
    ],
)
def test_non_2xx_raises_daemon_error(
    fake: FakeDaemon, status: int, body: dict[str, str], message: str
) -> None:
    fake.route("GET", "/v1/networks/n1", status=status, body=body)
    with pytest.raises(DaemonError) as info:
        Client(fake.socket_path).get("/v1/networks/n1")
    assert info.value.status == status
    assert info.value.message == message
    assert info.value.exit_code == 1


def test_stream_yields_each_line_as_it_arrives(fake: FakeDaemon) -> None:
    release = threading.Event()
    fake.route(
        "GET",
        "/v1/monitor",
        stream=[{"n": 1}, lambda: release.wait(5), {"n": 2}, {"n": 3}],
    )
    frames = Client(fake.socket_path).stream("GET", "/v1/monitor")
    # The first object must be readable while the server still holds the rest back.
    assert next(frames) == {"n": 1}
    assert not release.is_set()
    release.set()
    assert list(frames) == [{"n": 2}, {"n": 3}]


def test_stream_error_status_raises_before_yielding(fake: FakeDaemon) -> None:
    fake.error("POST", "/v1/containers/x/exec", 409, "Container x is not running")
    with pytest.raises(DaemonError, match="Container x is not running"):
        list(Client(fake.socket_path).stream("POST", "/v1/containers/x/exec", {"Cmd": ["ls"]}))


MISSING = "Cannot connect to the Hawser daemon at unix://{}. Is the daemon running?"


def test_missing_socket_message() -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="hawser-cli-"), "absent.sock")
    with pytest.raises(ConnectError) as info:
        Client(path).get("/v1/info")
    assert info.value.message == MISSING.format(path)
    os.rmdir(os.path.dirname(path))


def test_refused_socket_message() -> None:
    tmp = tempfile.mkdtemp(prefix="hawser-cli-")
    path = os.path.join(tmp, "dead.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)  # bound but not listening: connect() gets ECONNREFUSED
    try:
        with pytest.raises(ConnectError) as info:
            Client(path).get("/v1/info")
        assert info.value.message == MISSING.format(path)
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(tmp)


def test_cli_prints_connect_error_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    path = "/nonexistent/hawser-test.sock"
    monkeypatch.setenv("HAWSER_SOCKET", path)
    result = CliRunner().invoke(hawser, ["network", "ls"])
    assert result.exit_code == 1
    assert result.stderr == MISSING.format(path) + "\n"
    assert result.stdout == ""


def test_socket_from_environment(fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.route("GET", "/v1/networks", body=[])
    monkeypatch.setenv("HAWSER_SOCKET", fake.socket_path)
    result = CliRunner().invoke(hawser, ["network", "ls", "-q"])
    assert result.exit_code == 0, result.output
    assert [r.path for r in fake.requests] == ["/v1/networks"]


@pytest.mark.parametrize(
    ("parts", "query", "expected"),
    [
        (("networks",), None, "/v1/networks"),
        (("networks", "my net/x"), None, "/v1/networks/my%20net%2Fx"),
        (("containers",), {"all": 1}, "/v1/containers?all=1"),
        (("bpf", "ct"), {"addr": None, "port": 80, "proto": ""}, "/v1/bpf/ct?port=80"),
        (("monitor",), {"type": None}, "/v1/monitor"),
    ],
)
def test_path_for(parts: tuple[str, ...], query: dict | None, expected: str) -> None:
    assert path_for(*parts, query=query) == expected
