"""``hawser bpf …`` (datapath map tables) and ``hawser monitor`` (drop/trace events)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from cli import formatter
from cli.client import Client, pass_client, path_for
from cli.output import generic_table, print_json_lines, print_table

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    default="table",
    metavar="string",
    help="table, json, or a Go template over each row's keys (e.g. '{{.name}} {{.entries}}')",
)


def show_rows(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print_json_lines(rows)
        return
    if fmt != "table":
        titles = {key: key.upper() for row in rows for key in row}
        formatter.echo(formatter.render(fmt, rows, titles))
        return
    if not rows:
        return
    headers, cells = generic_table(rows)
    print_table(headers, cells)


@click.group("bpf")
def bpf() -> None:
    """Inspect the eBPF datapath's maps."""


def _simple(name: str, doc: str) -> Callable[..., None]:
    @FORMAT_OPTION
    @pass_client
    def command(client: Client, fmt: str) -> None:
        show_rows(client.get(path_for("bpf", name)) or [], fmt)

    command.__doc__ = doc
    return command


for _name, _doc in [
    ("maps", "List the datapath's maps with their size and pressure."),
    ("ports", "Published ports as programmed in the datapath."),
    ("nat", "NAT entries."),
    ("policy", "Policy (icc/link allow) entries."),
    ("endpoints", "Endpoints known to the datapath."),
    ("stats", "Forward and drop counters."),
    ("counters", "Flow events: new published-port connections, masquerade port choices."),
    ("tunnel", "Overlay endpoints on other nodes, from the tunnel map."),
]:
    bpf.command(_name)(_simple(_name, _doc))


@bpf.command("ct")
@click.option("--addr", help="Only entries with this address")
@click.option("--port", type=int, help="Only entries with this port")
@click.option("--proto", type=click.Choice(["tcp", "udp", "icmp"]), help="Only this protocol")
@FORMAT_OPTION
@pass_client
def ct(client: Client, addr: str | None, port: int | None, proto: str | None, fmt: str) -> None:
    """Connection-tracking entries."""
    query = {"addr": addr, "port": port, "proto": proto}
    show_rows(client.get(path_for("bpf", "ct", query=query)) or [], fmt)


def _endpoint(addr: Any, port: Any) -> str:
    if port in (None, "", 0):
        return str(addr or "?")
    return f"{addr}:{port}"


def _time(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")
    return str(value or "-")


def format_event(ev: dict[str, Any]) -> str:
    """``TIME IFNAME VERDICT REASON PROTO SRC:SPORT -> DST:DPORT``."""
    return " ".join(
        [
            _time(ev.get("time")),
            str(ev.get("ifname") or "-"),
            str(ev.get("verdict") or "-"),
            str(ev.get("reason") or "-"),
            str(ev.get("proto") or "-"),
            _endpoint(ev.get("src"), ev.get("sport")),
            "->",
            _endpoint(ev.get("dst"), ev.get("dport")),
        ]
    )


MONITOR_BANNER = "Listening for datapath events. Press Ctrl-C to quit."


@click.command("monitor")
@click.option("--type", "type_", type=click.Choice(["drop", "trace"]), help="Only this event type")
@click.option("--container", help="Only events of this container")
@pass_client
def monitor(client: Client, type_: str | None, container: str | None) -> None:
    """Stream datapath drop/trace events until Ctrl-C.

    The banner goes to stderr once the daemon confirms the subscription: events caused
    after it appears are not missed, and stdout keeps one event per line.
    """
    query = {"type": type_, "container": container}
    try:
        for ev in client.stream("GET", path_for("monitor", query=query)):
            kind = ev.get("type")
            if kind == "subscribed":
                click.echo(MONITOR_BANNER, err=True)
                continue
            if kind == "heartbeat":  # the daemon's keep-alive while idle
                continue
            click.echo(format_event(ev))
    except KeyboardInterrupt:
        pass
