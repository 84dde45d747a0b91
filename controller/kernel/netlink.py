"""The node's netlink handle, confined to one thread.

pyroute2 (0.9) keeps a socket and an event loop per calling thread and releases them
only when the object is closed, so one ``IPRoute`` shared by the API's per-request
threads gains a netlink socket with every request that touches it (two per container
create/remove cycle). ``NodeNetlink`` owns one ``IPRoute`` that lives in a dedicated
worker thread; every call from any thread is handed to that worker and its result
(dumps made into tuples there) handed back, so the daemon holds one netlink socket
for its whole life. It joins no multicast group and drops the ACKs pyroute2 files
where nobody reads them (see ``_drop_unclaimed``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from pyroute2 import IPRoute

_Job = tuple[Callable[[Any], Any], "Future[Any]"]


def _drop_unclaimed(ipr: Any) -> None:
    """Empty the queue of messages no request claims.

    pyroute2 0.9 files the kernel's ACK of a request that already has its answer in its
    root queue, which only a reader of broadcasts would empty: one message per call kept
    forever, and the small objects pin far more heap than their size.
    """
    try:
        root = ipr.asyncore.msg_queue.queues[0]
    except (AttributeError, KeyError):  # another pyroute2 layout: nothing known to drop
        return
    while not root.empty():
        root.get_nowait()


class NodeNetlink:
    """Proxy with IPRoute's methods (``link``, ``addr``, ``tc``, ``get_links`` …)."""

    def __init__(self, factory: Callable[[], Any] = lambda: IPRoute(groups=0)) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        ready: Future[Any] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(factory, ready), name="hawser-netlink", daemon=True
        )
        self._thread.start()
        ready.result()  # the handle exists (or its error is raised here)

    def _serve(self, factory: Callable[[], Any], ready: Future[Any]) -> None:
        try:
            ipr = factory()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while (job := self._jobs.get()) is not None:
                fn, result = job
                if not result.set_running_or_notify_cancel():
                    continue
                try:
                    result.set_result(fn(ipr))
                except BaseException as exc:  # handed to the caller
                    result.set_exception(exc)
                finally:
                    _drop_unclaimed(ipr)
        finally:
            ipr.close()

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(ipr)`` in the netlink thread and return (or raise) what it did."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a netlink call made from inside a netlink call")
        if self._closed:
            raise OSError("the node's netlink handle is closed")
        result: Future[Any] = Future()
        self._jobs.put((fn, result))
        return result.result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> Any:
            def run(ipr: Any) -> Any:
                out = getattr(ipr, name)(*args, **kwargs)
                return tuple(out) if isinstance(out, Iterator) else out

            return self.call(run)

        method.__name__ = name
        return method

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join(timeout=5)
