"""A sandbox's /etc files, where `ip netns exec NAME` (iproute2's convention) bind-mounts them."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from controller.kernel.errors import refusal
from controller.rules import hostsfile

ETC_NETNS = Path("/etc/netns")


def folder(netns: str) -> Path:
    return ETC_NETNS / netns


@refusal("write the /etc files of sandbox {netns}")
def write(netns: str, hosts: str, resolv: str, hostname: str) -> None:
    """The files of a sandbox being created: nothing reads them yet, so plain writes do."""
    target = folder(netns)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in (("hosts", hosts), ("resolv.conf", resolv), ("hostname", hostname + "\n")):
        (target / name).write_text(text)


@refusal("rewrite {path}")
def replace(path: Path, text: str) -> None:
    """Rewrite a live sandbox file atomically (a reader sees the old or the new one)."""
    try:
        if path.read_text() == text:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def remove(netns: str) -> None:
    shutil.rmtree(folder(netns), ignore_errors=True)


def node_resolv() -> hostsfile.ResolvConf:
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        text = ""
    return hostsfile.parse_resolv(text)


def resolv_text(
    dns: list[str],
    embedded: str | None = None,
    search: Sequence[str] = (),
    options: Sequence[str] = (),
) -> str:
    """--dns wins; otherwise the embedded resolver (user networks) or the node's resolvers.
    ``--dns-search`` and ``--dns-option`` replace the node's ``search`` and ``options``."""
    base = hostsfile.container_resolv(node_resolv())
    if dns:
        servers = dns
    elif embedded:
        servers = [embedded]
    else:
        servers = base.nameservers
    return hostsfile.render_resolv(
        servers, list(search) or base.search, list(options) or base.options
    )
