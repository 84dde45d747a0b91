"""Operations as transactions over the store and the kernel.

Usage::

    with operation(store) as undo:
        create_bridge(...)
        undo.push(delete_bridge, ...)
        store.put_network(...)

On any exception the registered undo steps run in reverse order, the store rolls back,
and the original error propagates. An undo step that fails is logged, never raised over
the original error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from controller.store.sqlite import Store

log = logging.getLogger(__name__)


class Undo:
    def __init__(self) -> None:
        self._steps: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def push(self, fn: Callable[..., Any], *args: Any) -> None:
        self._steps.append((fn, args))

    def run(self) -> None:
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)
            except Exception:  # keep undoing; the caller reports the first error
                log.exception("undo step %s failed", getattr(fn, "__name__", fn))


@contextmanager
def operation(store: Store) -> Iterator[Undo]:
    undo = Undo()
    try:
        with store.transaction():
            yield undo
    except BaseException:
        undo.run()
        raise
