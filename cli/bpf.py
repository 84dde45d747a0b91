"""``hawser bpf …`` (datapath map tables) and ``hawser monitor`` (drop/trace events).

Tables are for people: each has its columns (printed even when it has no rows), byte counts
in Docker's human sizes and map pressure as a percentage. ``--format json`` gives the rows as
the API returns them (raw numbers), one object per line; any other ``--format`` is a Go
template over those rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from cli import formatter
from cli.client import Client, pass_client, path_for
from cli.output import DECIMAL_UNITS, cell, print_json_lines, print_table, size_in_units

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    default="table",
    metavar="string",
    help="table, json, or a Go template over each row's keys (e.g. '{{.name}} {{.entries}}')",
)

Row = dict[str, Any]
Column = tuple[str, Callable[[Row], str]]


def human_size(value: Any, precision: int = 3) -> str:
    """Docker's ``units.HumanSizeWithPrecision``: decimal units, ``precision`` digits."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return cell(value)
    return size_in_units(value, DECIMAL_UNITS, 1000, precision)


def percent(value: Any) -> str:
    """A fraction as a percentage: ``0.0312`` → ``3.12%``; tiny but non-zero shows ``<0.01%``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return cell(value)
    if 0 < value < 0.0001:
        return "<0.01%"
    return f"{value * 100:.2f}%"


def col(title: str, key: str) -> Column:
    return title, lambda row: cell(row.get(key))


def size_col(title: str, key: str) -> Column:
    return title, lambda row: human_size(row.get(key))


def seconds_col(title: str, key: str) -> Column:
    return title, lambda row: "" if row.get(key) is None else f"{row[key]}s"


def endpoint_col(title: str, addr: str, port: str | None, name: str) -> Column:
    """``IP:PORT (container)``; the port and the name only when there are some."""

    def show(row: Row) -> str:
        text = cell(row.get(addr))
        if port is not None and row.get(port) not in (None, "", 0):
            text = f"{text}:{row[port]}"
        return f"{text} ({row[name]})" if text and row.get(name) else text

    return title, show


TABLES: dict[str, list[Column]] = {
    "maps": [
        col("NAME", "name"), col("TYPE", "type"), col("ENTRIES", "entries"),
        col("CAPACITY", "capacity"), ("PRESSURE", lambda r: percent(r.get("pressure"))),
        col("PIN PATH", "pin_path"),
    ],
    "ports": [
        col("PROTO", "proto"), col("HOST IP", "host_ip"), col("HOST PORT", "host_port"),
        col("BACKEND IP", "backend_ip"), col("BACKEND PORT", "backend_port"),
        col("CONTAINER", "container"), col("IFNAME", "ifname"), col("CONNS", "conns"),
        col("PACKETS", "packets"), size_col("BYTES", "bytes"),
    ],
    "nat": [
        col("PROTO", "proto"), endpoint_col("SOURCE", "src", "sport", "_"),
        endpoint_col("DESTINATION", "dst", "dport", "_"), col("TO", "to"),
        col("CONTAINER", "container"), col("STATE", "state"), seconds_col("IDLE", "idle_s"),
    ],
    "policy": [
        endpoint_col("SOURCE", "src", None, "src_container"),
        endpoint_col("DESTINATION", "dst", None, "dst_container"),
        col("PROTO", "proto"), col("PORT", "dport"),
    ],
    "endpoints": [
        col("CONTAINER", "container"), col("NETWORK", "network"), col("IP", "ip"),
        col("MAC", "mac"), col("IFNAME", "ifname"), col("RX PACKETS", "rx_packets"),
        size_col("RX BYTES", "rx_bytes"), col("TX PACKETS", "tx_packets"),
        size_col("TX BYTES", "tx_bytes"), col("DROPPED", "drop_packets"),
    ],
    "stats": [
        col("DIRECTION", "direction"), col("REASON", "reason"), col("VERDICT", "verdict"),
        col("PACKETS", "packets"), size_col("BYTES", "bytes"),
    ],
    "counters": [col("EVENT", "event"), col("COUNT", "count")],
    "tunnel": [
        endpoint_col("IP", "ip", None, "container"), col("VNI", "vni"), col("NODE", "node"),
        col("MAC", "mac"), col("NODE TX PACKETS", "node_tx_packets"),
        col("NODE RX PACKETS", "node_rx_packets"),
    ],
    "ct": [
        col("PROTO", "proto"), endpoint_col("SOURCE", "src", "sport", "src_container"),
        endpoint_col("DESTINATION", "dst", "dport", "_"),
        ("BACKEND", lambda r: f"{r['backend']} ({r['dst_container']})"
         if r.get("backend") and r.get("dst_container") else cell(r.get("backend"))),
        col("NAT SOURCE", "nat_src"), col("TYPE", "type"), col("STATE", "state"),
        col("PACKETS", "packets"), size_col("BYTES", "bytes"), seconds_col("IDLE", "idle_s"),
    ],
}  # fmt: skip


def show_rows(table: str, rows: list[Row], fmt: str) -> None:
    if fmt == "json":
        print_json_lines(rows)
        return
    if fmt != "table":
        titles = {key: key.upper() for row in rows for key in row}
        formatter.echo(formatter.render(fmt, rows, titles))
        return
    columns = TABLES[table]
    print_table([title for title, _ in columns], [[show(r) for _, show in columns] for r in rows])


@click.group("bpf")
def bpf() -> None:
    """Inspect the eBPF datapath's maps."""


