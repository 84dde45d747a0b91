"""Secrets on disk: the state folder, the store and container output are root's only.

Environment values live in ``hawser.db`` and a process's output in its log files, so
they must not be readable by other local users; the API socket stays 0660 (a group
may be given access to the API, never to the files behind it).
"""

from __future__ import annotations

import grp
import secrets
import stat
from pathlib import Path

from testbed.hawser import HawserNode


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_state_files_are_private_and_the_socket_is_group_accessible(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "talker", "-e", "SECRET=hunter2", "--",
             "sh", "-c", "echo out; echo err >&2; sleep 600")  # fmt: skip
    node.cli("run", "--name", "done", "--", "sh", "-c", "echo bye; exit 3", check=False)
    talker = node.json("inspect", "talker")[0]["Id"]
    done = node.json("inspect", "done")[0]["Id"]
    assert node.cli("logs", "talker").stdout == "out\n"  # the output really went there

    state = node.state_dir
    containers = state / "containers"
    expected = {
        state: 0o700,
        state / "hawser.db": 0o600,
        state / "hawser.db-wal": 0o600,
        state / "hawser.db-shm": 0o600,
        containers: 0o700,
        containers / talker: 0o700,
        containers / talker / "container.log": 0o600,  # both streams, one record a line
        containers / talker / "ctl.sock": 0o600,  # the shim's control socket (attach, resize)
        containers / talker / "shim.log": 0o600,
        containers / done: 0o700,
        containers / done / "container.log": 0o600,
        containers / done / "exit": 0o600,
        node.socket: 0o660,
    }
    assert (containers / done / "exit").read_text().strip() == "3"
    assert {str(p): oct(mode(p)) for p in expected} == {str(p): oct(m) for p, m in expected.items()}
    # Nothing under the state folder is readable or writable by group or others.
    loose = [str(p) for p in state.rglob("*") if mode(p) & 0o077]
    assert loose == []


def test_a_restart_narrows_an_older_wider_state(tmp_path: Path) -> None:
    hn = HawserNode(tmp_path)
    try:
        hn.state_dir.mkdir(mode=0o755)
        db = hn.state_dir / "hawser.db"
        db.touch(mode=0o644)
        (hn.state_dir / "hawser.db-wal").touch(mode=0o644)
        hn.state_dir.chmod(0o755)
        db.chmod(0o644)
        assert mode(hn.state_dir) == 0o755  # the positive control: the files start wide
        hn.start()
        assert mode(hn.state_dir) == 0o700
        assert mode(db) == 0o600
        assert mode(hn.state_dir / "hawser.db-wal") == 0o600
    finally:
        hn.close()


def test_the_socket_belongs_to_the_group_given_and_a_missing_group_is_refused(
    tmp_path: Path,
) -> None:
    nogroup = grp.getgrnam("nogroup").gr_gid
    hn = HawserNode(tmp_path / "given", ["--group", "nogroup"])
    try:
        hn.start()
        st = hn.socket.stat()
        assert (st.st_gid, mode(hn.socket)) == (nogroup, 0o660)
    finally:
        hn.close()
    missing = f"t{secrets.token_hex(4)}"
    refused = HawserNode(tmp_path / "missing", ["--group", missing])
    try:
        refused.start(wait=False)
        assert refused.process is not None
        assert refused.process.popen.wait(30) == 1
        assert f"group {missing} not found" in refused.log()
        assert not refused.socket.exists()
    finally:
        refused.close()
