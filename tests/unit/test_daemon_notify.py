"""systemd's readiness protocol, the API socket's group, the new daemon parameters."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from controller.api.server import Router, serve
from controller.daemon.config import load
from controller.daemon.main import socket_gid
from controller.daemon.notify import Notifier
from controller.errors import HawserError, InvalidArgument


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, socket.socket]:
    """A fake service manager: a datagram socket, and the NOTIFY_SOCKET value naming it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
        s.bind(address)
    else:
        address = f"@hawser-test-{uuid.uuid4().hex}"
        s.bind("\0" + address[1:])
    s.settimeout(5)
    return address, s


def test_ready_and_stopping_reach_the_service_manager(
    listener: tuple[str, socket.socket],
) -> None:
    address, sock = listener
    env = {"NOTIFY_SOCKET": address, "OTHER": "x"}
    notifier = Notifier(env)
    assert "NOTIFY_SOCKET" not in env and env == {"OTHER": "x"}  # children do not inherit it
    assert notifier.ready("listening on unix:///run/hawser/hawser.sock")
    lines = sock.recv(4096).decode().split("\n")
    assert lines == ["READY=1", "STATUS=listening on unix:///run/hawser/hawser.sock",
                     f"MAINPID={os.getpid()}"]  # fmt: skip
    assert notifier.stopping()
    assert sock.recv(4096).decode().split("\n") == ["STOPPING=1", "STATUS=stopping"]
    sock.close()


def test_without_a_service_manager_nothing_is_sent(tmp_path: Path) -> None:
    assert Notifier({}).ready("x") is False
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:123"}).ready("x") is False  # not spoken here
    # a manager that went away: a warning, not a crash
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready("x") is False


def test_socket_group_default_missing_is_a_warning_named_is_an_error(tmp_path: Path) -> None:
    missing = f"hw{uuid.uuid4().hex[:10]}"
    assert socket_gid(load({}, {"HAWSER_GROUP": "0"}, None)) == 0
    assert socket_gid(load({"group": "root"}, {}, None)) == 0
    cfg = load({"group": missing}, {}, None)
    with pytest.raises(HawserError, match=f"group {missing} not found"):
        socket_gid(cfg)
    defaulted = type(cfg)({**cfg.values}, {**cfg.sources, "group": "default"})
    assert socket_gid(defaulted) is None  # the default group may be missing


def test_serve_gives_the_socket_its_group_and_mode(tmp_path: Path) -> None:
    # root may give any group; another user only its own
    gid = 65534 if os.geteuid() == 0 else os.getgid()
    path = tmp_path / "api.sock"
    server = serve(Router(), path, gid=gid)
    try:
        st = path.stat()
        assert (st.st_mode & 0o777, st.st_gid) == (0o660, gid)
    finally:
        server.server_close()
    plain = tmp_path / "plain.sock"
    server = serve(Router(), plain)  # no group: the creator's
    try:
        assert plain.stat().st_gid == os.getegid()
    finally:
        server.server_close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"trace_sample_rate": "-1"}, "--trace-sample-rate"),
        ({"trace_sample_rate": "often"}, "--trace-sample-rate"),
        ({"group": "a b"}, "--group"),
        ({"metrics_port_detail": "maybe"}, "--metrics-port-detail"),
    ],
)
def test_new_parameters_refuse_bad_values(flags: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load(flags, {}, None)


def test_new_parameters_defaults() -> None:
    cfg = load({}, {}, None)
    assert (cfg.trace_sample_rate, cfg.metrics_port_detail, cfg.group) == (0, False, "hawser")
    cfg = load({"trace_sample_rate": "1000", "metrics_port_detail": "true"}, {}, None)
    assert (cfg.trace_sample_rate, cfg.metrics_port_detail) == (1000, True)
