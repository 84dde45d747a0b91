"""``hawser``: the command-line client (console script entry point ``main``)."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version

import click
from click.shell_completion import get_completion_class

from cli import bpf, containers, lifecycle, networks, nodes, ports, ps, system
from cli.client import DEFAULT_SOCKET, Client, CliError, pass_client, path_for
from cli.system import hawserd_path
from cli.usage import DockerUsage, docker_command_line


def client_version() -> str:
    try:
        return dist_version("hawser")
    except PackageNotFoundError:
        return "unknown"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"Hawser version {client_version()}")
        ctx.exit(0)


@click.group(cls=DockerUsage)
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
hawser.add_command(nodes.node)
for _cmd in (
    containers.run,
    lifecycle.create,
    lifecycle.start,
    lifecycle.stop,
    lifecycle.restart,
    lifecycle.wait,
    lifecycle.attach,
    ps.ps,
    containers.inspect,
    containers.rm,
    containers.kill,
    containers.exec_,
    containers.logs,
    ports.port,
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


hawser.add_command(system.info)
hawser.add_command(system.system)


@click.command(
    "daemon",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def daemon(args: tuple[str, ...]) -> None:
    """Run the Hawser node daemon (hawserd) in the foreground."""
    path = hawserd_path()
    if not path.is_file():
        raise CliError(f"{path} is missing: the daemon is installed with the client (make install)")
    os.execv(path, [str(path), *args])  # the daemon takes over this process (its pid, signals)


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
hawser.add_command(daemon)  # after: its arguments, --socket too, are all hawserd's


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
