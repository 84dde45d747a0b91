"""Shell completion of container and network names, asked of the daemon.

Completion runs while the user types: a daemon that is down, slow or answering an error
yields no candidates and never a message or a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import click
from click.shell_completion import CompletionItem

from cli.client import DEFAULT_SOCKET, Client, path_for

TIMEOUT = 2.0  # seconds: a completion that hangs is worse than none
SOCKET_META = "hawser.socket"  # ctx.meta key: a --socket given after the subcommand


def socket_of(ctx: click.Context) -> str:
    """The socket named on the command line being completed (before or after the
    subcommand), else $HAWSER_SOCKET, else the default."""
    if ctx.meta.get(SOCKET_META):
        return str(ctx.meta[SOCKET_META])
    current: click.Context | None = ctx
    while current is not None:
        value = current.params.get("socket_path")
        if value:
            return str(value)
        current = current.parent
    return os.environ.get("HAWSER_SOCKET") or DEFAULT_SOCKET


def _ask(ctx: click.Context, *parts: str, query: dict[str, Any] | None = None) -> list[Any]:
    try:
        found = Client(socket_of(ctx), timeout=TIMEOUT).get(path_for(*parts, query=query))
    except Exception:  # noqa: BLE001 - completion must stay silent whatever happens
        return []
    return found if isinstance(found, list) else []


def container_names(ctx: click.Context) -> list[str]:
    names = []
    for item in _ask(ctx, "containers", query={"all": 1}):
        for name in item.get("Names") or []:
            if isinstance(name, str) and "/" not in name.lstrip("/"):
                names.append(name.lstrip("/"))
    return names


def network_names(ctx: click.Context) -> list[str]:
    return [str(n["Name"]) for n in _ask(ctx, "networks") if isinstance(n, dict) and n.get("Name")]


def _items(candidates: Iterable[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(c) for c in sorted(set(candidates)) if c.startswith(incomplete)]


def complete_containers(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _items(container_names(ctx), incomplete)


def complete_networks(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _items(network_names(ctx), incomplete)


def complete_objects(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """``inspect``: containers and networks."""
    return _items([*container_names(ctx), *network_names(ctx)], incomplete)
