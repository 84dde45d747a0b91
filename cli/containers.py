"""Container commands: run, ps, inspect, rm, exec, logs, port."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from cli import formatter
from cli.client import Client, CliError, DaemonError, pass_client, path_for
from cli.completion import complete_containers, complete_networks, complete_objects
from cli.networks import report_and_exit
from cli.output import go_quote, shown


class RunFailed(CliError):
    """``run`` could not create the container: shown like the cause, exit 125 like Docker."""

    exit_code = 125

    def __init__(self, cause: CliError) -> None:
        super().__init__(cause.message)
        self.cause = cause

    def show(self, file: Any = None) -> None:
        self.cause.show(file)


NO_INTERSPERSED = {"allow_interspersed_args": False}


def strip_dashdash(cmd: tuple[str, ...]) -> list[str]:
    """``exec NAME -- CMD``: click keeps a ``--`` that follows a positional; drop it."""
    return list(cmd[1:]) if cmd[:1] == ("--",) else list(cmd)


class BadFlag(CliError):
    """A flag value Docker's CLI refuses before calling the daemon (pflag's text, exit 125)."""

    exit_code = 125

    def __init__(self, value: str, flag: str, reason: str) -> None:
        super().__init__(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {reason}")

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)  # printed as is, like Docker's flag errors


def env_list(values: Iterable[str]) -> list[str]:
    """Docker's ``-e`` (``ValidateEnv``): ``VAR`` alone takes the CLI's value; unset → dropped."""
    out = []
    for item in values:
        key, sep, _ = item.partition("=")
        if not key:
            raise BadFlag(item, "-e, --env", f"invalid environment variable: {shown(item)}")
        if sep:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def dns_list(values: Iterable[str]) -> list[str]:
    """Docker's ``--dns`` (``ValidateIPAddress``): an IP address, spaces trimmed, normalised."""
    out = []
    for item in values:
        try:
            if "%" in item:  # Go's net.ParseIP takes no zone
                raise ValueError(item)
            out.append(str(ipaddress.ip_address(item.strip())))
        except ValueError:
            raise BadFlag(item, "--dns", f"{shown(item)} is not an ip address") from None
    return out


def write_frames(frames: Iterator[dict[str, Any]]) -> int | None:
    """Copy ``{"stream","data"}`` frames to stdout/stderr; return an ``{"exit": n}`` code."""
    for frame in frames:
        if "exit" in frame:
            return int(frame["exit"])
        data = frame.get("data")
        if data:
            click.echo(data, nl=False, err=frame.get("stream") == "stderr")
    return None


@click.command("run", context_settings=NO_INTERSPERSED)
@click.option(
    "-d", "--detach", is_flag=True, help="Run container in background and print container ID"
)
@click.option("--name", help="Assign a name to the container")
@click.option(
    "--network",
    "network",
    help="Connect a container to a network",
    shell_complete=complete_networks,
)
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("-h", "--hostname", help="Container host name")
@click.option("--dns", multiple=True, help="Set custom DNS servers")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option(
    "--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits"
)
@click.option("-p", "--publish", multiple=True, help="Publish a container's port(s) to the host")
@click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports")
@click.option("--expose", multiple=True, help="Expose a port or a range of ports")
@click.option("--link", multiple=True, help="Add link to another container")
@click.option("--network-alias", multiple=True, help="Add network-scoped alias for the container")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@pass_client
@click.pass_context
def run(
    ctx: click.Context,
    client: Client,
    detach: bool,
    name: str | None,
    network: str | None,
    ip: str | None,
    hostname: str | None,
    dns: tuple[str, ...],
    env: tuple[str, ...],
    auto_remove: bool,
    publish: tuple[str, ...],
    publish_all: bool,
    expose: tuple[str, ...],
    link: tuple[str, ...],
    network_alias: tuple[str, ...],
    cmd: tuple[str, ...],
) -> None:
    """Run a command in a new container (no COMMAND: a network sandbox)."""
    argv = strip_dashdash(cmd)
    detach = detach or not argv
    body = {
        "Name": name,
        "Network": network or "bridge",
        "IP": ip,
        "Hostname": hostname,
        "Dns": dns_list(dns),
        "Env": env_list(env),
        "Cmd": argv,
        "Publish": list(publish),
        "PublishAll": publish_all,
        "Expose": list(expose),
        "Links": list(link),
        "NetworkAliases": list(network_alias),
        "AutoRemove": auto_remove,
        "Detach": detach,
    }
    try:
        resp = client.post(path_for("containers"), body) or {}
    except CliError as exc:
        raise RunFailed(exc) from exc
    for warning in resp.get("Warnings") or []:
        click.echo(f"WARNING: {warning}", err=True)
    cid = resp.get("Id", "")
    if detach:
        click.echo(cid)
        return
    ctx.exit(attach_and_wait(client, cid))