def _simple(name: str, doc: str) -> Callable[..., None]:
    @FORMAT_OPTION
    @pass_client
    def command(client: Client, fmt: str) -> None:
        show_rows(name, client.get(path_for("bpf", name)) or [], fmt)

    command.__doc__ = doc
    return command


for _name, _doc in [
    ("maps", "List the datapath's maps with their size and pressure."),
    ("ports", "Published ports as programmed in the datapath."),
    ("nat", "NAT entries."),
    ("policy", "Policy (icc/link allow) entries."),
    ("endpoints", "Endpoints known to the datapath."),
    ("counters", "Flow events: new published-port connections, masquerade port choices."),
    ("tunnel", "Overlay endpoints on other nodes, from the tunnel map."),
]:
    bpf.command(_name)(_simple(_name, _doc))


@bpf.command("stats")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show the counters that are zero too")
@FORMAT_OPTION
@pass_client
def stats(client: Client, show_all: bool, fmt: str) -> None:
    """Forward and drop counters (the ones that counted something, unless --all)."""
    query = {"all": "1" if show_all else None}
    show_rows("stats", client.get(path_for("bpf", "stats", query=query)) or [], fmt)


@bpf.command("ct")
@click.option("--addr", help="Only entries with this address")
@click.option("--port", type=int, help="Only entries with this port")
@click.option("--proto", type=click.Choice(["tcp", "udp", "icmp"]), help="Only this protocol")
@FORMAT_OPTION
@pass_client
def ct(client: Client, addr: str | None, port: int | None, proto: str | None, fmt: str) -> None:
    """Connection-tracking entries, each flow as it was opened: client, the address it
    dialled, the backend a published port sent it to (and the source a masquerade gave it)."""
    query = {"addr": addr, "port": port, "proto": proto}
    show_rows("ct", client.get(path_for("bpf", "ct", query=query)) or [], fmt)


def _endpoint(addr: Any, port: Any, name: Any = None) -> str:
    text = str(addr or "?") if port in (None, "", 0) else f"{addr}:{port}"
    return f"{text} ({name})" if name else text


def _time(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")
    return str(value or "-")


def format_event(ev: dict[str, Any]) -> str:
    """``TIME IFNAME VERDICT REASON PROTO SRC:SPORT (name) -> DST:DPORT (name)``."""
    return " ".join(
        [
            _time(ev.get("time")),
            str(ev.get("ifname") or "-"),
            str(ev.get("verdict") or "-"),
            str(ev.get("reason") or "-"),
            str(ev.get("proto") or "-"),
            _endpoint(ev.get("src"), ev.get("sport"), ev.get("src_container")),
            "->",
            _endpoint(ev.get("dst"), ev.get("dport"), ev.get("dst_container")),
        ]
    )


MONITOR_BANNER = "Listening for datapath events. Press Ctrl-C to quit."
TRACE_OFF = (
    "tracing is off on this node: no trace events will come "
    "(add --trace-sample-rate N to trace 1 of N forwarded packets while this runs)"
)


@click.command("monitor")
@click.option("--type", "type_", type=click.Choice(["drop", "trace"]), help="Only this event type")
@click.option("--container", help="Only events of this container (at either end)")
@click.option(
    "--trace-sample-rate",
    type=click.IntRange(0, 2**32 - 1),
    default=None,
    metavar="N",
    help="Trace 1 of N forwarded packets while this runs (the node's rate comes back after)",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="text (one line per event) or json (one object per line)")  # fmt: skip
@pass_client
def monitor(
    client: Client, type_: str | None, container: str | None, trace_sample_rate: int | None,
    fmt: str,
) -> None:  # fmt: skip
    """Stream datapath drop/trace events until Ctrl-C.

    The banner goes to stderr once the daemon confirms the subscription: events caused
    after it appears are not missed, and stdout keeps one event per line.
    """
    query = {"type": type_, "container": container, "trace_sample_rate": trace_sample_rate}
    try:
        for ev in client.stream("GET", path_for("monitor", query=query)):
            kind = ev.get("type")
            if kind == "subscribed":
                click.echo(MONITOR_BANNER, err=True)
                if type_ == "trace" and not ev.get("trace_sample_rate"):
                    click.echo(TRACE_OFF, err=True)
                continue
            if kind == "heartbeat":  # the daemon's keep-alive while idle
                continue
            if fmt == "json":
                click.echo(json.dumps(ev, separators=(",", ":")))
            else:
                click.echo(format_event(ev))
    except KeyboardInterrupt:
        pass
