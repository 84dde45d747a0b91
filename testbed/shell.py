"""Running a command: one call, one clear error.

Every testbed step that fails raises ``StepFailed`` (or a subclass) with the command and what
it wrote to stderr, so a test failure or a bench error names the step that broke.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping


class StepFailed(RuntimeError):
    """A testbed step failed; the message says which and why."""


def sh(
    *argv: str,
    check: bool = True,
    timeout: float = 30,
    input: str | None = None,  # noqa: A002 - subprocess's own word
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (text mode, output captured); with ``check``, a non-zero exit raises."""
    try:
        res = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=None if env is None else dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and res.returncode != 0:
        raise StepFailed(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()[-800:]}")
    return res
