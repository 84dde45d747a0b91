"""Find networks and containers by name, full id or unique id prefix (Docker's rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from controller.errors import NotFound
from controller.rules.model import Container, Network
from controller.store.sqlite import Store


class _Named(Protocol):
    id: str
    name: str


N = TypeVar("N", bound=_Named)


def _find(items: Sequence[N], ref: str) -> N | None:
    for item in items:
        if item.id == ref or item.name == ref:
            return item
    matches = [item for item in items if ref and item.id.startswith(ref)]
    return matches[0] if len(matches) == 1 else None


def network(store: Store, ref: str) -> Network:
    found = _find(store.networks(), ref)
    if found is None:
        raise NotFound(f"network {ref} not found")
    return found


def container(store: Store, ref: str) -> Container:
    found = container_or_none(store, ref)
    if found is None:
        raise NotFound(f"No such container: {ref}")
    return found


def container_or_none(store: Store, ref: str) -> Container | None:
    """By full id, then name, then unique id prefix — indexed queries, no full scan."""
    ref = ref.removeprefix("/")
    if not ref:
        return None
    found = store.container(ref) or store.container_by_name(ref)
    if found is not None:
        return found
    ids = store.container_ids_with_prefix(ref)
    return store.container(ids[0]) if len(ids) == 1 else None
