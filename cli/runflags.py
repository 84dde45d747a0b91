"""The flags ``run`` and ``create`` share, checked as Docker's CLI checks them, and the API
body they become.

Two kinds of mistakes, printed as Docker prints them (exit 125): a flag's own validator
(pflag: ``invalid argument "X" for "--add-host" flag: bad format for add-host: "X"``), and
the checks of the whole command line (``hawser: conflicting options: cannot specify both
--restart and --rm.`` and ``See 'hawser run --help'.``). The daemon checks every value again.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import click

from cli.client import CliError
from cli.completion import complete_networks
from cli.output import go_quote, shown

_ALPHA = re.compile(r"[a-zA-Z]")
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)
_SYSCTL_ALLOWED = frozenset(
    {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    }
)  # fmt: skip
_MAC = re.compile(
    r"([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}|([0-9a-fA-F]{2}[:-]){7}[0-9a-fA-F]{2}"
    r"|([0-9a-fA-F]{2}[:-]){19}[0-9a-fA-F]{2}|([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}"
    r"|([0-9a-fA-F]{4}\.){3}[0-9a-fA-F]{4}|([0-9a-fA-F]{4}\.){9}[0-9a-fA-F]{4}"
)


class BadFlag(CliError):
    """A flag value Docker's CLI refuses before calling the daemon (pflag's text, exit 125)."""

    exit_code = 125

    def __init__(self, value: str, flag: str, reason: str) -> None:
        super().__init__(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {reason}")

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)  # printed as is, like Docker's flag errors


class CommandLineError(CliError):
    """A check of ``run``'s whole command line (Docker's ``parse``): ``hawser: <text>.`` and
    the help hint, exit 125."""

    exit_code = 125

    def __init__(self, message: str, command: str = "run") -> None:
        super().__init__(message)
        self.command = command

    def show(self, file: Any = None) -> None:
        text = self.message.rstrip(".") + "."
        click.echo(f"hawser: {text}\nSee 'hawser {self.command} --help'.", err=True)


# the flags' own validators -------------------------------------------------------------
def env_list(values: Iterable[str]) -> list[str]:
    """Docker's ``-e`` (``ValidateEnv``): ``VAR`` alone takes the CLI's value; unset → dropped."""
    out = []
    for item in values:
        key, sep, _ = item.partition("=")
        if not key:
            raise BadFlag(item, "-e, --env", f"invalid environment variable: {shown(item)}")
        if sep:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def dns_list(values: Iterable[str]) -> list[str]:
    """Docker's ``--dns`` (``ValidateIPAddress``): an IP address, spaces trimmed, normalised."""
    out = []
    for item in values:
        try:
            if "%" in item:  # Go's net.ParseIP takes no zone
                raise ValueError(item)
            out.append(str(ipaddress.ip_address(item.strip())))
        except ValueError:
            raise BadFlag(item, "--dns", f"{shown(item)} is not an ip address") from None
    return out


def extra_hosts(values: Iterable[str]) -> list[str]:
    """Docker's ``ValidateExtraHost``: ``NAME:IP``, ``NAME=IP``, ``[IPv6]``, ``host-gateway``;
    sent as ``NAME:IP``."""
    out = []
    for value in values:
        name, sep, ip = value.partition("=")
        if not sep:
            name, sep, ip = value.partition(":")
        if not sep or not name or ":" in name:
            raise BadFlag(value, "--add-host", f"bad format for add-host: {go_quote(value)}")
        if ip != "host-gateway":
            if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
                ip = ip[1:-1]
            try:
                if "%" in ip:
                    raise ValueError(ip)
                ipaddress.ip_address(ip.strip())
            except ValueError:
                raise BadFlag(
                    value, "--add-host", f"invalid IP address in add-host: {go_quote(ip)}"
                ) from None
        out.append(f"{name}:{ip}")
    return out


def dns_search(values: Iterable[str]) -> list[str]:
    """Docker's ``ValidateDNSSearch``."""
    out = []
    for value in values:
        trimmed = value.strip(" ")
        if trimmed == ".":
            out.append(trimmed)
            continue
        found = _DOMAIN.match(trimmed) if _ALPHA.search(trimmed) else None
        if found is None or len(found.group(1)) >= 255:
            raise BadFlag(value, "--dns-search", f"{shown(value)} is not a valid domain")
        out.append(found.group(1))
    return out


def labels(values: Iterable[str]) -> list[str]:
    """Docker's ``ValidateLabel``: a key without whitespace, ``=value`` optional."""
    for value in values:
        key = value.partition("=")[0].lstrip(" \t")
        if not key:
            raise BadFlag(value, "-l, --label", f"invalid label '{shown(value)}': empty name")
        if any(c in key for c in " \t"):
            raise BadFlag(value, "-l, --label", f"label '{shown(key)}' contains whitespaces")
    return list(values)


