"""Docker's ``--format`` for listings and ``inspect``: which template a flag value means,
tables with headers derived from the template, and Docker's error texts and exit codes.

Listings (``ps``, ``network ls``, ``port``) render one ``GoObject`` context per row, as
Docker's ``formatter.Context.Write`` does; ``inspect`` renders the API's JSON with
``missingkey=error``, as Docker's template inspector does when it falls back to raw JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click

from cli import tabwriter
from cli.client import CliError
from cli.gotemplate import HEADER, ExecError, GoMap, GoObject, Member, ParseError, Template

TABLE = "table"
RAW = "raw"
JSON = "json"
QUIET = "{{.ID}}"


class FormatError(CliError):
    """A template that failed: printed as is (no ``Error:``), like Docker's CLI."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


# --- contexts ------------------------------------------------------------------------------


class Context(GoObject):
    """A row of a listing: named string fields, plus ``Label NAME`` where it has labels."""

    go_type = "*formatter.Context"

    def __init__(self, fields: Mapping[str, str], labels: Mapping[str, str] | None = None):
        self.fields = dict(fields)
        self.labels = dict(labels or {})

    def members(self) -> Mapping[str, Member]:
        found: dict[str, Member] = {
            name: Member((), (lambda v=value: v)) for name, value in self.fields.items()
        }
        if "Labels" in self.fields:
            found["Label"] = Member(("string",), lambda name: self.labels.get(name, ""))
        return found

    def json_value(self) -> Any:
        return {k: self.fields[k] for k in sorted(self.fields)}


class ContainerContext(Context):
    """A ``ps`` row; Docker's type name shows in its errors."""

    go_type = "*formatter.ContainerContext"


class NetworkContext(Context):
    """A ``network ls`` row."""

    go_type = "*network.networkContext"


class PortContext(Context):
    """A ``port`` line (a Hawser extension: Docker's ``port`` has no ``--format``)."""

    go_type = "*formatter.PortContext"


class HeaderContext(GoMap):
    """Docker's ``SubHeaderContext``: field name → column header; ``Label NAME`` gives the
    last dotted part of NAME with ``-`` and ``_`` as spaces."""

    go_type = "formatter.SubHeaderContext"

    def methods(self) -> Mapping[str, Member]:
        return {"Label": Member(("string",), _label_header)}


def _label_header(name: str) -> str:
    return name.split(".")[-1].replace("-", " ").replace("_", " ")


CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Owner": "OWNER",
}
#: Docker's columns exactly
CONTAINER_TABLE = (
    "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}"
    "\\t{{.Names}}"
)
#: the same, then who made the container (docker, cni): used when an engine's container is listed
CONTAINER_TABLE_OWNED = CONTAINER_TABLE + "\\t{{.Owner}}"
CONTAINER_RAW = (
    "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\n"
    "created_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\n"
    "names: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"
)

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
NETWORK_TABLE = "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}"
NETWORK_RAW = "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"

PORT_HEADERS = {"ContainerPort": "CONTAINER PORT", "HostIP": "HOST IP", "HostPort": "HOST PORT"}
PORT_TABLE = "table {{.ContainerPort}}\\t{{.HostIP}}\\t{{.HostPort}}"


# --- choosing and rendering a listing's template -------------------------------------------


def listing_format(
    fmt: str | None, quiet: bool, table: str, raw: str, raw_quiet: str
) -> tuple[str, bool]:
    """Docker's ``New…Format``: the template for a ``--format`` value, and whether a
    custom format was overridden by ``-q`` (Docker warns about that)."""
    if not fmt or fmt == TABLE:
        return (QUIET if quiet else table), False
    if fmt == RAW:
        return (raw_quiet if quiet else raw), False
    if fmt == JSON:
        return (QUIET, True) if quiet else ("{{json .}}", False)
    if quiet:
        return QUIET, True
    return fmt, False


def warn_quiet_overrides() -> None:
    click.echo(
        "WARNING: Ignoring custom format, because both --format and --quiet are set.", err=True
    )


def template_text(fmt: str) -> str:
    """Docker's ``Format.templateString``: no ``table`` prefix, outer spaces trimmed,
    literal ``\\t`` and ``\\n`` turned into a tab and a newline."""
    text = fmt[len(TABLE) :] if fmt.startswith(TABLE) else fmt
    return text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def parse(text: str, prefix: str = "template parsing error", exit_code: int = 1) -> Template:
    try:
        return Template(text)
    except ParseError as exc:
        raise FormatError(f"{prefix}: {exc}", exit_code) from None


def render(fmt: str, rows: Iterable[Any], headers: Mapping[str, str]) -> str:
    """The text Docker's formatter writes for ``rows`` (contexts, or JSON objects): each
    row's template output and a newline; for ``table …`` a header row first, all aligned
    by the tab writer."""
    tmpl = parse(template_text(fmt))
    body: list[str] = []
    for row in rows:
        try:
            body.append(tmpl.execute(row) + "\n")
        except ExecError as exc:
            raise FormatError(f"template parsing error: {exc}") from None
    if not fmt.startswith(TABLE):
        return "".join(body)
    header = tmpl.execute_partial(HeaderContext(headers), functions=HEADER)
    return tabwriter.align(header + "\n" + "".join(body))


def validate(fmt: str, empty_row: GoObject) -> None:
    """``docker ps``'s check of a ``--format`` before it lists anything: the raw value
    is parsed and run on an empty row (errors name the columns of the raw string)."""
    tmpl = parse(fmt, "failed to parse template")
    try:
        tmpl.execute(empty_row)
    except ExecError as exc:
        raise FormatError(f"failed to execute template: {exc}") from None


def echo(text: str) -> None:
    click.echo(text, nl=False)


# --- inspect -------------------------------------------------------------------------------


def inspect(refs: Sequence[str], fmt: str | None, fetch: Callable[[str], Any]) -> list[CliError]:
    """Docker's ``inspect.Inspect``: fetch each reference and print them as an indented
    JSON array, a compact one (``json``) or through a template (``missingkey=error``).

    Returns the errors met, which the caller prints after the output (exit 1). A
    template that does not parse stops everything first (exit 64, as Docker).
    """
    tmpl = None
    if fmt and fmt != JSON:
        tmpl = parse(fmt, exit_code=64)
    found: list[Any] = []
    errors: list[CliError] = []
    texts: list[str] = []
    for ref in refs:
        try:
            obj = fetch(ref)
        except CliError as exc:
            errors.append(exc)
            continue
        if tmpl is None:
            found.append(obj)
            continue
        try:
            texts.append(tmpl.execute(obj, missingkey_error=True) + "\n")
        except ExecError as exc:
            errors.append(FormatError(f"template parsing error: {exc}"))
    if tmpl is not None:
        echo("".join(texts) or "\n")
    elif fmt == JSON:
        click.echo(json.dumps(found, separators=(",", ":"), ensure_ascii=False))
    else:
        click.echo(json.dumps(found, indent=4))
    return errors
