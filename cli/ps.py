"""``ps``: the container list, as Docker's table, Go template or JSON lines."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from cli import filters, formatter
from cli.client import Client, pass_client, path_for
from cli.networks import FILTER_OPTION
from cli.output import ellipsis, go_quote, short_id
from cli.ports import ports_column
from cli.usage import GoInt


def _names(names: list[str], trunc: bool) -> str:
    """Docker's NAMES: strip "/"; truncated shows only the first name that is not a link."""
    stripped = [n[1:] if n.startswith("/") else n for n in names]
    if trunc:
        for n in stripped:
            if "/" not in n:
                return n
    return ",".join(stripped)


def ps_row(c: Mapping[str, Any], trunc: bool) -> dict[str, str]:
    """The display fields of one container (Docker's ``ps --format json`` keys).

    A Hawser container has no image, no volumes and no writable layer: ``Image`` is
    ``-``, ``Mounts`` is empty, ``LocalVolumes`` is 0 and ``Size`` is 0B.
    """
    command = c.get("Command", "")
    created = float(c.get("Created") or 0)
    nets = ((c.get("NetworkSettings") or {}).get("Networks")) or {}
    labels = c.get("Labels") or {}
    return {
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": datetime.fromtimestamp(created)
        .astimezone()
        .strftime("%Y-%m-%d %H:%M:%S %z %Z"),
        "ID": short_id(c.get("Id", ""), trunc),
        "Image": "-",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": _names(c.get("Names") or [], trunc),
        "Networks": ",".join(sorted(nets)),
        "Owner": c.get("Owner") or "hawser",
        "Ports": ports_column(c.get("Ports") or []),
        "RunningFor": c.get("RunningFor", ""),
        "Size": "0B",
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
    }


def ps_context(c: Mapping[str, Any], trunc: bool) -> formatter.ContainerContext:
    return formatter.ContainerContext(ps_row(c, trunc), c.get("Labels") or {})


EMPTY_PS_ROW = formatter.ContainerContext(dict.fromkeys(formatter.CONTAINER_HEADERS, ""), {})


@click.command("ps")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)"
)
@click.option("-f", "--filter", "filter_", **FILTER_OPTION)
@click.option(
    "--format", "fmt", metavar="string", help="Pretty-print containers using a Go template"
)
@click.option(
    "-n", "--last", type=GoInt(), default=-1, metavar="int",
    help="Show n last created containers (includes all states)",
)  # fmt: skip
@click.option(
    "-l", "--latest", is_flag=True, help="Show the latest created container (includes all states)"
)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@pass_client
def ps(
    client: Client,
    all_: bool,
    filter_: filters.Filters,
    fmt: str | None,
    last: int,
    latest: bool,
    no_trunc: bool,
    quiet: bool,
) -> None:
    """List containers.

    Filters (-f key=value, keys AND'ed, values of one key OR'ed): name, id, label,
    status, network, publish, expose, exited, before, since. --format takes a Go template
    (`table` prefix for a table), `json`, `table` or `raw`.
    """
    limit = 1 if latest and last == -1 else last
    if fmt:
        formatter.validate(fmt, EMPTY_PS_ROW)
    filters.check_containers(filter_)
    want_all = all_ or limit > 0 or bool(filter_)
    items = client.get(path_for("containers", query={"all": int(want_all)})) or []
    items = filters.filter_containers(items, filter_, all_, limit)
    # Docker's table exactly, unless an engine's container is listed: then an OWNER column
    engines = any((c.get("Owner") or "hawser") != "hawser" for c in items)
    table = formatter.CONTAINER_TABLE_OWNED if engines else formatter.CONTAINER_TABLE
    template, overridden = formatter.listing_format(
        fmt, quiet, table, formatter.CONTAINER_RAW, "container_id: {{.ID}}"
    )
    if overridden:
        formatter.warn_quiet_overrides()
    trunc = not no_trunc
    rows = [ps_context(c, trunc) for c in items]
    formatter.echo(formatter.render(template, rows, formatter.CONTAINER_HEADERS))
