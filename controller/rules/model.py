"""The objects Hawser manages, as stored: networks, containers, endpoints.

Published ports are ``rules.portspec.PortBinding`` rows of their own (asked and bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.rules.portspec import Port

BUILTIN_NETWORKS = ("bridge", "host", "none")
DEFAULT_BRIDGE_DEVICE = "hawser0"
OVERLAY = "overlay"
#: The node's gateway network for overlay containers (Docker's docker_gwbridge): a local
#: bridge network, icc off, whose endpoint (eth1) gives an overlay container its default
#: route, its masquerade and its published ports.
GATEWAY_NETWORK = "hawser_gwbridge"
#: Who made a container or network: Hawser's own API, or an engine through a plugin (Docker's
#: remote driver, a CNI runtime). An engine's objects are changed only through that engine.
OWNERS = ("hawser", "docker", "cni")


@dataclass
class Network:
    id: str
    name: str
    key: int  # small integer naming the network in BPF maps
    driver: str  # bridge | host | null
    created: str
    subnet: str = ""  # "" for host/none
    gateway: str = ""
    ip_range: str = ""
    aux: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str = ""  # kernel device, "" for host/none
    bridge_owned: bool = True  # Hawser made the device (False: an existing bridge, adopted)
    gateway_owned: bool = True  # Hawser put the gateway address on it
    icc: bool = True
    masquerade: bool = True
    host_binding_ipv4: str = "0.0.0.0"
    mtu: int = 1500
    snat_ip: str = ""
    ipam_config_shown: bool = True  # user gave --subnet (inspect shows what was given, like Docker)
    gateway_given: bool = False
    # overlay (a global network applied on this node): its VXLAN id and the largest IP
    # packet its tunnel carries whole (the uplink's MTU - 50); 0 for local networks
    vni: int = 0
    tunnel_mtu: int = 0
    owner: str = "hawser"  # "docker": made by dockerd through the plugin (id is Docker's)

    @property
    def engine_owned(self) -> bool:
        return self.owner != "hawser"

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def is_overlay(self) -> bool:
        return self.driver == OVERLAY

    @property
    def has_bridge(self) -> bool:
        """Endpoints sit on a bridge of this node (a bridge network, or an overlay's local
        segment)."""
        return self.driver in ("bridge", OVERLAY)

    @property
    def scope(self) -> str:
        return "global" if self.is_overlay else "local"

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_NETWORKS


@dataclass
class Endpoint:
    id: str
    container_id: str
    network_id: str
    ifname: str  # inside the sandbox: eth0, eth1…
    host_ifname: str  # host side veth
    ip: str
    prefixlen: int
    mac: str
    gateway: str
    aliases: list[str] = field(default_factory=list)
    static_ip: bool = False
    ifindex: int = 0  # of host_ifname, stored when the veth is made


@dataclass
class Container:
    id: str
    name: str
    created: str
    network_mode: str  # bridge | host | none | container:<id> | <network name>
    hostname: str
    netns: str  # netns name ("" for host mode; the joined one for container: mode)
    dns: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    expose: list[Port] = field(default_factory=list)  # --expose and the published ports
    publish_all: bool = False
    ports_endpoint: str = ""  # id of the endpoint serving the published ports ("" none)
    links: list[str] = field(default_factory=list)  # "name:alias"
    auto_remove: bool = False
    status: str = "created"  # created | running | restarting | exited
    pid: int = 0  # the command's own pid (in the sandbox); 0 when it does not run
    shim_pid: int = 0  # the shim that watches it (kernel.shim)
    exit_code: int = 0
    started: str = ""
    finished: str = ""
    error: str = ""  # why the last start failed (State.Error)
    tty: bool = False  # -t: the command gets a pseudo-terminal
    open_stdin: bool = False  # -i: its stdin stays open for attached clients
    labels: dict[str, str] = field(default_factory=dict)
    restart_policy: str = "no"  # no | always | unless-stopped | on-failure
    restart_max: int = 0  # on-failure's maximum retry count (0: no limit)
    restart_count: int = 0
    manually_stopped: bool = False  # by stop: unless-stopped leaves it stopped
    extra_hosts: list[str] = field(default_factory=list)  # --add-host NAME:IP as given
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    mac_address: str = ""  # --mac-address asked (the endpoint has the one in use)
    sysctls: dict[str, str] = field(default_factory=dict)
    # A sandbox whose netns an engine made and owns (Docker, a CNI runtime): Hawser made its
    # veths, addresses, datapath entries and published ports, never its netns or process.
    owner: str = "hawser"
    engine_id: str = ""  # the engine's container id (CNI containerId; Docker's, once known)
    sandbox_key: str = ""  # the engine's netns path, as the engine named it

    def __post_init__(self) -> None:
        self.expose = [Port(*p) for p in self.expose]  # JSON gives lists

    @property
    def engine_owned(self) -> bool:
        return self.owner != "hawser"

    @property
    def joined_container(self) -> str:
        return self.network_mode[len("container:") :] if self.owns_no_netns_mode else ""

    @property
    def owns_no_netns_mode(self) -> bool:
        return self.network_mode.startswith("container:")


@dataclass(frozen=True)
class RemoteEndpoint:
    """An endpoint of a global network on another node, as the cluster store has it."""

    id: str
    network_id: str
    name: str  # its container's name
    container: str  # its container's short id
    ip: str
    mac: str
    node: str  # the node's name
    node_address: str  # the node's underlay address ("" when the node is not known)
    aliases: tuple[str, ...] = ()
