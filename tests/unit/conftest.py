"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_daemon import FakeDaemon


@pytest.fixture
def fake() -> Iterator[FakeDaemon]:
    """A fake API on a unix socket of its own, for the CLI's tests."""
    with FakeDaemon() as daemon:
        yield daemon
