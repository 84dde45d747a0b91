"""``hawser network …``: Docker's network commands over the REST API."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from typing import Any

import click

from cli.client import Client, CliError, DaemonError, pass_client, path_for
from cli.output import print_inspect, print_json_lines, print_table, short_id

PRUNE_PROMPT = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue? [y/N] "
)


def parse_kv(values: tuple[str, ...], *, require_eq: str | None = None) -> dict[str, str]:
    """``k=v`` list → dict. Without ``=`` the value is "" unless ``require_eq`` names the error."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep and require_eq is not None:
            raise CliError(f"{require_eq}: {item}")
        out[key] = val
    return out


def build_create_body(
    name: str,
    driver: str,
    subnet: str | None,
    gateway: str | None,
    ip_range: str | None,
    aux: dict[str, str],
    internal: bool,
    attachable: bool,
    labels: dict[str, str],
    options: dict[str, str],
) -> dict[str, Any]:
    """The POST /v1/networks body; the daemon validates the IPAM values."""
    config: dict[str, Any] = {}
    if subnet:
        config["Subnet"] = subnet
    if gateway:
        config["Gateway"] = gateway
    if ip_range:
        config["IPRange"] = ip_range
    if aux:
        config["AuxAddress"] = aux
    return {
        "Name": name,
        "Driver": driver,
        "IPAM": {"Config": [config] if config else []},
        "Internal": internal,
        "Attachable": attachable,
        "Labels": labels,
        "Options": options,
    }


def _one(values: Sequence[str]) -> str | None:
    return values[0] if values else None


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise CliError(f"invalid subnet {text}: invalid CIDR address: {text}") from None


def _contains(subnet: str, data: str) -> bool:
    """Docker's ``subnetMatches``: is ``data`` (an address or CIDR) inside ``subnet``?"""
    net = _net(subnet)
    try:
        return ipaddress.ip_address(data.split("/", 1)[0]) in net
    except ValueError:  # Go's ParseIP gives nil, which no subnet contains
        return False


