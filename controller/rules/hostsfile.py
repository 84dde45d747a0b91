"""Text of a container's ``/etc/hosts`` and ``/etc/resolv.conf`` in Docker's layout.

``/etc/hosts``: the fixed localhost/IPv6 lines, then extra records (links,
``--add-host``) as ``IP<TAB>names``, then one line per own address
``IP<TAB>hostname`` (``IP<TAB>fqdn short`` when there is a domain), which is
where Docker appends them when the endpoint joins.

The values were validated where they entered (the API); the renderers check again that
each one stays on its line, so that a value that slipped through cannot add a record.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from controller.errors import InvalidArgument, shown

DEFAULT_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)

#: Docker's fallback when the host has no usable (non-loopback) nameserver.
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def _one_field(value: str, file: str) -> str:
    """A value that is one whitespace-free field of one line."""
    if not value or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidArgument(f"refusing to write {shown(value, quote_always=True)} into {file}")
    return value


def _address(value: str, file: str) -> str:
    try:
        ipaddress.ip_address(_one_field(value, file))
    except ValueError:
        raise InvalidArgument(
            f"refusing to write {shown(value, quote_always=True)} into {file}: not an IP address"
        ) from None
    return value


def _names(value: str, file: str) -> str:
    return " ".join(_one_field(name, file) for name in value.split(" "))


def own_names(hostname: str, domainname: str = "") -> str:
    """``hostname`` or ``fqdn short`` (Docker: the FQDN and the bare host name)."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    short, dot, _ = fqdn.partition(".")
    return f"{fqdn} {short}" if dot else fqdn


def render_hosts(
    hostname: str,
    ips: str | Iterable[str],
    extra: Iterable[tuple[str, str]] = (),
    domainname: str = "",
) -> str:
    """The whole ``/etc/hosts``; ``ips`` may be empty (``--network none``)."""
    hosts = "/etc/hosts"
    lines = [f"{ip}\t{names}" for ip, names in DEFAULT_HOSTS]
    lines += [f"{_address(ip, hosts)}\t{_names(names, hosts)}" for ip, names in extra]
    own = [ips] if isinstance(ips, str) else list(ips)
    names = _names(own_names(hostname, domainname), hosts)
    lines += [f"{_address(ip, hosts)}\t{names}" for ip in own if ip]
    return "\n".join(lines) + "\n"


def render_resolv(
    nameservers: Iterable[str], search: Iterable[str] = (), options: Iterable[str] = ()
) -> str:
    """``/etc/resolv.conf`` as Docker builds it: search, nameservers, options."""
    out = []
    resolv = "/etc/resolv.conf"
    search_s = " ".join(_one_field(s, resolv) for s in search if s.strip(" "))
    if search_s.strip(" ") not in ("", "."):
        out.append(f"search {search_s}")
    out += [f"nameserver {_address(ns, resolv)}" for ns in nameservers]
    opts_s = " ".join(_one_field(o, resolv) for o in options if o.strip(" "))
    if opts_s.strip(" "):
        out.append(f"options {opts_s}")
    return "".join(line + "\n" for line in out)


@dataclass(frozen=True)
class ResolvConf:
    nameservers: list[str]
    search: list[str]
    options: list[str]


def parse_resolv(text: str) -> ResolvConf:
    """The nameserver/search/options of a resolv.conf (last ``search`` and ``options`` win)."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver" and args:
            nameservers.append(args[0])
        elif key in ("search", "domain"):
            search = args
        elif key == "options":
            options = args
    return ResolvConf(nameservers, search, options)


def _is_address(ns: str) -> bool:
    try:
        _address(ns, "")
    except InvalidArgument:
        return False
    return True


def _is_loopback(ns: str) -> bool:
    try:
        return ipaddress.ip_address(ns.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def container_resolv(host: ResolvConf, ipv6: bool = False) -> ResolvConf:
    """The host's resolv.conf as a container on the default bridge gets it.

    Loopback nameservers are unreachable from a container and removed (and
    IPv6 ones when IPv6 is off, and lines that are not an address); with none
    left, Google's public DNS is used, as Docker does.
    """
    keep = [
        ns
        for ns in host.nameservers
        if _is_address(ns) and not _is_loopback(ns) and (ipv6 or ":" not in ns)
    ]
    return ResolvConf(keep or list(DEFAULT_NAMESERVERS), list(host.search), list(host.options))
