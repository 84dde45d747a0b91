"""Legacy ``--link`` targets of a container: the linked containers and the endpoints through
which the link's environment variables and /etc/hosts names reach them."""

from __future__ import annotations

from dataclasses import dataclass

from controller.errors import Conflict, NotFound
from controller.kernel.supervisor import is_running
from controller.ops import lookup
from controller.ops.node import Node
from controller.rules import legacy_links
from controller.rules.model import Container, Endpoint, Network


@dataclass
class LinkTarget:
    alias: str
    child: Container
    endpoint: Endpoint | None  # None: no variables or hosts entry (not on the default bridge)


def resolve(
    node: Node, parsed: list[tuple[str, str]], kind: str, net: Network | None, parent: str
) -> list[LinkTarget]:
    """The targets of a new container's links, with Docker's refusals."""
    targets = []
    for name, alias in parsed:
        child = lookup.container_or_none(node.store, name)
        if child is None:
            raise NotFound(f"could not get container for {name}")
        if not is_running(child):
            raise Conflict(
                f"Cannot link to a non running container: /{child.name} AS /{parent}/{alias}"
            )
        endpoint = None
        if kind == "bridge" and net is not None:
            eps = node.store.endpoints(container_id=child.id, network_id=net.id)
            if not eps:
                raise Conflict(
                    f"Cannot link to /{child.name}, as it does not belong to the default network"
                )
            endpoint = eps[0]
        targets.append(LinkTarget(alias, child, endpoint))
    return targets


def stored(node: Node, ctr: Container) -> list[LinkTarget]:
    """The targets of a stored container's links (children removed since are skipped)."""
    out = []
    for spec in ctr.links:
        name, alias = legacy_links.parse_link(spec)
        child = lookup.container_or_none(node.store, name)
        if child is None:
            continue
        eps = node.store.endpoints(container_id=child.id)
        out.append(LinkTarget(alias, child, eps[0] if eps else None))
    return out


def env(ctr: Container, targets: list[LinkTarget]) -> list[str]:
    """The links' environment variables, in Docker's order."""
    out: list[str] = []
    for target in targets:
        if target.endpoint is None:
            continue
        out += legacy_links.link_env(
            target.alias,
            ctr.name,
            target.child.name,
            target.endpoint.ip,
            target.child.expose,
            target.child.env,
        )
    return out


def hosts_entries(targets: list[LinkTarget]) -> list[tuple[str, str]]:
    """(address, names) lines the links add to /etc/hosts."""
    return [
        (t.endpoint.ip, legacy_links.link_hosts_names(t.alias, t.child.hostname, t.child.name))
        for t in targets
        if t.endpoint is not None
    ]
