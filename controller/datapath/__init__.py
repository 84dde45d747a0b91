"""Hawser's eBPF datapath: bcc-compiled tc and cgroup programs plus typed map access.

Public surface (see ``Datapath`` for each method)::

    Datapath.check_prerequisites(config)          # PrerequisiteMissing with a precise message
    dp = Datapath(DatapathConfig(node=...), ipr)  # ipr: pyroute2 IPRoute/NetNS of the node netns
    dp.start(netns_cookie)   # compile (~1.6 s), open/pin maps, attach sock hooks
    dp.attach_uplink / detach_uplink / set_node_addresses
    dp.set_network / delete_network               # network keys are >= 1
    dp.attach_endpoint / detach_endpoint / flush_ct_for
    dp.add_ports / delete_ports (PortMapping), dp.allow / disallow
    dp.attach_tunnel_device / detach_tunnel_device      # the node's VXLAN device (overlays)
    dp.set_tunnel_endpoint(s) / delete_tunnel_endpoint(s) (TunnelEntry), dp.tunnel()
    dp.gc(); dp.stats(), maps(), ports(), endpoints(), networks(), policy(), ct(), nat(),
    port_stats(), endpoint_stats(); dp.open_events(cb) + dp.poll_events(ms)
    reconcile (controller/daemon/reconcile_maps.py): uplinks(), subnets(), flow_addresses(),
    forget_uplink / forget_endpoint / forget_endpoint_stats / delete_subnet (no tc change)
    dp.set_trace_rate(n) / trace_rate()           # 1 of n forwarded packets as trace events
    dp.close()    # release fds: sock hooks, tc filters and pins stay (a restart keeps flows)
    dp.destroy()  # detach the sock hooks and remove the node's pins
    teardown.remove_node(...)                     # `hawserd reset`: every trace, offline

``current_cookie()`` / ``cookie_of("/run/netns/NAME")`` give the netns cookie
``start`` needs.
"""

from .datapath import Datapath
from .netns import cookie_of, current_cookie
from .types import DatapathConfig, PortMapping, TunnelEntry

__all__ = [
    "Datapath",
    "DatapathConfig",
    "PortMapping",
    "TunnelEntry",
    "cookie_of",
    "current_cookie",
]
