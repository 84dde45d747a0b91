"""``run``'s options that reach a sandbox file or the kernel, checked where they enter (the API):
``--add-host``, ``--dns-search``, ``--dns-option``, ``--mac-address``, ``--sysctl``,
``--label`` (Docker's texts where Docker has one).

A value that would add a line to /etc/hosts or /etc/resolv.conf, or a path to /proc/sys,
is refused here, before anything is built; the file renderers (``hostsfile``) check again.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.errors import InvalidArgument, shown

HOST_GATEWAY = "host-gateway"  # --add-host NAME:host-gateway: the default bridge's gateway
_ALPHA = re.compile(r"[a-zA-Z]")
# Docker's domain pattern, as written (its ``(:?`` groups also let a ``:`` through)
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")
_SYSCTL_PART = re.compile(r"[A-Za-z0-9_@:+-]+")
#: Sysctls Docker lets through that belong to namespaces a Hawser container does not have.
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ExtraHost:
    name: str
    ip: str  # an address, or ``host-gateway``


def _one_token(value: str) -> bool:
    return bool(value) and value.isprintable() and not any(c.isspace() for c in value)


def parse_extra_host(value: str) -> ExtraHost:
    """Docker's ``ValidateExtraHost``: ``NAME:IP`` or ``NAME=IP`` (an IPv6 address may be in
    brackets), or ``NAME:host-gateway``; the name must fit on an /etc/hosts line."""
    if "=" in value:
        name, _, ip = value.partition("=")
    else:
        name, sep, ip = value.partition(":")
        if not sep:
            name = ""
    if not name or ":" in name or not _one_token(name):
        raise InvalidArgument(f"bad format for add-host: {shown(value, quote_always=True)}")
    if ip != HOST_GATEWAY:
        if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
            ip = ip[1:-1]
        try:
            if "%" in ip or ip != ip.strip():
                raise ValueError(ip)
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(
                f"invalid IP address in add-host: {shown(ip, quote_always=True)}"
            ) from None
    return ExtraHost(name, ip)


def parse_extra_hosts(values: Iterable[str]) -> list[str]:
    """The ``ExtraHosts`` as stored (``NAME:IP``, Docker's API form)."""
    out = []
    for value in values:
        host = parse_extra_host(value)
        out.append(f"{host.name}:{host.ip}")
    return out


def validate_dns_search(value: str) -> str:
    """Docker's ``ValidateDNSSearch``: a domain (``.`` for none), trailing dot and spaces
    dropped."""
    trimmed = value.strip(" ")
    if trimmed == ".":
        return trimmed
    found = _DOMAIN.match(trimmed) if _ALPHA.search(trimmed) else None
    if found is None or len(found.group(1)) >= 255 or not found.group(1).isprintable():
        raise InvalidArgument(f"{shown(value)} is not a valid domain")
    return found.group(1)


def validate_dns_option(value: str) -> str:
    """A resolv.conf ``options`` word (``ndots:2``, ``rotate``): one printable token."""
    if not _one_token(value):
        raise InvalidArgument(
            f"invalid DNS option {shown(value, quote_always=True)}: "
            "an option is one word without spaces"
        )
    return value


def validate_mac(value: str) -> str:
    """An Ethernet (EUI-48) unicast address, lower-cased with colons."""
    text = value.strip()
    if not _MAC.fullmatch(text):
        raise InvalidArgument(f"{shown(value)} is not a valid mac address")
    mac = text.replace("-", ":").lower()
    if int(mac[:2], 16) & 1:
        raise InvalidArgument(f"{shown(value)} is not a valid mac address: a multicast address")
    return mac


def validate_sysctls(sysctls: Mapping[str, str], network_mode: str) -> dict[str, str]:
    """Only namespaced ``net.*`` sysctls of a sandbox of its own (runc's and Docker's texts)."""
    out: dict[str, str] = {}
    for key, value in sysctls.items():
        parts = key.split(".")
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            raise InvalidArgument(f'sysctl "{key}" not allowed in host IPC namespace')
        if parts[0] != "net" or len(parts) < 2:
            raise InvalidArgument(f"sysctl '{shown(key + '=' + value)}' is not allowed")
        if not all(_SYSCTL_PART.fullmatch(p) for p in parts[1:]):
            raise InvalidArgument(f"invalid sysctl name {shown(key, quote_always=True)}")
        if network_mode == "host":
            raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
        if not value.isprintable() or "\n" in value:
            raise InvalidArgument(
                f"invalid value {shown(value, quote_always=True)} for sysctl {key}: one line"
            )
        out[key] = value
    return out


def validate_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Docker's ``ValidateLabel`` on each key: not empty, no whitespace."""
    for key in labels:
        if not key.strip(" \t"):
            raise InvalidArgument(f"invalid label '{key}': empty name")
        if any(c in key for c in " \t"):
            raise InvalidArgument(f"label '{key}' contains whitespaces")
    return dict(labels)
