"""Docker's plugin calls, one function each, dispatched by URL path to a :class:`DockerBackend`.

:func:`dispatch` is the whole protocol without HTTP: given the path and the decoded body it
returns ``(status, response)``. Unknown paths are 404 (libnetwork reads that as "not
implemented"); a failure is a 200 whose body carries the message in ``Err`` for
``NetworkDriver.*`` and ``Error`` for ``IpamDriver.*`` — Docker then prints
``Error response from daemon: remote: <message>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from controller.errors import HawserError
from controller.plugins.docker import wire
from controller.plugins.docker.backend import (
    GLOBAL_ADDRESS_SPACE,
    LOCAL_ADDRESS_SPACE,
    DockerBackend,
)

log = logging.getLogger(__name__)

Body = Mapping[str, Any]
Handler = Callable[[DockerBackend, Body], dict[str, Any]]

IMPLEMENTS = ["NetworkDriver", "IpamDriver"]


def _activate(_: DockerBackend, __: Body) -> dict[str, Any]:
    return {"Implements": IMPLEMENTS}


# --- NetworkDriver ---------------------------------------------------------------------------


def _capabilities(_: DockerBackend, __: Body) -> dict[str, Any]:
    return {"Scope": "local", "ConnectivityScope": "local"}


def _create_network(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.create_network(wire.network_spec(body))
    return {}


def _delete_network(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.delete_network(wire.text_field(body, "NetworkID", required=True))
    return {}


def _create_endpoint(backend: DockerBackend, body: Body) -> dict[str, Any]:
    spec = wire.endpoint_spec(body)
    return wire.endpoint_response(spec, backend.create_endpoint(spec))


def _endpoint_info(backend: DockerBackend, body: Body) -> dict[str, Any]:
    return {"Value": backend.endpoint_info(*wire.ids(body))}


def _delete_endpoint(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.delete_endpoint(*wire.ids(body))
    return {}


def _join(backend: DockerBackend, body: Body) -> dict[str, Any]:
    network_id, endpoint_id = wire.ids(body)
    result = backend.join(network_id, endpoint_id, wire.text_field(body, "SandboxKey"))
    return wire.join_response(result)


def _leave(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.leave(*wire.ids(body))
    return {}


def _program(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.program_external_connectivity(wire.connectivity(body))
    return {}


def _revoke(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.revoke_external_connectivity(*wire.ids(body))
    return {}


def _discover(_: DockerBackend, __: Body) -> dict[str, Any]:
    return {}  # node discovery is for multi-host drivers; a local-scope driver ignores it


# --- IpamDriver ------------------------------------------------------------------------------


def _ipam_capabilities(_: DockerBackend, __: Body) -> dict[str, Any]:
    return {"RequiresMACAddress": False, "RequiresRequestReplay": False}


def _address_spaces(_: DockerBackend, __: Body) -> dict[str, Any]:
    return {
        "LocalDefaultAddressSpace": LOCAL_ADDRESS_SPACE,
        "GlobalDefaultAddressSpace": GLOBAL_ADDRESS_SPACE,
    }


def _request_pool(backend: DockerBackend, body: Body) -> dict[str, Any]:
    return wire.pool_response(backend.request_pool(wire.pool_request(body)))


def _release_pool(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.release_pool(wire.text_field(body, "PoolID", required=True))
    return {}


def _request_address(backend: DockerBackend, body: Body) -> dict[str, Any]:
    return wire.address_response(backend.request_address(wire.address_request(body)))


def _release_address(backend: DockerBackend, body: Body) -> dict[str, Any]:
    backend.release_address(*wire.release_address(body))
    return {}


HANDLERS: dict[str, Handler] = {
    "/Plugin.Activate": _activate,
    "/NetworkDriver.GetCapabilities": _capabilities,
    "/NetworkDriver.CreateNetwork": _create_network,
    "/NetworkDriver.DeleteNetwork": _delete_network,
    "/NetworkDriver.CreateEndpoint": _create_endpoint,
    "/NetworkDriver.EndpointOperInfo": _endpoint_info,
    "/NetworkDriver.DeleteEndpoint": _delete_endpoint,
    "/NetworkDriver.Join": _join,
    "/NetworkDriver.Leave": _leave,
    "/NetworkDriver.ProgramExternalConnectivity": _program,
    "/NetworkDriver.RevokeExternalConnectivity": _revoke,
    "/NetworkDriver.DiscoverNew": _discover,
    "/NetworkDriver.DiscoverDelete": _discover,
    "/IpamDriver.GetCapabilities": _ipam_capabilities,
    "/IpamDriver.GetDefaultAddressSpaces": _address_spaces,
    "/IpamDriver.RequestPool": _request_pool,
    "/IpamDriver.ReleasePool": _release_pool,
    "/IpamDriver.RequestAddress": _request_address,
    "/IpamDriver.ReleaseAddress": _release_address,
}


def error_field(path: str) -> str:
    return "Error" if path.startswith("/IpamDriver.") else "Err"


def dispatch(backend: DockerBackend, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """Run one call. ``body`` is the decoded JSON (None for an empty request body)."""
    handler = HANDLERS.get(path)
    if handler is None:
        return 404, {error_field(path): f"unknown plugin method: {path.lstrip('/')}"}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return 400, {error_field(path): "request body must be a JSON object"}
    try:
        return 200, handler(backend, body)
    except HawserError as exc:
        log.info("docker plugin %s refused: %s", path, exc.message)
        return 200, {error_field(path): exc.message}
    except Exception as exc:  # one line for Docker, the traceback in the log
        log.exception("docker plugin %s failed", path)
        return 200, {error_field(path): f"internal error: {exc}"}
