"""``hawser info`` (also ``hawser system info``) and ``hawser system reset``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from cli import formatter
from cli.client import Client, CliError, pass_client, path_for
from cli.gotemplate import ExecError
from cli.output import BINARY_UNITS, size_in_units


def bytes_size(value: Any) -> str:
    """Docker's ``units.BytesSize``: binary units, 4 significant digits (``3.812GiB``)."""
    if not isinstance(value, int | float):
        return str(value)
    return size_in_units(value, BINARY_UNITS, 1024, 4)


def _program_line(prog: dict[str, Any]) -> str:
    where = str(prog.get("AttachPoint", ""))
    if where.startswith("tc"):
        return f"{prog.get('Name')}: {where} of {prog.get('Links', 0)} link(s)"
    return f"{prog.get('Name')}: {where}"


def info_lines(client_version: str, info: dict[str, Any]) -> list[str]:
    """Docker's ``docker info`` layout: a Client section, then the Server's."""
    out = ["Client:", f" Version:    {client_version}", "", "Server:"]
    if "Containers" in info:
        out += [
            f" Containers: {info['Containers']}",
            f"  Running: {info.get('ContainersRunning', 0)}",
            f"  Paused: {info.get('ContainersPaused', 0)}",
            f"  Stopped: {info.get('ContainersStopped', 0)}",
            f" Networks: {info.get('Networks', 0)}",
        ]
    out += [
        f" Server Version: {info.get('ServerVersion', info.get('Version', ''))}",
        f" Node Name: {info.get('Node', '')}",
        f" Uplinks: {', '.join(info.get('Uplinks') or []) or '(none)'}",
    ]
    dp = info.get("Datapath") or {}
    if dp:
        rate = dp.get("TraceSampleRate")
        out += [" Datapath: eBPF", "  Programs:"]
        out += [f"   {_program_line(p)}" for p in dp.get("Programs") or []]
        out += [
            f"  Maps: {dp.get('Maps')}, pinned at {dp.get('PinPath')}",
            f"  Compile Time: {dp.get('CompileSeconds')}s",
            f"  Trace Sample Rate: {'off' if not rate else f'1 in {rate}'}",
        ]
    if info.get("ClusterStore"):
        out.append(f" Cluster Store: {info['ClusterStore']}")
        out.append(f" Cluster Advertise: {info.get('ClusterAdvertise') or ''}")
    out += [
        f" Kernel Version: {info.get('KernelVersion', '')}",
        f" Operating System: {info.get('OperatingSystem', '')}",
        f" OSType: {info.get('OSType', '')}",
        f" Architecture: {info.get('Architecture', '')}",
        f" CPUs: {info.get('NCPU', '')}",
        f" Total Memory: {bytes_size(info.get('MemTotal', 0))}",
        f" Name: {info.get('Name', '')}",
        f" Hawser Root Dir: {info.get('HawserRootDir', info.get('StateDir', ''))}",
        f" Socket: {info.get('Socket', '')}",
        f" Metrics Address: {info.get('MetricsAddress') or '(off)'}",
    ]
    return out


def _client_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hawser")
    except PackageNotFoundError:
        return "unknown"


@click.command("info")
@click.option(
    "-f", "--format", "fmt", default=None, metavar="string",
    help="json, or a Go template over the API's object (e.g. '{{.KernelVersion}}')",
)  # fmt: skip
@pass_client
def info(client: Client, fmt: str | None) -> None:
    """Display system-wide information."""
    data = client.get(path_for("info")) or {}
    if fmt in (None, "", "table"):
        click.echo("\n".join(info_lines(_client_version(), data)))
    elif fmt == "json":
        click.echo(json.dumps(data, separators=(",", ":")))
    else:
        tmpl = formatter.parse(formatter.template_text(fmt))
        try:
            click.echo(tmpl.execute(data, missingkey_error=True))
        except ExecError as exc:
            raise formatter.FormatError(f"template parsing error: {exc}") from None


@click.group("system")
def system() -> None:
    """Manage the node."""


system.add_command(info)


def hawserd_path() -> Path:
    """The daemon's executable, installed beside this client (same environment)."""
    return Path(sys.executable).parent / "hawserd"


@system.command(
    "reset",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def reset(ctx: click.Context, force: bool, args: tuple[str, ...]) -> None:
    """Remove everything Hawser put on this node (the daemon must be stopped).

    Runs ``hawserd reset`` (a local operation: it needs no daemon, and takes the daemon's
    options to know which node, e.g. --node-name, --state-dir, --socket).
    """
    path = hawserd_path()
    if not path.is_file():
        raise CliError(f"{path} is missing: the daemon is installed with the client (make install)")
    client = ctx.find_object(Client)
    argv = [str(path), "reset", *(["--force"] if force else []), *args]
    if client is not None and "--socket" not in args:
        argv += ["--socket", client.socket_path]
    os.execv(path, argv)  # it prompts on this terminal and returns its own status
