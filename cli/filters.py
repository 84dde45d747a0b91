"""Docker's ``--filter`` for ``ps`` and ``network ls``, applied to what the API lists.

Semantics are the Docker daemon's (moby ``daemon/list.go``, ``daemon/network/filter.go``,
``api/types/filters``): values of one key are OR'ed, keys are AND'ed; ``name``, ``id``
and ``status`` match a value exactly or as an unanchored regular expression; ``label``
values must all match; unknown keys and bad values give the daemon's error texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from cli.client import CliError

PS_KEYS = frozenset(
    {
        "ancestor", "before", "exited", "id", "isolation", "label", "name", "status",
        "health", "since", "volume", "network", "is-task", "publish", "expose",
    }
)  # fmt: skip
NETWORK_KEYS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
ACTIVE = ("running", "restarting", "paused")
STATES = ("paused", "restarting", "removing", "running", "dead", "created", "exited")
HEALTH = ("starting", "healthy", "unhealthy", "none")
PREDEFINED_NETWORKS = ("bridge", "host", "none", "default")


class FilterError(CliError):
    """A filter the daemon would refuse; shown with the daemon's prefix and text."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error response from daemon: {self.message}", err=True)


Filters = dict[str, list[str]]


def parse(values: Iterable[str]) -> Filters:
    """``-f key=value`` flags → key → distinct values (Docker's ``FilterOpt``)."""
    out: Filters = {}
    for item in values:
        if item == "":
            continue
        if "=" not in item:
            raise click.BadParameter("bad format of filter (expected name=value)")
        key, _, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        seen = out.setdefault(key, [])
        if value not in seen:
            seen.append(value)
    return out


