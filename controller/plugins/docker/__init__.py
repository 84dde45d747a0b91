"""Docker's remote network driver and remote IPAM driver, served by the daemon (issue 10).

Public surface: :class:`DockerBackend` (the interface a backend implements), :class:`OpsBackend`
(the backend over controller/ops), :class:`PluginServer` (HTTP on a unix socket), :func:`dispatch`
(the protocol without HTTP), :func:`write_spec`, :data:`DEFAULT_SOCKET`; ``service.install`` is
what the daemon calls.

Layers: ``wire`` (JSON ⇄ typed requests, pure) → ``handlers`` (one function per call, error
field per API) → ``server`` (HTTP) → ``ops_backend`` (the calls as operations) and ``names``
(Docker's names, asked of dockerd). ``service`` starts the server once the node has synced.

Each protocol call → operations layer (``ops_backend``):

======================================  ==========================================================
``IpamDriver.RequestPool``               reserve the subnet (or the next free one of the default
                                         pools) against Hawser's networks, the node's routes and
                                         the other pools; the gateway Hawser picks is reserved
                                         and returned in ``Data`` (Docker does not ask for it)
``IpamDriver.RequestAddress``            an address of the pool (gateway with ``--gateway``, aux,
                                         endpoint); ``Address already in use: <ip>`` when taken
``IpamDriver.Release*``                  free them; idempotent (Docker replays after restarts)
``NetworkDriver.CreateNetwork``          ``networks.create`` with Docker's id, owner ``docker``,
                                         the pool's subnet, gateway, aux addresses and the ``-o``
                                         options of ``hawser network create``
``NetworkDriver.DeleteNetwork``          ``networks.remove`` (endpoints a dockerd crash left go
                                         first)
``NetworkDriver.CreateEndpoint``         check the address, pick the MAC (Docker's scheme) and
                                         keep both until Join (the sandbox is not known yet)
``NetworkDriver.Join``                   the sandbox's row (by ``SandboxKey``), the veth made in
                                         the node (container end ``hwp<id11>``, which Docker
                                         moves in), bridge port, datapath entry, endpoint row
``NetworkDriver.Leave``                  nothing (Docker moves the interface back)
``NetworkDriver.DeleteEndpoint``         ``engines.detach``: ports, veth, entries, row; the
                                         sandbox's row goes with its last endpoint
``ProgramExternalConnectivity``          ``engines.publish``: allocated, stored by the container
                                         that owns the endpoint, mapped (HostPort 0: Hawser picks)
``RevokeExternalConnectivity``           ``engines.withdraw`` of what is stored (no options come)
======================================  ==========================================================

Where state lives: all of it in Hawser's store (pools and pending endpoints in
``plugin_state``, networks, sandboxes, endpoints, bindings), keyed by Docker's ids, so a
Hawser restart loses nothing and Docker, which replays nothing, keeps working. Docker keeps
its own copy of the same ids and deletes stale endpoints through the plugin when it restarts.

Known limitation: ``docker ps`` and ``docker port`` cannot show a remote driver's published
ports — the daemon reads them from ``EndpointOperInfo`` through a Go type it only fills for its
built-in drivers — so ``hawser ps``/``hawser port`` show Docker's containers and their bindings.
"""

from controller.plugins.docker.backend import DockerBackend
from controller.plugins.docker.handlers import dispatch
from controller.plugins.docker.ops_backend import OpsBackend
from controller.plugins.docker.server import DEFAULT_SOCKET, PluginServer, write_spec

__all__ = [
    "DEFAULT_SOCKET",
    "DockerBackend",
    "OpsBackend",
    "PluginServer",
    "dispatch",
    "write_spec",
]
