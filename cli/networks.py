"""``hawser network …``: Docker's network commands over the REST API."""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from cli import filters, formatter
from cli.client import Client, CliError, DaemonError, pass_client, path_for
from cli.completion import complete_containers, complete_networks
from cli.output import short_id

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


def _parse_filters(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    try:
        return filters.parse(value)
    except click.BadParameter as exc:
        bad = next(v for v in value if v and "=" not in v)
        raise click.BadParameter(f'invalid argument "{bad}" for "-f, --filter" flag: {exc.message}',
                                 ctx, param) from None  # fmt: skip


FILTER_OPTION: dict[str, Any] = {
    "multiple": True,
    "metavar": "filter",
    "callback": _parse_filters,
    "help": "Filter output based on conditions provided",
}


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


def ls_row(net: Mapping[str, Any], trunc: bool) -> dict[str, str]:
    """Docker's ``networkContext`` fields of one network."""
    labels = net.get("Labels") or {}
    return {
        "CreatedAt": go_time(str(net.get("Created", ""))),
        "Driver": net.get("Driver", ""),
        "ID": short_id(net.get("Id", ""), trunc),
        "IPv6": str(bool(net.get("EnableIPv6"))).lower(),
        "Internal": str(bool(net.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Name": net.get("Name", ""),
        "Scope": net.get("Scope", ""),
    }


def go_time(created: str) -> str:
    """An RFC 3339 UTC time as Go's ``time.Time.String`` prints it
    (``2026-11-22 11:16:15.354697276 +0000 UTC``)."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z", created)
    if not found:
        return created
    day, clock, frac = found.groups()
    frac = (frac or "").rstrip("0").rstrip(".")
    return f"{day} {clock}{frac} +0000 UTC"


def natural_key(name: str) -> list[Any]:
    """Docker sorts networks by name in natural order (``net2`` before ``net10``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name) if part]  # fmt: skip


@network.command("ls")
@click.option("-f", "--filter", "filter_", **FILTER_OPTION)
@click.option("--format", "fmt", metavar="string", help="Pretty-print networks using a Go template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@pass_client
def ls(
    client: Client, filter_: filters.Filters, fmt: str | None, no_trunc: bool, quiet: bool
) -> None:
    """List networks.

    Filters (-f key=value): name, id, driver, scope, label, type=custom|builtin, dangling.
    """
    nets = filters.filter_networks(client.get(path_for("networks")) or [], filter_)
    nets = sorted(nets, key=lambda n: natural_key(str(n.get("Name", ""))))
    template, overridden = formatter.listing_format(
        fmt, quiet, formatter.NETWORK_TABLE, formatter.NETWORK_RAW, "network_id: {{.ID}}"
    )
    if overridden:
        formatter.warn_quiet_overrides()
    trunc = not no_trunc
    rows = [formatter.NetworkContext(ls_row(n, trunc), n.get("Labels") or {}) for n in nets]
    formatter.echo(formatter.render(template, rows, formatter.NETWORK_HEADERS))


@network.command("inspect")
@click.option(
    "-f", "--format", "fmt", metavar="string", help="Format the output using the given Go template"
)
@click.argument("networks", nargs=-1, required=True, shell_complete=complete_networks)
@pass_client
@click.pass_context
def inspect(ctx: click.Context, client: Client, fmt: str | None, networks: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""

    def fetch(ref: str) -> Any:
        try:
            return client.get(path_for("networks", ref))
        except DaemonError as exc:
            if exc.status == 404:
                raise CliError(f"No such network: {ref}") from exc
            raise

    report_and_exit(ctx, formatter.inspect(networks, fmt, fetch))


def report_and_exit(ctx: click.Context, errors: list[CliError]) -> None:
    """Print each collected error on its own line; exit 1 if there was any."""
    for exc in errors:
        exc.show()
    if errors:
        ctx.exit(1)


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("networks", nargs=-1, required=True, shell_complete=complete_networks)
@pass_client
@click.pass_context
def rm(ctx: click.Context, client: Client, force: bool, networks: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    errors: list[CliError] = []
    for ref in networks:
        try:
            client.delete(path_for("networks", ref))
        except DaemonError as exc:
            if force and exc.status == 404:
                continue
            exc.show()
            errors.append(exc)
            continue
        click.echo(ref)
    if errors:
        ctx.exit(1)


@network.command("connect")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.argument("net", shell_complete=complete_networks)
@click.argument("container", shell_complete=complete_containers)
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
@click.argument("net", shell_complete=complete_networks)
@click.argument("container", shell_complete=complete_containers)
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
