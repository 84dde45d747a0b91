"""Names and ids: validation of user-given names, ids, and Hawser's kernel object names.

Kernel names carry a Hawser prefix so that orphans can be recognised:
``hawser0`` (default bridge), ``hw-<id12>`` (bridges), ``hwv<id11>`` (host
side of an endpoint's veth), ``hwp<id11>`` (the peer before it is moved and
renamed), ``hawser_vx`` (the node's VXLAN device, overlays), ``hawser_gwbridge``
(the bridge of the overlays' gateway network), and netns ``hw-<node>-<id12>``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from controller.errors import InvalidArgument, shown

IFNAMSIZ = 16  # kernel limit including the NUL: names are at most 15 bytes
HOST_NAME_MAX = 64  # sethostname(2) takes at most 64 bytes
NAME_MAX = 128  # container and network names (Docker sets none; tables and logs need one)
ALIAS_MAX = 253  # a DNS name
DEFAULT_BRIDGE = "hawser0"
VXLAN_DEVICE = "hawser_vx"
GATEWAY_BRIDGE = "hawser_gwbridge"  # 15 characters: the most a link name may have
BRIDGE_PREFIX = "hw-"
VETH_PREFIX = "hwv"

_RESTRICTED_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_CONTAINER_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_NETWORK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_ALIAS = _NETWORK_NAME
#: The same rules as JSON Schema patterns, for the API's request schemas.
CONTAINER_NAME_PATTERN = "^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$"
NETWORK_NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
_NODE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_LABEL = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_HEX = re.compile(r"[0-9a-f]+")


def validate_container_name(name: str) -> str:
    """Docker's rule (at least two characters); returns the name without a leading ``/``."""
    if not _CONTAINER_NAME.fullmatch(name):
        raise InvalidArgument(
            f"Invalid container name ({shown(name)}), only {_RESTRICTED_CHARS} are allowed"
        )
    if len(name) > NAME_MAX:
        raise InvalidArgument(
            f"Invalid container name ({shown(name)}): at most {NAME_MAX} characters"
        )
    return name.removeprefix("/")


def validate_network_name(name: str) -> str:
    """Hawser's rule for network names (stricter than Docker 20.10, which takes almost anything).

    Names are shown in tables and used as DNS-ish identifiers, so they follow
    Docker's restricted name pattern, one character allowed, at most 128.
    """
    if name == "":
        raise InvalidArgument("invalid name: network name must not be empty")
    if len(name) > NAME_MAX or not _NETWORK_NAME.fullmatch(name):
        raise InvalidArgument(
            f"network name {shown(name, quote_always=True)} includes invalid characters, only "
            f'"{_RESTRICTED_CHARS}" are allowed'
        )
    return name


def validate_hostname(name: str) -> str:
    """RFC 1123: one label or a dotted name of labels (each 1-63 chars, no edge ``-``).

    At most 64 characters, what sethostname(2) takes: a longer name could be written to
    /etc/hostname but never become the sandbox's UTS name.
    """
    labels = name.split(".")
    if not name or len(name) > HOST_NAME_MAX or not all(_LABEL.fullmatch(lbl) for lbl in labels):
        raise InvalidArgument(f"invalid hostname format: {shown(name)}")
    return name


def is_ref(ref: str) -> bool:
    """Whether ``ref`` can name a container (a name or an id prefix, ``/`` allowed first)."""
    return bool(_NETWORK_NAME.fullmatch(ref.removeprefix("/"))) and len(ref) <= NAME_MAX + 1


def validate_alias(alias: str) -> str:
    """A network-scoped alias or a link alias: a DNS-ish name that goes into records and files."""
    if not _ALIAS.fullmatch(alias) or len(alias) > ALIAS_MAX:
        raise InvalidArgument(
            f"invalid alias {shown(alias, quote_always=True)}: only {_RESTRICTED_CHARS} "
            f"are allowed, at most {ALIAS_MAX} characters"
        )
    return alias


def validate_interface_name(name: str) -> str:
    """The kernel's ``dev_valid_name``: 1-15 bytes, not ``.``/``..``, no ``/``, ``:``, space."""
    ok = (
        0 < len(name.encode()) < IFNAMSIZ
        and name not in (".", "..")
        and not any(c in name for c in "/:")
        and not any(c.isspace() for c in name)
    )
    if not ok:
        raise InvalidArgument(f"invalid interface name: {name!r}")
    return name


def validate_node_name(node: str) -> str:
    """Node names appear in netns names: lowercase letters, digits, ``-``, ≤ 32 chars."""
    if not _NODE_NAME.fullmatch(node):
        raise InvalidArgument(f"invalid node name: {node!r}")
    return node


def new_id() -> str:
    """64 hex characters whose 12-character short form is never all digits (as Docker's)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def short_id(value: str) -> str:
    return value.removeprefix("sha256:")[:12]


def _hex_id(value: str, n: int) -> str:
    part = value[:n]
    if len(part) != n or not _HEX.fullmatch(part):
        raise InvalidArgument(f"invalid id: {value}")
    return part


def bridge_name(network_id: str) -> str:
    """``hw-<id12>``: exactly 15 characters."""
    return BRIDGE_PREFIX + _hex_id(network_id, 12)


def veth_name(endpoint_id: str) -> str:
    """Host side of an endpoint's veth: ``hwv<id11>``."""
    return VETH_PREFIX + _hex_id(endpoint_id, 11)


def netns_name(node: str, container_id: str) -> str:
    return f"hw-{validate_node_name(node)}-{_hex_id(container_id, 12)}"


@dataclass(frozen=True)
class LinkName:
    """A parsed Hawser kernel link name."""

    kind: str  # "default-bridge" | "bridge" | "veth" | "peer" | "vxlan" | "gateway-bridge"
    id_prefix: str  # "" for the default bridge


_LINK_PATTERNS = (
    ("bridge", re.compile(r"hw-([0-9a-f]{12})")),
    ("veth", re.compile(r"hwv([0-9a-f]{11})")),
    ("peer", re.compile(r"hwp([0-9a-f]{11})")),
)


def parse_link_name(name: str) -> LinkName | None:
    """What a kernel link name says about its owner; None when it is not Hawser's."""
    if name == DEFAULT_BRIDGE:
        return LinkName("default-bridge", "")
    if name == VXLAN_DEVICE:
        return LinkName("vxlan", "")
    if name == GATEWAY_BRIDGE:
        return LinkName("gateway-bridge", "")
    for kind, pattern in _LINK_PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            return LinkName(kind, m.group(1))
    return None


def is_hawser_link(name: str) -> bool:
    return parse_link_name(name) is not None


_NETNS = re.compile(r"hw-([a-z0-9][a-z0-9-]{0,31})-([0-9a-f]{12})")


def parse_netns_name(name: str) -> tuple[str, str] | None:
    """``hw-<node>-<id12>`` → ``(node, id12)``; None when it is not Hawser's."""
    m = _NETNS.fullmatch(name)
    return (m.group(1), m.group(2)) if m else None


def is_hawser_netns(name: str, node: str | None = None) -> bool:
    parsed = parse_netns_name(name)
    return parsed is not None and (node is None or parsed[0] == node)