def validate(filters: Filters, accepted: frozenset[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise FilterError(f"Invalid filter '{key}'")


def match(filters: Filters, key: str, source: str) -> bool:
    """``Args.Match``: no value for ``key`` matches; else an exact value or a regexp found
    anywhere in ``source`` (a value that is not a valid regexp only matches exactly)."""
    values = filters.get(key)
    if not values:
        return True
    for value in values:
        if value == source:
            return True
        try:
            if re.search(value, source):
                return True
        except re.error:
            continue
    return False


def exact(filters: Filters, key: str, source: str) -> bool:
    values = filters.get(key)
    return not values or source in values


def match_labels(filters: Filters, labels: Mapping[str, str] | None) -> bool:
    """``Args.MatchKVList``: every ``label`` value (``k`` or ``k=v``) must hold."""
    values = filters.get("label")
    if not values:
        return True
    labels = labels or {}
    if not labels:
        return False
    for value in values:
        key, sep, want = value.partition("=")
        if key not in labels or (sep and labels[key] != want):
            return False
    return True


# --- containers ----------------------------------------------------------------------------


def container_names(item: Mapping[str, Any]) -> list[str]:
    return [str(n) for n in item.get("Names") or []]


def _ports(filters: Filters, key: str) -> set[tuple[int, str]]:
    wanted: set[tuple[int, str]] = set()
    for value in filters.get(key, []):
        if ":" in value:
            raise FilterError(f"filter for '{key}' should not contain ':': {value}")
        port, _, proto = value.partition("/")
        proto = proto or "tcp"
        low, _, high = port.partition("-")
        try:
            start = int(low)
            end = int(high) if high else start
            if not (0 <= start <= 65535 and 0 <= end <= 65535) or not low.isdigit():
                raise ValueError
        except ValueError:
            raise FilterError(
                f"error while looking up for {key} {value}: invalid port range: {port}"
            ) from None
        wanted.update((p, proto) for p in range(start, end + 1))
    return wanted


def _exit_code(item: Mapping[str, Any]) -> int | None:
    if item.get("State") == "exited" and isinstance(item.get("ExitCode"), int):
        return int(item["ExitCode"])
    status = str(item.get("Status") or "")
    found = re.match(r"Exited \((-?\d+)\)", status)
    return int(found.group(1)) if found else None


def _find(items: Sequence[Mapping[str, Any]], ref: str) -> Mapping[str, Any]:
    """The container a ``before``/``since`` value names: full id, name, or id prefix."""
    name = ref.lstrip("/")
    for item in items:
        if item.get("Id") == ref or name in (n.lstrip("/") for n in container_names(item)):
            return item
    prefixed = [i for i in items if str(i.get("Id", "")).startswith(ref)] if ref else []
    if len(prefixed) == 1:
        return prefixed[0]
    raise FilterError(f"No such container: {ref}")


def check_containers(filters: Filters) -> None:
    """The daemon's checks that come before any listing."""
    validate(filters, PS_KEYS)
    for value in filters.get("exited", []):
        if not re.fullmatch(r"[+-]?\d+", value):
            raise FilterError(f'strconv.Atoi: parsing "{value}": invalid syntax')
    for value in filters.get("status", []):
        if value not in STATES:
            raise FilterError(f"Invalid filter 'status={value}'")
    is_task = filters.get("is-task", [])
    if is_task and is_task not in (["true"], ["false"]):
        raise FilterError(f"Invalid filter 'is-task={is_task}'")
    for value in filters.get("health", []):
        if value not in HEALTH:
            raise FilterError(f"Unrecognised filter value for health: {value}")
    _ports(filters, "publish")
    _ports(filters, "expose")


def filter_containers(
    items: Sequence[Mapping[str, Any]], filters: Filters, all_: bool, limit: int
) -> list[Mapping[str, Any]]:
    """Docker's ``reduceContainers`` over a newest-first list that includes stopped
    containers: ``all_`` or a ``status`` filter or a ``limit`` keeps stopped ones."""
    check_containers(filters)
    before = _find(items, filters["before"][-1]) if filters.get("before") else None
    since = _find(items, filters["since"][-1]) if filters.get("since") else None
    show_all = all_ or "status" in filters
    ids = filters.get("id", [])
    id_matches = {_unique_prefix(items, value) for value in ids} if ids else None
    publish, expose = _ports(filters, "publish"), _ports(filters, "expose")
    out: list[Mapping[str, Any]] = []
    for item in items:
        cid = str(item.get("Id", ""))
        if before is not None:
            if cid == before.get("Id"):
                before = None
            continue
        if since is not None and cid == since.get("Id"):
            break
        # Docker's State.Running, which a restarting (and a paused) container also is
        if item.get("State") not in ACTIVE and not show_all and limit <= 0:
            continue
        names = container_names(item)
        if "name" in filters and not any(
            match(filters, "name", n) or match(filters, "name", n.lstrip("/")) for n in names
        ):
            continue
        if id_matches is not None and (cid not in id_matches or not match(filters, "id", cid)):
            continue
        if not _is_task_ok(filters) or not match_labels(filters, item.get("Labels")):
            continue
        if not match(filters, "isolation", "default"):
            continue
        if 0 < limit <= len(out):
            break
        if not _exit_ok(filters, item) or not match(filters, "status", str(item.get("State"))):
            continue
        if not exact(filters, "health", "none"):
            continue
        if "volume" in filters or "ancestor" in filters:
            continue  # no container of Hawser has an image or volumes
        if "network" in filters and not _on_network(filters["network"], item):
            continue
        if (publish or expose) and not _port_match(item, publish, expose):
            continue
        out.append(item)
    return out


def _unique_prefix(items: Sequence[Mapping[str, Any]], prefix: str) -> str | None:
    """Docker's id index: a prefix that names exactly one container."""
    found = [str(i.get("Id")) for i in items if prefix and str(i.get("Id", "")).startswith(prefix)]
    return found[0] if len(found) == 1 else None


def _is_task_ok(filters: Filters) -> bool:
    return filters.get("is-task", ["false"]) == ["false"]


def _exit_ok(filters: Filters, item: Mapping[str, Any]) -> bool:
    codes = filters.get("exited")
    if not codes:
        return True
    code = _exit_code(item)
    return code is not None and item.get("State") != "running" and code in {int(c) for c in codes}


def _on_network(values: list[str], item: Mapping[str, Any]) -> bool:
    nets = ((item.get("NetworkSettings") or {}).get("Networks")) or {}
    for value in values:
        if value in nets:
            return True
        for settings in nets.values():
            if settings and str(settings.get("NetworkID", "")).startswith(value):
                return True
    return False


def _port_match(
    item: Mapping[str, Any], publish: set[tuple[int, str]], expose: set[tuple[int, str]]
) -> bool:
    for port in item.get("Ports") or []:
        proto = str(port.get("Type") or "tcp")
        if (int(port.get("PublicPort") or 0), proto) in publish:
            return True
        if (int(port.get("PrivatePort") or 0), proto) in expose:
            return True
    return False


# --- networks ------------------------------------------------------------------------------


def filter_networks(nets: Sequence[Mapping[str, Any]], filters: Filters) -> list[Mapping[str, Any]]:
    """Docker's ``FilterNetworks``."""
    validate(filters, NETWORK_KEYS)
    kept = [
        n
        for n in nets
        if exact(filters, "driver", str(n.get("Driver", "")))
        and match(filters, "name", str(n.get("Name", "")))
        and match(filters, "id", str(n.get("Id", "")))
        and match_labels(filters, n.get("Labels"))
        and exact(filters, "scope", str(n.get("Scope", "")))
    ]
    dangling = filters.get("dangling")
    if dangling:
        if len(dangling) > 1:
            raise FilterError('got more than one value for filter key "dangling"')
        if dangling[0] not in ("0", "false", "1", "true"):
            raise FilterError(
                'invalid value for filter \'dangling\', must be "true" (or "1"), '
                'or "false" (or "0")'
            )
        only = dangling[0] in ("1", "true")
        kept = [n for n in kept if _in_use(n) != only]
    if "type" in filters:
        typed: list[Mapping[str, Any]] = []
        for value in filters["type"]:
            if value not in ("builtin", "custom"):
                raise FilterError(f"invalid filter: 'type'='{value}'")
            builtin = value == "builtin"
            typed.extend(n for n in kept if (n.get("Name") in PREDEFINED_NETWORKS) == builtin)
        kept = typed
    return kept


def _in_use(net: Mapping[str, Any]) -> bool:
    return net.get("Name") in PREDEFINED_NETWORKS or bool(net.get("Containers"))
