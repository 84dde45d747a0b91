"""A daemon killed while the CLI reads its reply: one line on stderr, a failure exit code.

Before the fix the CLI printed a Python traceback ending in ``http.client.IncompleteRead``.
"""

from __future__ import annotations

import subprocess

from testbed.hawser import HAWSER, HawserNode


def test_exec_output_cut_by_a_killed_daemon_ends_in_one_line(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "c1", "--", "sleep", "600")
    assert node.cli("exec", "c1", "--", "echo", "hi").stdout == "hi\n"  # the normal ending

    proc = subprocess.Popen(
        [HAWSER, "--socket", str(node.socket), "exec", "c1", "--",
         "sh", "-c", "echo ready; sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"  # streaming now
        node.kill()
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert stderr.splitlines() == [
        "Error: the daemon closed the connection before its reply was complete (got 0 bytes)"
    ]
