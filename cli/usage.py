"""Docker's handling of command-line mistakes, applied to click's.

Docker (cobra) answers a bad flag with ``unknown flag: --foo`` and ``See 'docker ps
--help'.``, exit 125; a wrong number of arguments with ``"docker inspect" requires at
least 1 argument.`` and the usage line, exit 1; an unknown command with ``docker: 'foo'
is not a docker command.``, exit 1. ``--socket`` is accepted after a subcommand too.
"""

from __future__ import annotations

from typing import Any, NoReturn

import click

from cli.client import Client
from cli.completion import SOCKET_META

FLAG_ERROR_EXIT = 125


class DockerUsageError(click.ClickException):
    """A usage mistake, printed as Docker prints it (no ``Error:`` prefix)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


def translate(exc: click.UsageError) -> click.ClickException:
    """The Docker form of one of click's usage errors."""
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "hawser"
    see = f"See '{path} --help'."
    if isinstance(exc, click.NoSuchOption):
        name = exc.option_name
        if name.startswith("--"):
            text = f"unknown flag: {name}"
        else:
            text = f"unknown shorthand flag: '{name[1:2]}' in {name}"
        return DockerUsageError(f"{text}\n{see}", FLAG_ERROR_EXIT)
    if isinstance(exc, click.BadOptionUsage):
        name = exc.option_name
        shown = name if name.startswith("--") else f"'{name[1:]}' in {name}"
        return DockerUsageError(f"flag needs an argument: {shown}\n{see}", FLAG_ERROR_EXIT)
    if isinstance(exc, click.MissingParameter) and isinstance(exc.param, click.Argument):
        return _arguments_error(ctx, path, see)
    if isinstance(exc, click.BadParameter) and isinstance(exc.param, click.Option):
        return DockerUsageError(f"{_flag_value_error(exc)}\n{see}", FLAG_ERROR_EXIT)
    if isinstance(exc, click.BadParameter) and isinstance(exc.param, click.Argument):
        return DockerUsageError(f"{exc.format_message()}\n{see}", 1)
    message = exc.format_message()
    if message.startswith("Got unexpected extra argument"):
        return _arguments_error(ctx, path, see)
    if message.startswith("No such command"):
        name = message.split("'")[1] if "'" in message else ""
        return DockerUsageError(
            f"{path}: '{name}' is not a {path} command.\nSee '{path} --help'", 1
        )
    return DockerUsageError(f"{message}\n{see}", FLAG_ERROR_EXIT)


def _flag_value_error(exc: click.BadParameter) -> str:
    if exc.message.startswith("invalid argument"):
        return exc.message
    return f'invalid argument for "{flags_of(exc.param)}" flag: {exc.message}'


def flags_of(param: click.Parameter | None) -> str:
    """pflag's name for a flag: ``-n, --last``."""
    if param is None:
        return ""
    return ", ".join(sorted(param.opts, key=lambda o: (o.startswith("--"), o)))


class GoInt(click.ParamType):
    """An integer flag whose bad value reads as pflag's."""

    name = "int"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value), 10)
        except ValueError:
            self.fail(
                f'invalid argument "{value}" for "{flags_of(param)}" flag: '
                f'strconv.ParseInt: parsing "{value}": invalid syntax',
                param,
                ctx,
            )


def _arguments_error(ctx: click.Context | None, path: str, see: str) -> DockerUsageError:
    command = ctx.command if ctx is not None else None
    args = [p for p in (command.params if command else []) if isinstance(p, click.Argument)]
    low = sum(1 for a in args if a.required) if args else 0
    high = None if any(a.nargs == -1 for a in args) else sum(max(a.nargs, 1) for a in args)
    if not args:
        head = f'"{path}" accepts no arguments.'
    elif high is None:
        head = f'"{path}" requires at least {low} argument{"s" if low != 1 else ""}.'
    elif low == high:
        head = f'"{path}" requires exactly {low} argument{"s" if low != 1 else ""}.'
    else:
        head = f'"{path}" requires at least {low} and at most {high} arguments.'
    usage = ""
    if ctx is not None and command is not None:
        pieces = " ".join(command.collect_usage_pieces(ctx))
        short = command.get_short_help_str(limit=200)
        usage = f"\n\nUsage:  {path} {pieces}\n\n{short}"
    return DockerUsageError(f"{head}\n{see}{usage}", 1)


class DockerUsage(click.Group):
    """A group whose usage mistakes (its own and its subcommands') read as Docker's."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            _help_and_exit(exc)
        except click.UsageError as exc:
            raise translate(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError as exc:
            _help_and_exit(exc)
        except DockerUsageError:
            raise
        except click.UsageError as exc:
            raise translate(exc) from None


def _help_and_exit(exc: click.UsageError) -> NoReturn:
    """``hawser`` or ``hawser network`` alone: the help, exit 0 (as ``docker``)."""
    if exc.ctx is not None:
        click.echo(exc.ctx.get_help())
    raise click.exceptions.Exit(0)


def _socket_after_subcommand(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.meta[SOCKET_META] = value
        client = ctx.find_object(Client)
        if client is not None:
            client.socket_path = value
    return value


def _remember_context(command: click.Command) -> None:
    """click raises some parse errors without the context they happened in; attach it,
    so the message can name the command (``See 'hawser ps --help'.``)."""
    parse_args = command.parse_args

    def wrapped(ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return parse_args(ctx, args)
        except click.UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise

    command.parse_args = wrapped  # type: ignore[method-assign]


def docker_command_line(command: click.Command) -> None:
    """Prepare a command tree for Docker's usage errors (see ``DockerUsage``), and give
    every subcommand a hidden ``--socket`` so it may follow the subcommand
    (``hawser ps --socket X``), as the README promises."""
    _remember_context(command)
    if not any("--socket" in p.opts for p in command.params if isinstance(p, click.Option)):
        command.params.append(
            click.Option(
                ["--socket"],
                metavar="PATH",
                hidden=True,
                expose_value=False,
                callback=_socket_after_subcommand,
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            docker_command_line(sub)
