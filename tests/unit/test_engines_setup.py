"""How engines find Hawser: the systemd unit's order and readiness, the daemon's engine
parameters, and the ``hawser-cni`` launcher ``make install`` writes."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from controller.daemon import config
from controller.errors import InvalidArgument
from controller.plugins.cni import launcher

ROOT = Path(__file__).resolve().parents[2]


def test_the_unit_starts_before_docker_and_says_when_it_serves() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "deploy/hawser.service").read_text())
    assert "docker.service" in unit["Unit"]["Before"].split()
    assert unit["Service"]["Type"] == "notify"
    assert "--docker-plugin-socket /run/docker/plugins/hawser.sock" in unit["Service"]["ExecStart"]


def test_engine_parameters() -> None:
    cfg = config.load({}, {})
    assert cfg.docker_plugin_socket == "/run/docker/plugins/hawser.sock"  # on by default
    assert cfg.docker_host == "unix:///run/docker.sock"
    off = config.load({"docker_plugin_socket": "", "docker_host": ""}, {})
    assert (off.docker_plugin_socket, off.docker_host) == ("", "")
    with pytest.raises(InvalidArgument, match=r"--docker-host \(flag\): use unix:///PATH"):
        config.load({"docker_host": "tcp://127.0.0.1:2375"}, {})


def test_the_cni_launcher_skips_site_and_runs_the_plugin(tmp_path: Path) -> None:
    python = str(ROOT / ".venv" / "bin" / "python")
    written = launcher.install(tmp_path, python, ROOT)
    assert written == tmp_path / "hawser-cni" and written.stat().st_mode & 0o777 == 0o755
    assert written.read_text().splitlines()[0] == f"#!{python} -IS"
    assert launcher.install(tmp_path, python, ROOT) is None  # already there: not rewritten
    done = subprocess.run([str(written)], input=b"{}", env={"CNI_COMMAND": "VERSION"},
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0
    assert b'"supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]' in done.stdout
