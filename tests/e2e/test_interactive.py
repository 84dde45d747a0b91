"""Interactive use through a real pseudo-terminal, as a person types it: ``exec -it`` and
``run -it`` (a terminal streamed over the API's hijacked connection), ``-i`` with pipes,
``exec -d/-w/-u``. The CLI runs as the session leader of a pty the test drives
(``testbed.terminal``): no mock between the keys and the shell in the sandbox.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from testbed.hawser import HAWSER, HawserNode
from testbed.terminal import CTRL_C, CTRL_D, Terminal
from testbed.wait import wait_for


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> HawserNode:
    shared_node.cli("run", "-d", "--name", "box", "--", "sleep", "600")
    return shared_node


def hawser(node: HawserNode, *args: str, rows: int = 24, cols: int = 80) -> Terminal:
    return Terminal([HAWSER, "--socket", str(node.socket), *args], rows=rows, cols=cols)


def _foreground(cmdline: str, netns: str) -> bool:
    """Whether a process running ``cmdline`` in ``netns`` is its terminal's foreground job
    (the shell has handed the terminal over: a Ctrl-C now reaches it)."""
    out = subprocess.run(["pgrep", "-f", f"^{cmdline}$"], capture_output=True, text=True)
    for pid in out.stdout.split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if _same_netns(pid, netns) and fields[2] == fields[5]:  # pgrp == the tty's tpgid
            return True
    return False


def _same_netns(pid: str, netns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(netns).st_ino
    except OSError:
        return False


def test_exec_it_shell_like_docker(hn: HawserNode) -> None:
    ip = hn.ip_of("box")
    gateway = hn.json("inspect", "box")[0]["NetworkSettings"]["Gateway"]
    term = hawser(hn, "exec", "-it", "box", "sh", rows=33, cols=101)
    try:
        term.expect(rb"# ")
        term.send("stty size\r")
        term.expect(rb"\r\n33 101\r\n# ")  # the window the client has
        term.resize(40, 132)  # SIGWINCH in the client → the resize call → the sandbox's pty
        term.send("stty size\r")
        term.expect(rb"\r\n40 132\r\n# ")
        term.send("ip -o -4 addr show eth0\r")
        term.expect(re.escape(f"inet {ip}/16").encode() + rb".*\r\n# ")
        term.send(f"ping -c1 -W2 {gateway}\r")
        term.expect(rb"1 packets transmitted, 1 received.*\r\n# ")
        term.send("echo sleeping; sleep 61; echo not-interrupted\r")
        term.expect(rb"\r\nsleeping\r\n")
        netns = f"/proc/{hn.json('inspect', 'box')[0]['State']['Pid']}/ns/net"
        wait_for(lambda: _foreground("sleep 61", netns), 10, "sleep to be the terminal's job")
        term.send(CTRL_C)  # the terminal's interrupt: SIGINT to the foreground job only
        term.expect(rb"\^C\r?\n?[^\n]*# ")
        term.send("echo still-here\r")
        term.expect(rb"\r\nstill-here\r\n# ")
        term.send(CTRL_D)
        assert term.wait() == 0
    finally:
        term.close()
    assert b"\r\nnot-interrupted\r\n" not in term.output  # (the typed line echoes it)
    assert hn.json("inspect", "box")[0]["State"]["Running"]  # the container goes on


def test_exec_it_returns_the_shells_exit_status(hn: HawserNode) -> None:
    term = hawser(hn, "exec", "-it", "box", "sh")
    try:
        term.expect(rb"# ")
        term.send("exit 7\r")
        assert term.wait() == 7
    finally:
        term.close()


def test_run_it_shell_then_ctrl_d_removes_the_rm_container(hn: HawserNode) -> None:
    term = hawser(hn, "run", "-it", "--rm", "--name", "tty1", "--", "sh", rows=25, cols=90)
    try:
        term.expect(rb"# ")
        term.send("stty size; hostname; tty\r")
        found = term.expect(rb"\r\n25 90\r\n([0-9a-f]{12})\r\n/dev/pts/\d+\r\n")
        term.send(CTRL_D)
        assert term.wait() == 0
    finally:
        term.close()
    assert found.group(1).decode()  # its own UTS name: the short id
    assert hn.cli("ps", "-aq", "--filter", "name=tty1").stdout == ""


def test_piped_stdin_with_i_and_no_terminal(hn: HawserNode) -> None:
    run = subprocess.run(
        [HAWSER, "--socket", str(hn.socket), "run", "-i", "--rm", "--",
         "sh", "-c", "cat; echo err >&2; exit 4"],
        input="line1\nline2\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (run.returncode, run.stdout, run.stderr) == (4, "line1\nline2\n", "err\n")
    exe = subprocess.run(
        [HAWSER, "--socket", str(hn.socket), "exec", "-i", "box", "tr", "a-z", "A-Z"],
        input="shout\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (exe.returncode, exe.stdout) == (0, "SHOUT\n")
    without_i = subprocess.run(  # positive control of -i: without it, no input reaches cat
        [HAWSER, "--socket", str(hn.socket), "exec", "box", "cat"],
        input="ignored\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (without_i.returncode, without_i.stdout) == (0, "")


def test_attach_to_a_running_container(hn: HawserNode) -> None:
    hn.cli("run", "-d", "-i", "--name", "att", "--", "sh", "-c", "echo ready; cat; exit 6")
    attached = subprocess.run(
        [HAWSER, "--socket", str(hn.socket), "attach", "att"],
        input="typed\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (attached.returncode, attached.stdout) == (6, "typed\n")  # "ready" came before
    assert hn.cli("logs", "att").stdout == "ready\ntyped\n"
    refused = hn.cli("attach", "att", check=False)
    assert (refused.returncode, refused.stderr) == (
        1,
        "Error response from daemon: You cannot attach to a stopped container, start it first\n",
    )


def test_it_needs_a_terminal_on_stdin(hn: HawserNode) -> None:
    refused = subprocess.run(
        [HAWSER, "--socket", str(hn.socket), "exec", "-it", "box", "sh"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (refused.returncode, refused.stderr) == (1, "the input device is not a TTY\n")


def test_exec_detached_workdir_and_user(hn: HawserNode) -> None:
    assert hn.cli("exec", "-w", "/tmp", "box", "pwd").stdout == "/tmp\n"
    assert hn.cli("exec", "box", "pwd").stdout == "/\n"  # Docker's default
    assert hn.cli("exec", "-u", "nobody", "box", "id", "-un").stdout == "nobody\n"
    assert hn.cli("exec", "-u", "65534:65534", "box", "id", "-u").stdout == "65534\n"
    assert hn.cli("exec", "box", "sh", "-c", "echo $HOME").stdout == "/root\n"
    no_user = hn.cli("exec", "-u", "nosuchuser", "box", "id", check=False)
    assert no_user.returncode == 126
    assert "unable to find user nosuchuser: no matching entries in passwd file" in no_user.stderr
    no_dir = hn.cli("exec", "-w", "/nonexistent", "box", "pwd", check=False)
    assert no_dir.returncode == 127 and "no such file or directory" in no_dir.stderr

    detached = hn.cli("exec", "-d", "box", "sleep", "313")
    assert detached.stdout == ""
    pid = hn.json("inspect", "box")[0]["State"]["Pid"]
    netns = f"/proc/{pid}/ns/net"

    def detached_sleep() -> list[str]:
        out = subprocess.run(["pgrep", "-f", "^sleep 313$"], capture_output=True, text=True)
        return [p for p in out.stdout.split() if _same_netns(p, netns)]

    assert wait_for(detached_sleep, 10, "the detached exec to run in the sandbox")
