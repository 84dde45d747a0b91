"""``hawser node ls``: the nodes of the cluster (overlay networks, ``--cluster-store``)."""

from __future__ import annotations

import click

from cli.client import Client, DaemonError, pass_client, path_for
from cli.output import print_json_lines, print_table

HEADERS = ("NAME", "ADDRESS", "STATE", "ENDPOINTS", "LAST RENEWAL")
NO_CLUSTER = "this node is not in a cluster: start the daemon with --cluster-store"


@click.group("node")
def node() -> None:
    """Manage the nodes of the cluster."""


@node.command("ls")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-q", "--quiet", is_flag=True, help="Only display node names")
@pass_client
def ls(client: Client, fmt: str, quiet: bool) -> None:
    """List the nodes registered in the cluster store (this one marked with *)."""
    try:
        nodes = client.get(path_for("nodes")) or []
    except DaemonError as exc:
        if exc.status == 404:
            raise DaemonError(NO_CLUSTER, 404) from None
        raise
    nodes = sorted(nodes, key=lambda n: str(n.get("Name", "")))
    if quiet:
        for n in nodes:
            click.echo(n.get("Name", ""))
    elif fmt == "json":
        print_json_lines(nodes)
    else:
        rows = [
            (
                f"{n.get('Name', '')}{' *' if n.get('Self') else ''}",
                str(n.get("Address", "")),
                str(n.get("State", "")),
                str(n.get("Endpoints", 0)),
                str(n.get("LastRenewalAgo", "")),
            )
            for n in nodes
        ]
        print_table(HEADERS, rows)
