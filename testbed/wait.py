"""Waiting for a condition with a deadline: the only way the testbed synchronises.

A condition is polled (a cheap check: a socket answering, a line arrived, a map entry) until it
holds or the deadline passes. Nothing here sleeps for a fixed time in the hope that something
happened meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from testbed.shell import StepFailed

T = TypeVar("T")


class NotReady(StepFailed, TimeoutError):
    """A condition did not hold before its deadline."""


def until(condition: Callable[[], T], timeout: float, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns a truthy value (returned) or the deadline passes;
    then its last, falsy, value is returned. It is called at least once."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Like ``until``, but a deadline passed raises ``NotReady`` naming ``what``."""
    value = until(condition, timeout, interval)
    if not value:
        raise NotReady(f"timed out after {timeout}s waiting for {what}")
    return value
