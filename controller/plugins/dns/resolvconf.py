"""A container's ``/etc/resolv.conf``: the embedded DNS while it is on a user-defined network.

Docker writes ``nameserver 127.0.0.11`` plus ``options ndots:0`` for
containers on user-defined networks, and the node's resolvers otherwise; so
does Hawser. Its responder listens on the gateway of the container's first
user-defined network, and the socket hooks send the sandbox's 127.0.0.11:53
there (no process or rule inside the sandbox). ``--dns`` servers become the
responder's upstreams for that container, as with Docker.
"""

from __future__ import annotations

from controller.kernel import sandbox_files
from controller.ops.node import Node
from controller.plugins.dns.records import resolves_names
from controller.rules import hostsfile
from controller.rules.model import Container


def embedded_nameserver(node: Node, ctr: Container, without_endpoint: str = "") -> str | None:
    """Gateway of the container's first (lowest ``ethN``) user-defined network, if any."""
    eps = [ep for ep in node.store.endpoints(container_id=ctr.id) if ep.id != without_endpoint]
    for ep in sorted(eps, key=lambda e: (len(e.ifname), e.ifname)):
        net = node.store.network(ep.network_id)
        if net is not None and resolves_names(net):
            return net.gateway
    return None


EMBEDDED_DNS = "127.0.0.11"  # Docker's address for its embedded DNS, in every sandbox


def embedded_text(search: list[str] | None = None, dns_options: list[str] | None = None) -> str:
    """The embedded resolver; ``--dns-search`` and ``--dns-option`` replace the node's."""
    base = hostsfile.container_resolv(sandbox_files.node_resolv())
    options = list(dns_options or base.options)
    if not any(o.startswith("ndots:") for o in options):
        options.insert(0, "ndots:0")
    return hostsfile.render_resolv([EMBEDDED_DNS], search or base.search, options)


def text_for(node: Node, ctr: Container, without_endpoint: str = "") -> str:
    if embedded_nameserver(node, ctr, without_endpoint) is None:
        return sandbox_files.resolv_text(ctr.dns, None, ctr.dns_search, ctr.dns_options)
    return embedded_text(ctr.dns_search, ctr.dns_options)


def write(node: Node, ctr: Container, without_endpoint: str = "") -> None:
    """Rewrite the sandbox's resolv.conf (a ``container:`` mode one has none of its own)."""
    if not ctr.netns or ctr.owns_no_netns_mode:
        return
    folder = sandbox_files.folder(ctr.netns)
    if not folder.is_dir():
        return
    sandbox_files.replace(folder / "resolv.conf", text_for(node, ctr, without_endpoint))
