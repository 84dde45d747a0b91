"""Deploy: what `make install` puts on the machine and takes back, the systemd unit as written,
and `make clean` touching only what the test suites made.

The installer's machine-level step (deploy/system.sh) runs against a temporary prefix, group
and CNI folder; `make clean` runs in its own pid and mount namespaces (private /run/netns,
/etc/netns, bpffs, /dev/shm, no cgroup fs), so it can only ever see what this test made there.
"""

from __future__ import annotations

import configparser
import grp
import os
import re
import secrets
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from testbed.hawser import REPO

SYSTEM_SH = REPO / "deploy" / "system.sh"
UNIT = REPO / "deploy" / "hawser.service"


def system_sh(action: str, prefix: Path, group: str, cni: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HAWSER_PREFIX": str(prefix),
        "HAWSER_GROUP": group,
        "HAWSER_CNI_DIRS": str(cni),
        "HAWSER_UNIT_DIR": str(prefix / "systemd"),
    }
    return subprocess.run(
        [str(SYSTEM_SH), action], env=env, capture_output=True, text=True, timeout=60
    )


def test_install_puts_working_commands_on_the_path_and_uninstall_takes_them_back(
    tmp_path: Path,
) -> None:
    prefix, cni = tmp_path / "prefix", tmp_path / "cni"
    group = f"t{secrets.token_hex(3)}"
    try:
        first = system_sh("install", prefix, group, cni)
        assert first.returncode == 0, first.stderr
        for cmd in ("hawser", "hawserd"):
            link = prefix / "bin" / cmd
            assert link.is_symlink() and link.resolve() == (REPO / ".venv" / "bin" / cmd).resolve()
        assert grp.getgrnam(group).gr_name == group
        env = {**os.environ, "PATH": f"{prefix / 'bin'}:/usr/bin:/bin"}
        version = subprocess.run(["hawser", "--version"], env=env, capture_output=True,
                                 text=True, timeout=30)  # fmt: skip
        assert version.stdout.startswith("Hawser version "), version.stderr
        helped = subprocess.run(["hawserd", "--help"], env=env, capture_output=True, text=True,
                                timeout=30)  # fmt: skip
        assert "--trace-sample-rate" in helped.stdout and "--group" in helped.stdout
        unit = (prefix / "systemd" / "hawser.service").read_text()
        assert f"ExecStart={prefix}/bin/hawserd " in unit
        assert (cni / "hawser-cni").read_text().startswith(f"#!{REPO}/.venv/bin/python3 -I")

        again = system_sh("install", prefix, group, cni)  # idempotent: nothing to do, said nothing
        assert again.returncode == 0 and again.stdout == "", again.stdout

        gone = system_sh("uninstall", prefix, group, cni)
        assert gone.returncode == 0, gone.stderr
        assert not list((prefix / "bin").iterdir()) and not (cni / "hawser-cni").exists()
        assert not (prefix / "systemd" / "hawser.service").exists()
        with pytest.raises(KeyError):
            grp.getgrnam(group)
        assert not (prefix / "share" / "hawser").exists()
    finally:
        subprocess.run(["groupdel", group], capture_output=True, check=False)


def test_install_keeps_a_group_it_did_not_make_and_refuses_a_foreign_command(
    tmp_path: Path,
) -> None:
    prefix, cni = tmp_path / "prefix", tmp_path / "cni"
    existing = grp.getgrgid(0).gr_name  # root's group exists before any install
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "hawserd").write_text("#!/bin/sh\n")  # someone else's program
    refused = system_sh("install", prefix, existing, cni)
    assert refused.returncode == 1
    assert "hawserd exists and is not Hawser's link" in refused.stderr
    (prefix / "bin" / "hawserd").unlink()
    assert system_sh("install", prefix, existing, cni).returncode == 0
    assert system_sh("uninstall", prefix, existing, cni).returncode == 0
    assert grp.getgrnam(existing).gr_gid == 0  # it was there before: it stays


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_as_written_verifies_and_its_exec_start_exists() -> None:
    exec_start = _unit()["Service"]["ExecStart"].split()[0]
    assert exec_start == "/usr/local/bin/hawserd"
    # make install (which `make test` runs first) made it: a link to a checkout's venv
    assert Path(exec_start).is_symlink() and os.access(exec_start, os.X_OK)
    check = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert _unit()["Service"]["Type"] == "notify"


CLEAN_SANDBOX = textwrap.dedent(
    """
    set -eu
    # a private world: netns names, sandbox folders, pins, etcd dirs, no cgroup fs
    for dir in /run/netns /etc/netns /dev/shm /sys/fs/cgroup; do mount -t tmpfs tmpfs "$dir"; done
    mount -t bpf bpf /sys/fs/bpf
    cd /  # no .venv here: the orphan-hook sweep (real root cgroup) cannot run
    mk() { ip netns add "$1"; mkdir -p "/etc/netns/$1"; }
    ip netns add t-aaaaaa-node        # a test topology
    mk hw-tbbbbbb-000000000001        # a dead test node's sandbox
    mk hw-tcccccc-000000000002        # a live test node's sandbox
    mk hw-main-000000000003           # a real node's sandbox (its daemon stopped)
    mk hw-test1-000000000004          # a real node whose name only starts with t
    mkdir -p /sys/fs/bpf/hawser/tbbbbbb/v4 /sys/fs/bpf/hawser/tcccccc/v4 /sys/fs/bpf/hawser/main/v4
    ip netns exec t-aaaaaa-node sleep 600 &
    # a live daemon of test node tcccccc (as ps shows hawserd)
    (exec -a /opt/x/.venv/bin/hawserd /usr/bin/python3 -c 'import time; time.sleep(600)' \
        --node-name tcccccc) &
    for _ in $(seq 500); do  # both are up (polled, at most 5 s)
        [ "$(ip netns pids t-aaaaaa-node)" ] && grep -qs tcccccc /proc/$!/cmdline && break
        sleep 0.01
    done
    "$CLEAN" >&2
    echo "netns: $(ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' ')"
    echo "folders: $(ls /etc/netns | sort | tr '\\n' ' ')"
    echo "pins: $(ls /sys/fs/bpf/hawser | sort | tr '\\n' ' ')"
    echo "live daemon: $(kill -0 $! && echo yes)"
    """
)


def test_make_clean_touches_only_what_the_test_suites_made() -> None:
    r = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private",
         "bash", "-c", CLEAN_SANDBOX],
        env={**os.environ, "CLEAN": str(REPO / "deploy" / "clean.sh")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    shown = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    kept = {"hw-tcccccc-000000000002", "hw-main-000000000003", "hw-test1-000000000004"}
    assert set(shown["netns"].split()) == kept, r.stderr
    assert set(shown["folders"].split()) == kept, r.stderr
    assert set(shown["pins"].split()) == {"tcccccc", "main"}, r.stderr
    assert shown["live daemon"] == "yes"
    assert re.search(r"netns t-aaaaaa-node: stopping 1 process", r.stderr), r.stderr