def consolidate_ipam(
    subnets: Sequence[str], ranges: Sequence[str], gateways: Sequence[str], aux: dict[str, str]
) -> list[dict[str, Any]]:
    """Docker's ``consolidateIpam``: one IPAM config per subnet, each value on its subnet."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise CliError("every ip-range or gateway must have a corresponding subnet")
    configs: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for other in configs:
            if _contains(subnet, other) or _contains(other, subnet):
                raise CliError("multiple overlapping subnet configuration is not supported")
        configs[subnet] = {"Subnet": subnet}
    for key, values, what in (("IPRange", ranges, "ranges"), ("Gateway", gateways, "gateways")):
        for value in values:
            home = next((s for s in subnets if _contains(s, value)), None)
            if home is None:
                noun = "range" if key == "IPRange" else "gateway"
                raise CliError(f"no matching subnet for {noun} {value}")
            if key in configs[home]:
                words = "on the same subnet" if key == "IPRange" else "for the same subnet"
                raise CliError(
                    f"cannot configure multiple {what} ({value}, {configs[home][key]}) "
                    f"{words} ({home})"
                )
            configs[home][key] = value
    for host, value in aux.items():
        home = next((s for s in subnets if _contains(s, value)), None)
        if home is None:
            raise CliError(f"no matching subnet for aux-address {value}")
        configs[home].setdefault("AuxAddress", {})[host] = value
    return list(configs.values())


@click.group("network")
def network() -> None:
    """Manage networks."""


@network.command("create")
@click.option(
    "-d", "--driver", default="bridge", show_default=True, help="Driver to manage the Network"
)
@click.option(
    "--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment"
)
@click.option("--gateway", multiple=True, help="IPv4 Gateway for the master subnet")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range")
@click.option("--aux-address", multiple=True, metavar="HOST=IP", help="Auxiliary IPv4 addresses")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--label", multiple=True, help="Set metadata on a network")
@click.option("-o", "--opt", multiple=True, metavar="KEY=VALUE", help="Set driver specific options")
@click.argument("name")
@pass_client
def create(
    client: Client,
    driver: str,
    subnet: tuple[str, ...],
    gateway: tuple[str, ...],
    ip_range: tuple[str, ...],
    aux_address: tuple[str, ...],
    internal: bool,
    attachable: bool,
    label: tuple[str, ...],
    opt: tuple[str, ...],
    name: str,
) -> None:
    """Create a network."""
    aux = parse_kv(aux_address, require_eq="invalid aux-address, expected HOST=IP")
    labels = parse_kv(label, require_eq="bad attribute format")
    if len(subnet) > 1 or len(gateway) > 1 or len(ip_range) > 1:
        configs = consolidate_ipam(subnet, ip_range, gateway, aux)
        body = build_create_body(name, driver, None, None, None, {}, internal, attachable,
                                 labels, parse_kv(opt))  # fmt: skip
        body["IPAM"]["Config"] = configs
    else:  # one of each at most: the daemon checks them
        body = build_create_body(name, driver, _one(subnet), _one(gateway), _one(ip_range),
                                 aux, internal, attachable, labels, parse_kv(opt))  # fmt: skip
    resp = client.post(path_for("networks"), body) or {}
    if resp.get("Warning"):
        click.echo(f"WARNING: {resp['Warning']}", err=True)
    click.echo(resp.get("Id", ""))


def _ls_json_row(net: dict[str, Any], trunc: bool) -> dict[str, Any]:
    labels = net.get("Labels") or {}
    return {
        "CreatedAt": net.get("Created", ""),
        "Driver": net.get("Driver", ""),
        "ID": short_id(net.get("Id", ""), trunc),
        "IPv6": str(bool(net.get("EnableIPv6"))).lower(),
        "Internal": str(bool(net.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Name": net.get("Name", ""),
        "Scope": net.get("Scope", ""),
    }


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_client
def ls(client: Client, quiet: bool, no_trunc: bool, fmt: str) -> None:
    """List networks."""
    nets = client.get(path_for("networks")) or []
    trunc = not no_trunc
    if quiet:
        for net in nets:
            click.echo(short_id(net.get("Id", ""), trunc))
    elif fmt == "json":
        print_json_lines(_ls_json_row(n, trunc) for n in nets)
    else:
        print_table(
            ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
            (
                [
                    short_id(n.get("Id", ""), trunc),
                    n.get("Name", ""),
                    n.get("Driver", ""),
                    n.get("Scope", ""),
                ]
                for n in nets
            ),
        )


@network.command("inspect")
@click.argument("networks", nargs=-1, required=True)
@pass_client
@click.pass_context
def inspect(ctx: click.Context, client: Client, networks: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    found: list[Any] = []
    errors: list[CliError] = []
    for ref in networks:
        try:
            found.append(client.get(path_for("networks", ref)))
        except DaemonError as exc:
            errors.append(CliError(f"No such network: {ref}") if exc.status == 404 else exc)
    print_inspect(found)
    report_and_exit(ctx, errors)


def report_and_exit(ctx: click.Context, errors: list[CliError]) -> None:
    """Print each collected error on its own line; exit 1 if there was any."""
    for exc in errors:
        exc.show()
    if errors:
        ctx.exit(1)


@network.command("rm")
@click.argument("networks", nargs=-1, required=True)
@pass_client
@click.pass_context
def rm(ctx: click.Context, client: Client, networks: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    errors: list[CliError] = []
    for ref in networks:
        try:
            client.delete(path_for("networks", ref))
        except DaemonError as exc:
            exc.show()
            errors.append(exc)
            continue
        click.echo(ref)
    if errors:
        ctx.exit(1)


@network.command("connect")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.argument("net")
@click.argument("container")
@pass_client
def connect(
    client: Client, ip: str | None, alias: tuple[str, ...], net: str, container: str
) -> None:
    """Connect a container to a network."""
    body = {
        "Container": container,
        "EndpointConfig": {"IPAMConfig": {"IPv4Address": ip or ""}, "Aliases": list(alias)},
    }
    client.post(path_for("networks", net, "connect"), body)


@network.command("disconnect")
@click.option(
    "-f", "--force", is_flag=True, help="Force the container to disconnect from a network"
)
@click.argument("net")
@click.argument("container")
@pass_client
def disconnect(client: Client, force: bool, net: str, container: str) -> None:
    """Disconnect a container from a network."""
    client.post(path_for("networks", net, "disconnect"), {"Container": container, "Force": force})


def confirm(prompt: str) -> bool:
    """Docker's PromptForConfirmation: only ``y``/``Y`` means yes; EOF means no."""
    click.echo(prompt, nl=False)
    answer = sys.stdin.readline()
    return answer.strip().lower() == "y"


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_client
def prune(client: Client, force: bool) -> None:
    """Remove all unused networks."""
    if not force and not confirm(PRUNE_PROMPT):
        return
    resp = client.post(path_for("networks", "prune")) or {}
    deleted = resp.get("NetworksDeleted") or []
    if deleted:
        click.echo("Deleted Networks:")
        for name in deleted:
            click.echo(name)
        click.echo()
