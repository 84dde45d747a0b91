"""Fixtures: a Hawser node (daemon in its own netns) per test module or per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.hawser import HawserNode


@pytest.fixture
def node(tmp_path: Path) -> Iterator[HawserNode]:
    hn = HawserNode(tmp_path)
    try:
        hn.start()
        yield hn
    finally:
        hn.close()


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HawserNode]:
    hn = HawserNode(tmp_path_factory.mktemp("node"))
    try:
        hn.start()
        yield hn
    finally:
        hn.close()
