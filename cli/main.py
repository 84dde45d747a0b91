"""``hawser``: the command-line client (console script entry point ``main``)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import click
from click.shell_completion import get_completion_class

from cli import bpf, containers, networks
from cli.client import DEFAULT_SOCKET, Client, CliError, pass_client, path_for
from cli.output import cell
from cli.usage import DockerUsage, docker_command_line

# Commands that live outside cli/ and are imported only when used:
# name -> (module, attribute, short help shown without importing).
LAZY_COMMANDS = {
    "daemon": ("controller.daemon.main", "daemon_command", "Run the Hawser node daemon."),
}


def _unavailable(name: str, reason: str) -> click.Command:
    def fail() -> None:
        raise CliError(f"the '{name}' command is not available: {reason}")

    return click.Command(
        name,
        callback=fail,
        help=f"Unavailable: {reason}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )


class HawserGroup(DockerUsage):
    """A click group that also serves LAZY_COMMANDS, importing them on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, attr, _ = LAZY_COMMANDS[cmd_name]
            try:
                command = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                return _unavailable(cmd_name, str(exc))
            if not isinstance(command, click.Command):
                return _unavailable(cmd_name, f"{module}.{attr} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but lazy commands show their fixed help (no import for --help)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][2]))
                continue
            cmd = super().get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(formatter.width - 6 - 12)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def client_version() -> str:
    try:
        return dist_version("hawser")
    except PackageNotFoundError:
        return "unknown"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"Hawser version {client_version()}")
        ctx.exit(0)


@click.group(cls=HawserGroup)
@click.option(
    "-v",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print version information and quit",
)
@click.option(
    "--socket",
    "socket_path",
    envvar="HAWSER_SOCKET",
    default=DEFAULT_SOCKET,
    show_default=True,
    metavar="PATH",
    help="The daemon's API socket (env HAWSER_SOCKET).",
)
@click.pass_context
def hawser(ctx: click.Context, socket_path: str) -> None:
    """Docker's networking model on an eBPF datapath: the Hawser client."""
    ctx.obj = Client(socket_path)


hawser.add_command(networks.network)
for _cmd in (
    containers.run,
    containers.ps,
    containers.inspect,
    containers.rm,
    containers.kill,
    containers.exec_,
    containers.logs,
    containers.port,
    bpf.bpf,
    bpf.monitor,
):
    hawser.add_command(_cmd)


@hawser.command("version")
@pass_client
def version(client: Client) -> None:
    """Show the Hawser version information."""
    click.echo("Client:")
    click.echo(f" Version:           {client_version()}")
    click.echo(" API version:       v1")
    info = client.get(path_for("info")) or {}
    click.echo()
    click.echo("Server:")
    click.echo(f" Version:           {info.get('Version', '')}")
    click.echo(f" Node:              {info.get('Node', '')}")


def _print_info(info: dict[str, Any]) -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for sub, subval in value.items():
                click.echo(f" {sub}: {cell(subval)}")
        elif isinstance(value, list):
            click.echo(f"{key}: {', '.join(cell(v) for v in value)}")
        else:
            click.echo(f"{key}: {cell(value)}")


@hawser.command("info")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_client
def info(client: Client, fmt: str) -> None:
    """Display node-wide information."""
    data = client.get(path_for("info")) or {}
    if fmt == "json":
        click.echo(json.dumps(data, indent=4))
    else:
        _print_info(data)


@hawser.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Load it with e.g. ``source <(hawser completion bash)``.
    """
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise CliError(f"unsupported shell: {shell}")
    root = ctx.find_root().command
    click.echo(cls(root, {}, "hawser", "_HAWSER_COMPLETE").source())


docker_command_line(hawser)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        hawser.main(args=argv, prog_name="hawser")
    except BrokenPipeError:
        # Output piped into e.g. `head`: not an error. Silence the flush at exit too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
