"""A global network as this node applies it: a ``Network`` row with a bridge and a VNI. Pure.

The document in the cluster store is the same for every node; what is per node is the key
(the datapath's number for it), the bridge (``hw-<id12>``, holding the gateway address, so
the embedded DNS and the node answer there as on a bridge network) and the MTUs: the
endpoints' (``com.docker.network.driver.mtu``, else the uplink's MTU - 50) and the tunnel's
(the largest IP packet the uplink carries once encapsulated: uplink MTU - 50, whatever the
endpoints were given, so that nothing is fragmented on the underlay).
"""

from __future__ import annotations

import datetime

from controller.cluster.networks import GlobalNetwork
from controller.kernel.vxlan import overlay_mtu
from controller.rules import names, netopts
from controller.rules.model import OVERLAY, Network
from controller.rules.timestamps import FORMAT


def created_iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(FORMAT)


def local_network(net: GlobalNetwork, uplink_mtu: int) -> Network:
    """The row for ``net`` on a node whose uplink has ``uplink_mtu`` (key assigned later)."""
    tunnel_mtu = overlay_mtu(uplink_mtu)
    mtu = netopts.parse_overlay_options(net.options) or tunnel_mtu
    return Network(
        id=net.id,
        name=net.name,
        key=0,
        driver=OVERLAY,
        created=created_iso(net.created),
        subnet=net.subnet,
        gateway=net.gateway,
        ip_range=net.ip_range or "",
        aux=dict(net.aux_addresses),
        internal=net.internal,
        attachable=net.attachable,
        labels=dict(net.labels),
        options=dict(net.options),
        bridge=names.bridge_name(net.id),
        icc=True,
        masquerade=False,  # an overlay's containers go out through the gateway network
        mtu=mtu,
        vni=net.vni,
        tunnel_mtu=tunnel_mtu,
        ipam_config_shown=True,
        gateway_given=True,
    )


def same(a: Network, b: Network) -> bool:
    """Whether two rows describe the same network on this node (the key aside)."""
    return {**a.__dict__, "key": 0} == {**b.__dict__, "key": 0}
