"""NodeNetlink: every call runs in its one worker thread, whichever thread makes it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from controller.kernel.netlink import NodeNetlink


class FakeIPRoute:
    """Records the thread of each call; keeps an unclaimed-message queue like pyroute2 0.9."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.root: asyncio.Queue[bytes] = asyncio.Queue()
        self.asyncore = SimpleNamespace(msg_queue=SimpleNamespace(queues={0: self.root}))
        self.closed_in: int | None = None

    def link(self, command: str, **kwargs: Any) -> tuple[dict[str, Any], ...]:
        self.threads.add(threading.get_ident())
        self.root.put_nowait(b"ack")  # what pyroute2 leaves behind
        if command == "bad":
            raise OSError(19, "No such device")
        return ({"index": kwargs.get("index", 0)},)

    def get_links(self) -> Iterator[dict[str, Any]]:
        self.threads.add(threading.get_ident())
        return iter([{"index": 1}, {"index": 2}])

    def close(self) -> None:
        self.closed_in = threading.get_ident()


def test_calls_from_many_threads_run_in_one_and_results_come_back() -> None:
    fake = FakeIPRoute()
    nl = NodeNetlink(lambda: fake)
    results: list[Any] = []
    workers = [
        threading.Thread(target=lambda i=i: results.append(nl.link("get", index=i)))
        for i in range(20)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(r[0]["index"] for r in results) == list(range(20))
    assert len(fake.threads) == 1 and threading.get_ident() not in fake.threads
    assert nl.get_links() == ({"index": 1}, {"index": 2})  # an iterator is read out there
    assert fake.root.empty()  # nothing piles up between calls
    nl.close()
    assert fake.closed_in in fake.threads


def test_errors_reach_the_caller_and_a_closed_handle_refuses() -> None:
    nl = NodeNetlink(FakeIPRoute)
    with pytest.raises(OSError, match="No such device"):
        nl.link("bad")
    assert nl.link("get", index=3) == ({"index": 3},)  # the worker survived the error
    nl.close()
    with pytest.raises(OSError, match="closed"):
        nl.link("get", index=1)


def test_a_failing_factory_fails_construction() -> None:
    def broken() -> Any:
        raise PermissionError("netlink: operation not permitted")

    with pytest.raises(PermissionError):
        NodeNetlink(broken)