def attach_and_wait(client: Client, cid: str) -> int:
    """Start the created container attached: its output streams here; return its exit code.

    Like ``docker run``'s signal proxy: Ctrl-C is sent to the container's process, and the
    command goes on streaming until the process exits (a second Ctrl-C leaves at once).
    """
    interrupts = 0

    def proxy(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        client.post(path_for("containers", cid, "kill", query={"signal": "INT"}))

    previous = signal.signal(signal.SIGINT, proxy)
    try:
        for frame in client.stream(
            "POST", path_for("containers", cid, "start", query={"attach": 1})
        ):
            if "exit" in frame:
                return int(frame["exit"])
            write_frames(iter([frame]))
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)


INSPECT_FORMAT = click.option(
    "-f", "--format", "fmt", metavar="string", help="Format the output using the given Go template"
)


@click.command("inspect")
@INSPECT_FORMAT
@click.option(
    "--type", "type_", type=click.Choice(["container", "network"]),
    help="Return JSON for specified type",
)  # fmt: skip
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_objects)
@pass_client
@click.pass_context
def inspect(
    ctx: click.Context, client: Client, fmt: str | None, type_: str | None, refs: tuple[str, ...]
) -> None:
    """Return low-level information on containers or networks."""
    kinds = ("containers", "networks") if type_ is None else (type_ + "s",)
    errors = formatter.inspect(refs, fmt, lambda ref: _inspect_any(client, ref, kinds))
    report_and_exit(ctx, errors)


def _inspect_any(client: Client, ref: str, kinds: tuple[str, ...]) -> Any:
    for kind in kinds:
        try:
            return client.get(path_for(kind, ref))
        except DaemonError as exc:
            if exc.status != 404:
                raise
    if kinds == ("containers",):
        raise CliError(f"No such container: {ref}")
    if kinds == ("networks",):
        raise CliError(f"No such network: {ref}")
    raise CliError(f"No such object: {ref}")


def _each(ctx: click.Context, refs: tuple[str, ...], request: Callable[[str], object]) -> None:
    """Docker's way with several containers: each in turn, its name or its error printed;
    exit 1 when any failed."""
    failed = False
    for ref in refs:
        try:
            request(ref)
        except DaemonError as exc:
            exc.show()
            failed = True
            continue
        click.echo(ref)
    if failed:
        ctx.exit(1)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container")
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def rm(ctx: click.Context, client: Client, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    _each(
        ctx,
        refs,
        lambda ref: client.delete(path_for("containers", ref, query={"force": int(force)})),
    )


@click.command("kill")
@click.option("-s", "--signal", "signal_name", default="KILL", help="Signal to send")
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def kill(ctx: click.Context, client: Client, signal_name: str, refs: tuple[str, ...]) -> None:
    """Send a signal to the process of one or more containers."""
    _each(
        ctx,
        refs,
        lambda ref: client.post(path_for("containers", ref, "kill", query={"signal": signal_name})),
    )


@click.command("exec", context_settings=NO_INTERSPERSED)
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.argument("container", shell_complete=complete_containers)
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_client
@click.pass_context
def exec_(
    ctx: click.Context, client: Client, env: tuple[str, ...], container: str, cmd: tuple[str, ...]
) -> None:
    """Run a command in a running container; exit with its status."""
    argv = strip_dashdash(cmd)
    if not argv:
        raise CliError("no command specified")
    body = {"Cmd": argv, "Env": env_list(env)}
    code = write_frames(client.stream("POST", path_for("containers", container, "exec"), body))
    if code is None:
        raise CliError("exec stream ended without an exit status")
    ctx.exit(code)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.argument("container", shell_complete=complete_containers)
@pass_client
def logs(client: Client, follow: bool, container: str) -> None:
    """Fetch the logs of a container."""
    path = path_for("containers", container, "logs", query={"follow": int(follow)})
    with contextlib.suppress(KeyboardInterrupt):
        write_frames(client.stream("GET", path))
