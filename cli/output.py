"""Docker-style text output: tables, JSON, ids, quoting."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

COLUMN_GAP = "   "


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces; no trailing blanks on a line."""
    body = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *body]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append(COLUMN_GAP.join(cells).rstrip())
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    click.echo(render_table(headers, rows))


def print_json_lines(objects: Iterable[Mapping[str, Any]]) -> None:
    """``--format json``: one compact JSON object per line, as ``docker … --format json``."""
    for obj in objects:
        click.echo(json.dumps(obj, separators=(",", ":")))


def print_inspect(objects: list[Any]) -> None:
    """``inspect`` output: a JSON array with Docker's 4-space indent."""
    click.echo(json.dumps(objects, indent=4))


def cell(value: Any) -> str:
    """Text for one table cell of a generic row."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def generic_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers (keys in first-seen order, upper-cased) and cells of flat rows."""
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    headers = [k.upper() for k in keys]
    return headers, [[cell(row.get(k)) for k in keys] for row in rows]


def short_id(full: str, trunc: bool = True) -> str:
    return full[:12] if trunc else full


def ellipsis(text: str, width: int) -> str:
    """Docker's ``formatter.Ellipsis``: cut to ``width`` characters, the last one ``…``."""
    if len(text) <= width:
        return text
    if width <= 0:
        return ""
    return text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """Close to Go's ``strconv.Quote``: double quotes, escapes, printable unicode kept."""
    return json.dumps(text, ensure_ascii=False)


def shown(value: str, limit: int = 200) -> str:
    """A user's value in a message: as is when printable and short, else quoted and cut."""
    if value.isprintable() and len(value) <= limit:
        return value
    return go_quote(value[:limit]) + ("…" if len(value) > limit else "")


DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def size_in_units(value: float, units: Sequence[str], base: int, digits: int) -> str:
    """Docker's go-units sizes: ``value`` divided by ``base`` while it is that large, with
    ``digits`` significant digits and the unit reached (``3.812GiB``, ``1.23MB``)."""
    size, unit = float(value), 0
    while size >= base and unit < len(units) - 1:
        size /= base
        unit += 1
    return f"{size:.{digits}g}{units[unit]}"
