"""Docker's legacy ``--link``: parsing, the environment it injects, the hosts entry.

The environment follows moby ``daemon/links`` as fixed after 20.10: exposed
ports sorted TCP first, then by number (20.10 sorted by number only); runs of
consecutive ports of one protocol also get ``_START``/``_END`` variables. The
child's variables are exported as ``<A>_ENV_<VAR>`` except HOME, PATH and
HOSTNAME (Docker skips HOME and PATH; Hawser's child env may carry the
runtime HOSTNAME, which must not leak).
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.errors import InvalidArgument, shown
from controller.rules import names

_SKIPPED_ENV = {"HOME", "PATH", "HOSTNAME"}


def parse_link(spec: str) -> tuple[str, str]:
    """``name[:alias]`` → ``(name, alias)``; also the stored form ``/name:/parent/alias``."""
    if spec == "":
        raise InvalidArgument("empty string specified for links")
    parts = spec.split(":")
    if len(parts) > 2 or any(p == "" for p in parts):
        raise InvalidArgument(f"bad format for links: {shown(spec)}")
    if len(parts) == 1:
        return spec, spec
    name, alias = parts
    if name.startswith("/"):
        name, alias = name[1:], alias.rsplit("/", 1)[-1]
        if not name or not alias:
            raise InvalidArgument(f"bad format for links: {shown(spec)}")
    return name, alias


def validate_link(spec: str) -> tuple[str, str]:
    """``parse_link`` for a new link: the alias goes into the parent's /etc/hosts and env names.

    Docker takes any alias; here it must be a plain name, so that no value can add a line
    to a hosts file (``--link 'web:x\\n6.6.6.6 evil.example'``).
    """
    name, alias = parse_link(spec)
    if not names.is_ref(name):
        raise InvalidArgument(f"bad format for links: {shown(spec)}: invalid container name")
    names.validate_alias(alias)
    return name, alias


def env_alias(alias: str) -> str:
    return alias.upper().replace("-", "_")


def _sort_key(port: tuple[int, str]) -> tuple[int, str, int]:
    number, proto = port
    return (0 if proto == "tcp" else 1, proto, number)


def link_env(
    alias: str,
    parent_name: str,
    child_name: str,
    child_ip: str,
    exposed: Iterable[tuple[int, str]],
    child_env: Iterable[str] = (),
) -> list[str]:
    """Variables for a container linked to ``child_name`` as ``alias``, in Docker's order.

    ``child_name`` is accepted for the caller's convenience; Docker's variables
    name the link as ``/<parent>/<alias>`` only.
    """
    del child_name  # not part of Docker's variables
    a = env_alias(alias)
    ports = sorted(set(exposed), key=_sort_key)
    env: list[str] = []
    start = end = ports[0] if ports else (0, "")
    for i, (number, proto) in enumerate(ports):
        if i == 0:
            env.append(f"{a}_PORT={proto}://{child_ip}:{number}")
        prefix = f"{a}_PORT_{number}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{child_ip}:{number}",
            f"{prefix}_ADDR={child_ip}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        if i > 0 and number == end[0] + 1 and proto == end[1]:
            end = (number, proto)
            if i < len(ports) - 1:
                continue
        if end != start:
            p = f"{a}_PORT_{start[0]}_{start[1].upper()}"
            env += [
                f"{p}_START={start[1]}://{child_ip}:{start[0]}",
                f"{p}_PORT_START={start[0]}",
                f"{p}_END={end[1]}://{child_ip}:{end[0]}",
                f"{p}_PORT_END={end[0]}",
            ]
        start = end = (number, proto)
    env.append(f"{a}_NAME=/{parent_name}/{alias}")
    for item in child_env:
        key, sep, value = item.partition("=")
        if not sep or key in _SKIPPED_ENV:
            continue
        env.append(f"{a}_ENV_{key}={value}")
    return env


def link_hosts_names(alias: str, child_hostname: str, child_name: str) -> str:
    """Names of the parent's hosts entry for a link: ``alias hostname [name]``.

    The container name is added only when it differs from the alias (Docker).
    """
    names = f"{alias} {child_hostname}"
    if alias != child_name:
        names += f" {child_name}"
    return names