def sysctls(values: Iterable[str]) -> dict[str, str]:
    """Docker's ``ValidateSysctl``: ``net.*``, ``fs.mqueue.*`` and a few IPC ones (the daemon
    then refuses what a Hawser container has no namespace for)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        allowed = key in _SYSCTL_ALLOWED or key.startswith(("net.", "fs.mqueue."))
        if not sep or not key or not allowed:
            raise BadFlag(value, "--sysctl", f"sysctl '{shown(value)}' is not allowed")
        out[key] = setting
    return out


# files ---------------------------------------------------------------------------------
def read_kv_file(path: str, flag: str, lookup: Callable[[str], str | None] | None) -> list[str]:
    """Docker's env/label files: ``KEY[=VALUE]`` lines, ``#`` comments, leading blanks cut;
    a bare key takes ``lookup``'s value (or is dropped)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise CommandLineError(
            f"{flag}: open {path}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    out = []
    for number, line_bytes in enumerate(raw.split(b"\n"), 1):
        try:
            line = line_bytes.decode()
        except UnicodeDecodeError:
            raise CommandLineError(
                f"{flag}: invalid env file ({path}): invalid utf8 bytes at line {number}"
            ) from None
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        if not key:
            raise CommandLineError(
                f"{flag}: invalid env file ({path}): no variable name on line '{line}'"
            )
        if any(c in key for c in " \t"):
            raise CommandLineError(
                f"{flag}: invalid env file ({path}): variable '{key}' contains whitespaces"
            )
        if sep:
            out.append(line)
        elif lookup is not None and (found := lookup(line)) is not None:
            out.append(f"{key}={found}")
    return out


def restart_policy(text: str) -> dict[str, Any]:
    """Docker's ``ParseRestartPolicy`` (the name is the daemon's to check)."""
    if not text:
        return {"Name": "no", "MaximumRetryCount": 0}
    name, sep, count = text.partition(":")
    if sep and not name:
        raise CommandLineError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        if not re.fullmatch(r"[+-]?[0-9]+", count):
            raise CommandLineError(
                "invalid restart policy format: maximum retry count must be an integer"
            )
        retries = int(count)
    return {"Name": name, "MaximumRetryCount": retries}


def mac_address(text: str) -> str:
    if text and not _MAC.fullmatch(text.strip()):
        raise CommandLineError(f"{text} is not a valid mac address")
    return text.strip()


# the options ---------------------------------------------------------------------------
SHARED = [
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
    click.option("--name", help="Assign a name to the container"),
    click.option(
        "--network", "network", help="Connect a container to a network",
        shell_complete=complete_networks,
    ),
    click.option("--net", "net", hidden=True, shell_complete=complete_networks),
    click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)"),
    click.option("-h", "--hostname", help="Container host name"),
    click.option("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    click.option("--dns", multiple=True, help="Set custom DNS servers"),
    click.option("--dns-search", multiple=True, help="Set custom DNS search domains"),
    click.option("--dns-option", "--dns-opt", "dns_option", multiple=True, help="Set DNS options"),
    click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
    click.option("-e", "--env", multiple=True, help="Set environment variables"),
    click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
    click.option("-l", "--label", multiple=True, help="Set meta data on a container"),
    click.option("--label-file", multiple=True, help="Read in a line delimited file of labels"),
    click.option(
        "--restart", "restart", default="no",
        help="Restart policy to apply when a container exits",
    ),
    click.option("--sysctl", multiple=True, help="Sysctl options"),
    click.option(
        "--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits"
    ),
    click.option(
        "-p", "--publish", multiple=True, help="Publish a container's port(s) to the host"
    ),
    click.option(
        "-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports"
    ),
    click.option("--expose", multiple=True, help="Expose a port or a range of ports"),
    click.option("--link", multiple=True, help="Add link to another container"),
    click.option(
        "--network-alias", multiple=True, help="Add network-scoped alias for the container"
    ),
]  # fmt: skip


def shared_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SHARED):
        fn = option(fn)
    return fn


def _env_lookup(key: str) -> str | None:
    return os.environ.get(key)


def build_body(opts: dict[str, Any], argv: list[str], command: str = "run") -> dict[str, Any]:
    """The API body of ``run``/``create``, after Docker's CLI checks (flags, then the whole
    command line)."""
    env = env_list(opts["env"])
    dns = dns_list(opts["dns"])
    hosts = extra_hosts(opts["add_host"])
    search = dns_search(opts["dns_search"])
    label_items = labels(opts["label"])
    sysctl_map = sysctls(opts["sysctl"])
    try:
        mac = mac_address(opts.get("mac_address") or "")
        env_from_files = [
            item
            for path in opts["env_file"]
            for item in read_kv_file(path, "--env-file", _env_lookup)
        ]
        label_lines = [
            item for path in opts["label_file"] for item in read_kv_file(path, "--label-file", None)
        ]
        policy = restart_policy(opts.get("restart") or "")
        if opts["auto_remove"] and policy["Name"] not in ("no", ""):
            raise CommandLineError("conflicting options: cannot specify both --restart and --rm")
    except CommandLineError as exc:
        exc.command = command
        raise
    label_map: dict[str, str] = {}
    for item in label_lines + label_items:
        key, _, value = item.partition("=")
        label_map[key] = value
    network = opts.get("network") or opts.get("net") or "bridge"
    return {
        "Name": opts.get("name"),
        "Network": network,
        "IP": opts.get("ip"),
        "Hostname": opts.get("hostname"),
        "Dns": dns,
        "Env": env_from_files + env,
        "Cmd": argv,
        "Publish": list(opts["publish"]),
        "PublishAll": opts["publish_all"],
        "Expose": list(opts["expose"]),
        "Links": list(opts["link"]),
        "NetworkAliases": list(opts["network_alias"]),
        "AutoRemove": opts["auto_remove"],
        "Tty": opts["tty"],
        "OpenStdin": opts["interactive"],
        "Labels": label_map,
        "RestartPolicy": policy,
        "ExtraHosts": hosts,
        "DnsSearch": search,
        "DnsOptions": list(opts["dns_option"]),
        "MacAddress": mac or None,
        "Sysctls": sysctl_map,
    }
