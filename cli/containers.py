"""Container commands: run, ps, inspect, rm, exec, logs, port."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import click

from cli import formatter, gotime, hijack, runflags
from cli.client import Client, CliError, DaemonError, PlainError, pass_client, path_for
from cli.completion import complete_containers, complete_objects
from cli.networks import report_and_exit
from cli.runflags import BadFlag, dns_list, env_list

__all__ = ["BadFlag", "dns_list", "env_list"]


class RunFailed(CliError):
    """``run`` could not create or start the container: shown like the cause, exit 125 like
    Docker (127 when the command is not found, 126 when it cannot be executed)."""

    def __init__(self, cause: CliError, exit_code: int = 125) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        self.cause.show(file)


NO_INTERSPERSED = {"allow_interspersed_args": False}


def strip_dashdash(cmd: tuple[str, ...]) -> list[str]:
    """``exec NAME -- CMD``: click keeps a ``--`` that follows a positional; drop it."""
    return list(cmd[1:]) if cmd[:1] == ("--",) else list(cmd)


def write_frames(frames: Iterator[dict[str, Any]], timestamps: bool = False) -> int | None:
    """Copy ``{"stream","data"}`` frames to stdout/stderr (``timestamps``: each after its
    record's time, as ``logs -t``); return an ``{"exit": n}`` code."""
    for frame in frames:
        if "exit" in frame:
            return int(frame["exit"])
        data = frame.get("data")
        if data:
            if timestamps and frame.get("time"):
                data = f"{frame['time']} {data}"
            click.echo(data, nl=False, err=frame.get("stream") == "stderr")
    return None


def start_failure(exc: CliError) -> int:
    """Docker's ``toStatusError``: 127 when the command is not found, 126 when it cannot be
    executed, 125 for any other failure of the daemon."""
    text = exc.message
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return 125


@click.command("run", context_settings=NO_INTERSPERSED)
@click.option(
    "-d", "--detach", is_flag=True, help="Run container in background and print container ID"
)
@runflags.shared_options
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@pass_client
@click.pass_context
def run(
    ctx: click.Context, client: Client, detach: bool, cmd: tuple[str, ...], **opts: Any
) -> None:
    """Run a command of the node in a new container (no COMMAND: a network sandbox).

    There are no images: the first argument is a command of the node, run in the sandbox.
    """
    argv = strip_dashdash(cmd)
    detach = detach or not argv
    interactive = not detach and (opts["interactive"] or opts["tty"])
    if interactive:
        check_tty(opts["interactive"], opts["tty"])
    body = runflags.build_body(opts, argv)
    body["Detach"] = detach
    try:
        resp = client.post(path_for("containers"), body) or {}
    except CliError as exc:
        raise RunFailed(exc, start_failure(exc)) from exc
    for warning in resp.get("Warnings") or []:
        click.echo(f"WARNING: {warning}", err=True)
    cid = resp.get("Id", "")
    if detach:
        click.echo(cid)
        return
    if interactive:
        ctx.exit(interactive_run(client, cid, opts["interactive"], opts["tty"]))
    try:
        code = attach_and_wait(client, cid)
    except DaemonError as exc:  # the start itself failed (a command not found…)
        raise RunFailed(exc, start_failure(exc)) from exc
    ctx.exit(code)


def check_tty(stdin: bool, tty_mode: bool) -> None:
    """Docker's ``CheckTty``: -i with -t needs a terminal on stdin."""
    if stdin and tty_mode and not os.isatty(0):
        raise PlainError("the input device is not a TTY")


def interactive_run(client: Client, cid: str, stdin: bool, tty_mode: bool) -> int:
    """``run -i``/``-t``: start the created container attached (its output held until this
    client is there), stream, then its exit status (``wait``)."""
    size = hijack.terminal_size() if tty_mode else None
    query: dict[str, Any] = {"stdin": int(stdin), "start": 1}
    if size:
        query.update(h=size[0], w=size[1])
    try:
        sock, rest = hijack.upgrade(
            client, "POST", path_for("containers", cid, "attach", query=query)
        )
    except CliError as exc:
        raise RunFailed(exc, start_failure(exc)) from exc
    on_resize = hijack.resizer(client, "containers", cid) if tty_mode else None

    proxy = None if tty_mode else _signal_proxy(client, cid)
    try:
        hijack.stream(sock, rest, tty_mode=tty_mode, stdin=stdin, on_resize=on_resize)
    finally:
        if proxy is not None:
            signal.signal(signal.SIGINT, proxy)
    resp = client.post(path_for("containers", cid, "wait")) or {}
    return int(resp.get("StatusCode", 0))


def _signal_proxy(client: Client, cid: str) -> Any:
    """Ctrl-C goes to the container's process (Docker's signal proxy); the previous handler."""

    def proxy(signum: int, frame: Any) -> None:
        with contextlib.suppress(CliError):
            client.post(path_for("containers", cid, "kill", query={"signal": "INT"}))

    return signal.signal(signal.SIGINT, proxy)


def attach_and_wait(client: Client, cid: str) -> int:
    """Start the created container attached: its output streams here; return its exit code.

    Like ``docker run``'s signal proxy: Ctrl-C is sent to the container's process, and the
    command goes on streaming until the process exits (a second Ctrl-C leaves at once).
    """
    interrupts = 0

    def proxy(signum: int, frame: Any) -> None:  # noqa: ARG001
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


def each_ref(
    ctx: click.Context,
    refs: tuple[str, ...],
    request: Callable[[str], Any],
    show: Callable[[str, Any], str] = lambda ref, _answer: ref,
) -> None:
    """Docker's way with several containers: each in turn, then a line for it (its name as
    given, unless ``show`` makes another from the answer) or the daemon's error; exit 1 when
    any failed."""
    failed = False
    for ref in refs:
        try:
            answer = request(ref)
        except DaemonError as exc:
            exc.show()
            failed = True
            continue
        click.echo(show(ref, answer))
    if failed:
        ctx.exit(1)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container")
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_containers)
@pass_client
@click.pass_context
def rm(ctx: click.Context, client: Client, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    each_ref(
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
    each_ref(
        ctx,
        refs,
        lambda ref: client.post(path_for("containers", ref, "kill", query={"signal": signal_name})),
    )


@click.command("exec", context_settings=NO_INTERSPERSED)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-u", "--user", help='Username or UID (format: "<name|uid>[:<group|gid>]")')
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.argument("container", shell_complete=complete_containers)
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_client
@click.pass_context
def exec_(
    ctx: click.Context,
    client: Client,
    detach: bool,
    interactive: bool,
    tty: bool,
    env: tuple[str, ...],
    env_file: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    container: str,
    cmd: tuple[str, ...],
) -> None:
    """Run a command in a running container; exit with its status."""
    argv = strip_dashdash(cmd)
    if not argv:
        raise CliError("no command specified")
    try:
        from_files = [
            item
            for path in env_file
            for item in runflags.read_kv_file(path, "--env-file", os.environ.get)
        ]
    except runflags.CommandLineError as exc:
        raise PlainError(exc.message) from None
    body: dict[str, Any] = {"Cmd": argv, "Env": from_files + env_list(env)}
    if workdir:
        body["WorkingDir"] = workdir
    if user:
        body["User"] = user
    if detach:
        client.post(path_for("containers", container, "exec"), {**body, "Detach": True})
        return
    if interactive or tty:
        check_tty(interactive, tty)
        ctx.exit(interactive_exec(client, container, body, interactive, tty))
    code = write_frames(client.stream("POST", path_for("containers", container, "exec"), body))
    if code is None:
        raise CliError("exec stream ended without an exit status")
    ctx.exit(code)


START_FAILED = "unable to start container process: "


def interactive_exec(
    client: Client, container: str, body: dict[str, Any], stdin: bool, tty_mode: bool
) -> int:
    """``exec -i``/``-t``: create the exec, start it over a hijacked connection, stream, then
    its exit status (exec inspect)."""
    size = hijack.terminal_size() if tty_mode else None
    created = (
        client.post(
            path_for("containers", container, "execs"),
            {
                **body,
                "Tty": tty_mode,
                "AttachStdin": stdin,
                "ConsoleSize": list(size) if size else None,
            },
        )
        or {}
    )
    exec_id = str(created.get("Id", ""))
    start_body = {"Tty": tty_mode, "ConsoleSize": list(size) if size else None}
    try:
        sock, rest = hijack.upgrade(client, "POST", path_for("exec", exec_id, "start"), start_body)
    except DaemonError as exc:
        if exc.status != 400 or not exc.message.startswith(START_FAILED):
            raise
        click.echo(exc.message, err=True)  # as Docker prints it: the stream's text
        failed = client.get(path_for("exec", exec_id, "json")) or {}
        return int(failed.get("ExitCode") or start_failure(exc))
    on_resize = hijack.resizer(client, "exec", exec_id) if tty_mode else None

    hijack.stream(sock, rest, tty_mode=tty_mode, stdin=stdin, on_resize=on_resize)
    state = client.get(path_for("exec", exec_id, "json")) or {}
    code = state.get("ExitCode")
    return -1 if code is None else int(code)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option(
    "--since",
    help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
    '(e.g. "42m" for 42 minutes)',
)
@click.option(
    "--until",
    help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
    '(e.g. "42m" for 42 minutes)',
)
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option(
    "-n", "--tail", default="all", help="Number of lines to show from the end of the logs"
)
@click.argument("container", shell_complete=complete_containers)
@pass_client
def logs(
    client: Client,
    follow: bool,
    since: str | None,
    until: str | None,
    timestamps: bool,
    tail: str,
    container: str,
) -> None:
    """Fetch the logs of a container."""
    query: dict[str, Any] = {"follow": int(follow)}
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                query[name] = gotime.timestamp(value)
            except ValueError as exc:
                raise PlainError(f'invalid value for "{name}": {exc}') from None
    if tail != "all":
        with contextlib.suppress(ValueError):  # not a number: all lines, as Docker's daemon
            query["tail"] = str(int(tail))
    path = path_for("containers", container, "logs", query=query)
    with contextlib.suppress(KeyboardInterrupt):
        write_frames(client.stream("GET", path), timestamps=timestamps)
