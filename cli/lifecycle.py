"""Lifecycle commands: create, start, stop, restart, wait (Docker's words, output and exits)."""

from __future__ import annotations

from typing import Any

import click

from cli import containers, hijack, runflags
from cli.client import Client, CliError, DaemonError, PlainError, pass_client, path_for
from cli.completion import complete_containers
from cli.usage import GoInt

NO_INTERSPERSED = {"allow_interspersed_args": False}


@click.command("create", context_settings=NO_INTERSPERSED)
@runflags.shared_options
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@pass_client
def create(client: Client, cmd: tuple[str, ...], **opts: Any) -> None:
    """Create a new container (not started): the first argument is a command of the node."""
    body = runflags.build_body(opts, containers.strip_dashdash(cmd), command="create")
    body["Detach"] = False
    try:
        resp = client.post(path_for("containers"), body) or {}
    except CliError as exc:
        raise containers.RunFailed(exc) from exc
    for warning in resp.get("Warnings") or []:
        click.echo(f"WARNING: {warning}", err=True)
    click.echo(resp.get("Id", ""))


def _timeout_option(fn: Any) -> Any:
    fn = click.option(
        "--time", "time_", type=GoInt(), default=None, hidden=True,
        help="Seconds to wait before killing the container (deprecated: use --timeout)",
    )(fn)  # fmt: skip
    return click.option(
        "-t", "--timeout", type=GoInt(), default=None, metavar="int",
        help="Seconds to wait before killing the container",
    )(fn)  # fmt: skip


def _seconds(timeout: int | None, time_: int | None) -> int | None:
    if timeout is not None and time_ is not None:
        raise PlainError("conflicting options: cannot specify both --timeout and --time")
    return timeout if timeout is not None else time_


@click.command("stop")
@click.option("-s", "--signal", "signal_name", help="Signal to send to the container")
@_timeout_option
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def stop(
    ctx: click.Context,
    client: Client,
    signal_name: str | None,
    timeout: int | None,
    time_: int | None,
    refs: tuple[str, ...],
) -> None:
    """Stop one or more running containers (SIGTERM, then SIGKILL after the grace period)."""
    query = {"t": _seconds(timeout, time_), "signal": signal_name}
    containers.each_ref(
        ctx, refs, lambda ref: client.post(path_for("containers", ref, "stop", query=query))
    )


@click.command("restart")
@click.option("-s", "--signal", "signal_name", hidden=True, help="Signal to send to the container")
@_timeout_option
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def restart(
    ctx: click.Context,
    client: Client,
    signal_name: str | None,
    timeout: int | None,
    time_: int | None,
    refs: tuple[str, ...],
) -> None:
    """Restart one or more containers."""
    query = {"t": _seconds(timeout, time_)}
    containers.each_ref(
        ctx, refs, lambda ref: client.post(path_for("containers", ref, "restart", query=query))
    )


@click.command("start")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def start(
    ctx: click.Context, client: Client, attach: bool, interactive: bool, refs: tuple[str, ...]
) -> None:
    """Start one or more stopped containers."""
    if not (attach or interactive):
        failed = []
        for ref in refs:
            try:
                client.post(path_for("containers", ref, "start"))
            except DaemonError as exc:
                exc.show()
                failed.append(ref)
                continue
            click.echo(ref)
        if failed:
            raise CliError(f"failed to start containers: {', '.join(failed)}")
        return
    if len(refs) > 1:
        raise PlainError("you cannot start and attach multiple containers at once")
    found = client.get(path_for("containers", refs[0])) or {}
    cid, config = str(found.get("Id", refs[0])), found.get("Config") or {}
    tty_mode, stdin = bool(config.get("Tty")), interactive and bool(config.get("OpenStdin"))
    if not (tty_mode or stdin):
        ctx.exit(containers.attach_and_wait(client, cid))
    if stdin:
        containers.check_tty(stdin, tty_mode)
    size = hijack.terminal_size() if tty_mode else None
    query: dict[str, Any] = {"stdin": int(stdin), "start": 1}
    if size:
        query.update(h=size[0], w=size[1])
    sock, rest = hijack.upgrade(client, "POST", path_for("containers", cid, "attach", query=query))

    on_resize = hijack.resizer(client, "containers", cid)

    hijack.stream(
        sock, rest, tty_mode=tty_mode, stdin=stdin, on_resize=on_resize if tty_mode else None
    )
    resp = client.post(path_for("containers", cid, "wait")) or {}
    ctx.exit(int(resp.get("StatusCode", 0)))


@click.command("wait")
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def wait(ctx: click.Context, client: Client, refs: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    containers.each_ref(
        ctx,
        refs,
        lambda ref: client.post(path_for("containers", ref, "wait")),
        lambda _ref, answer: str((answer or {}).get("StatusCode", 0)),
    )


@click.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.argument("container", shell_complete=complete_containers)
@pass_client
@click.pass_context
def attach(ctx: click.Context, client: Client, no_stdin: bool, container: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    found = client.get(path_for("containers", container)) or {}
    cid, config = str(found.get("Id", container)), found.get("Config") or {}
    tty_mode = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not no_stdin
    if stdin:
        containers.check_tty(stdin, tty_mode)
    query = {"stdin": int(stdin)}
    sock, rest = hijack.upgrade(client, "POST", path_for("containers", cid, "attach", query=query))

    on_resize = hijack.resizer(client, "containers", cid)

    if tty_mode:
        on_resize()  # the attached terminal's size, as Docker's attach sends it
    hijack.stream(
        sock, rest, tty_mode=tty_mode, stdin=stdin, on_resize=on_resize if tty_mode else None
    )
    resp = client.post(path_for("containers", cid, "wait")) or {}
    ctx.exit(int(resp.get("StatusCode", 0)))
