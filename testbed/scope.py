"""Names and guaranteed clean-up for what one test (or one bench run) makes.

A ``Scope`` hands out names ``<prefix>-<role>`` (the prefix is ``t-<6 hex>`` unless given, so
``make clean`` can sweep what a killed run left) and keeps a stack of closers: ``close()`` runs
them last-made-first, keeps going when one fails, and can be called again. A closer can be run
early with ``close_now(key)`` (a topology torn down before the run ends).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable


def new_tag() -> str:
    """Six random hex digits: unique enough for the netns and links of concurrent runs."""
    return secrets.token_hex(3)


class Scope:
    def __init__(self, prefix: str | None = None) -> None:
        self.tag = new_tag()
        self.prefix = prefix or f"t-{self.tag}"
        self._closers: list[tuple[Hashable, Callable[[], object]]] = []

    def name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def on_close(self, fn: Callable[[], object], key: Hashable | None = None) -> Hashable:
        """Register ``fn`` to run at ``close()``; returns the key that names it."""
        key = fn if key is None else key
        self._closers.append((key, fn))
        return key

    def forget(self, key: Hashable) -> None:
        """Drop a closer without running it (its resource was released another way)."""
        self._closers = [(k, fn) for k, fn in self._closers if k != key]

    def close_now(self, key: Hashable) -> None:
        """Run (and drop) the closers registered under ``key``."""
        mine = [fn for k, fn in self._closers if k == key]
        self.forget(key)
        for fn in reversed(mine):
            fn()

    def close(self) -> list[str]:
        """Run every closer, last registered first; return what failed (never raises)."""
        problems = []
        while self._closers:
            key, fn = self._closers.pop()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - keep cleaning, report at the end
                problems.append(f"clean-up of {key!r} failed: {exc}")
        return problems
