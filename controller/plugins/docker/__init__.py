"""Docker's remote network driver and remote IPAM driver, served by the daemon (issue 10).

Public surface: :class:`DockerBackend` (the interface phase B implements over controller/ops),
:class:`PluginServer` (HTTP on a unix socket), :func:`dispatch` (the protocol without HTTP),
:func:`write_spec`, :data:`DEFAULT_SOCKET`.

Layers: ``wire`` (JSON ⇄ typed requests, pure) → ``handlers`` (one function per call, error
field per API) → ``server`` (HTTP). None of them touches the store or the kernel; everything
that changes state goes through the backend.

What phase B wires (each protocol call → operations layer):

======================================  ==========================================================
``IpamDriver.RequestPool``               reserve the subnet (or pick one from the default pools)
                                         against every Hawser network; the pool id is stored with
                                         the subnet and the gateway Hawser would pick (returned
                                         in ``Data`` so a network without ``--gateway`` gets it)
``IpamDriver.RequestAddress``            reserve an address in that pool (gateway, aux or
                                         endpoint: only the gateway is marked by Docker)
``IpamDriver.Release*``                  free them; idempotent (Docker replays after restarts)
``NetworkDriver.CreateNetwork``          ops network create (bridge ``hw-<12hex of id>``) with
                                         the pool's subnet, gateway, aux addresses, ``-o``
                                         options parsed by the same rules as ``hawser network
                                         create``; the network id is Docker's
``NetworkDriver.DeleteNetwork``          ops network remove
``NetworkDriver.CreateEndpoint``         ops endpoint create with the IPAM address and the MAC
                                         (Hawser picks one when Docker gives none): a veth pair
                                         whose host side is on the bridge with from-container
                                         attached; the container side stays in the node netns
``NetworkDriver.Join``                   return that container-side name; Docker moves it into
                                         the sandbox and names it ``eth<n>`` — the endpoint's
                                         owner (a sandbox row) is recorded here
``NetworkDriver.Leave``                  forget the sandbox (Docker moves the link back/deletes
                                         the netns)
``NetworkDriver.DeleteEndpoint``         ops endpoint remove (veth, maps, row)
``ProgramExternalConnectivity``          ops ports publish for the endpoint's IP: the bindings
                                         are stored by endpoint id (owner ``docker``) before the
                                         reply, HostPort 0 picked from the ephemeral range;
                                         exposed ports feed icc-off allow rules
``RevokeExternalConnectivity``           ops ports unpublish of what is stored for the endpoint
                                         (the call carries no options)
======================================  ==========================================================

Where state lives: all of it in Hawser's store (pools, addresses, networks, endpoints, their
sandbox, bindings), keyed by Docker's ids, so a Hawser restart loses nothing and Docker, which
replays nothing, keeps working. Docker keeps its own copy of the same ids in its libnetwork
store and deletes stale endpoints through the plugin when it restarts.

Known limitation: ``docker ps`` and ``docker port`` cannot show a remote driver's published
ports — the daemon reads them from ``EndpointOperInfo`` through a Go type it only fills for its
built-in drivers — so ``hawser ps``/``hawser port`` show Docker's containers and their bindings.
"""

from controller.plugins.docker.backend import DockerBackend
from controller.plugins.docker.handlers import dispatch
from controller.plugins.docker.server import DEFAULT_SOCKET, PluginServer, write_spec

__all__ = ["DEFAULT_SOCKET", "DockerBackend", "PluginServer", "dispatch", "write_spec"]
