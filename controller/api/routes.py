"""The API's routes: thin handlers that parse the request and call the operations."""

from __future__ import annotations

import time
from typing import Any

from controller.api import container_view
from controller.api.server import Request, Router, stream
from controller.errors import InvalidArgument, NotFound
from controller.kernel.supervisor import pid_alive
from controller.ops import attachments, containers, lookup, networks
from controller.ops.node import Node
from controller.rules import names


def _flag(req: Request, key: str) -> bool:
    return req.query.get(key, "0").lower() in ("1", "true")


_FLAG = {"type": "string", "enum": ["0", "1", "true", "false"]}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def _obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    """A JSON object with exactly these properties (unknown keys are refused).

    Every property may be ``null``, which means "not given" (as in Docker's API).
    """
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: _nullable(prop) for key, prop in props.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _str(max_length: int = 256, **more: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **more}


def _list(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "maxItems": max_items}


def _map(max_entries: int, max_value: int = 4096) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": _str(max_value),
        "maxProperties": max_entries,
    }


# Limits. Docker sets few; these keep every value usable where it goes: an argv or
# environment entry is at most MAX_ARG_STRLEN (128 KiB, up to 4 bytes a character), a
# hostname what sethostname(2) takes, names what a table shows.
_BOOL = {"type": "boolean"}
_IP = _str(64)
_ARG = _str(32767)
_CONTAINER_NAME = _str(
    names.NAME_MAX, pattern=names.CONTAINER_NAME_PATTERN, **{"x-check": "container_name"}
)
_NETWORK_NAME = _str(
    names.NAME_MAX, pattern=names.NETWORK_NAME_PATTERN, **{"x-check": "network_name"}
)
_ALIAS = _str(names.ALIAS_MAX, pattern=names.NETWORK_NAME_PATTERN, **{"x-check": "alias"})
_SPEC = _str(256)  # -p, --expose, --link
NETWORK_BODY = _obj(
    required=("Name",),
    Name=_NETWORK_NAME,
    Driver=_str(64),
    IPAM=_obj(
        Config=_list(
            _obj(
                Subnet=_IP,
                Gateway=_IP,
                IPRange=_IP,
                AuxAddress=_map(256, 64),
                AuxiliaryAddresses=_map(256, 64),
            ),
            8,
        )
    ),
    Internal=_BOOL,
    Attachable=_BOOL,
    Labels=_map(256),
    Options=_map(64, 256),
)
CONNECT_BODY = _obj(
    required=("Container",),
    Container=_str(names.NAME_MAX + 1, minLength=1),
    EndpointConfig=_obj(IPAMConfig=_obj(IPv4Address=_IP), Aliases=_list(_ALIAS, 64)),
)
DISCONNECT_BODY = _obj(
    required=("Container",), Container=_str(names.NAME_MAX + 1, minLength=1), Force=_BOOL
)
CONTAINER_BODY = _obj(
    Name=_CONTAINER_NAME,
    Network=_str(names.NAME_MAX + len("container:")),
    IP=_IP,
    Hostname=_str(names.HOST_NAME_MAX, **{"x-check": "hostname"}),
    Dns=_list(_IP, 16),
    Env=_list(_ARG, 4096),
    Cmd=_list(_ARG, 4096),
    Publish=_list(_SPEC, 1024),
    PublishAll=_BOOL,
    Expose=_list(_SPEC, 1024),
    Links=_list(_SPEC, 64),
    NetworkAliases=_list(_ALIAS, 64),
    AutoRemove=_BOOL,
    Detach=_BOOL,
)
EXEC_BODY = _obj(Cmd=_list(_ARG, 4096), Env=_list(_ARG, 4096))


def build(node: Node) -> Router:
    router = Router()
    add = router.add

    @add("GET", "/openapi.json", "The OpenAPI document of this API")
    def openapi(req: Request) -> Any:
        return router.openapi()

    @add("GET", "/v1/info", "Daemon information and effective configuration")
    def info(req: Request) -> Any:
        from controller import __version__

        return {
            "Node": node.name,
            "Version": __version__,
            "StateDir": node.config.state_dir,
            "Socket": node.config.socket,
            "MetricsAddress": node.metrics_address,
            "Uplinks": sorted(node.uplinks),
            "Config": dict(node.config.values),
        }

    @add("POST", "/v1/networks", "Create a network", 201, NETWORK_BODY)
    def network_create(req: Request) -> Any:
        net, warning = networks.create(node, networks.NetworkRequest.from_api(req.body))
        return {"Id": net.id, "Warning": warning}

    @add("GET", "/v1/networks", "List networks")
    def network_list(req: Request) -> Any:
        with node.lock:
            return [networks.inspect(node, n) for n in node.store.networks()]

    @add("GET", "/v1/networks/{ref}", "Inspect a network")
    def network_inspect(req: Request) -> Any:
        with node.lock:
            return networks.inspect(node, lookup.network(node.store, req.params["ref"]))

    @add("DELETE", "/v1/networks/{ref}", "Remove a network", 204)
    def network_remove(req: Request) -> Any:
        networks.remove(node, req.params["ref"])
        return None

    @add("POST", "/v1/networks/prune", "Remove unused custom networks")
    def network_prune(req: Request) -> Any:
        return {"NetworksDeleted": networks.prune(node)}

    @add("POST", "/v1/networks/{ref}/connect", "Connect a container", 200, CONNECT_BODY)
    def network_connect(req: Request) -> Any:
        cfg = req.body.get("EndpointConfig") or {}
        ip = (cfg.get("IPAMConfig") or {}).get("IPv4Address") or None
        aliases = [str(a) for a in cfg.get("Aliases") or []]
        container = str(req.body.get("Container") or "")
        if not container:
            raise InvalidArgument("Container is required")
        attachments.connect(node, req.params["ref"], container, ip, aliases)
        return {}

    @add("POST", "/v1/networks/{ref}/disconnect", "Disconnect a container", 200, DISCONNECT_BODY)
    def network_disconnect(req: Request) -> Any:
        container = str(req.body.get("Container") or "")
        if not container:
            raise InvalidArgument("Container is required")
        attachments.disconnect(node, req.params["ref"], container, bool(req.body.get("Force")))
        return {}

    @add("POST", "/v1/containers", "Create and start a container", 201, CONTAINER_BODY)
    def container_create(req: Request) -> Any:
        ctr, warnings = containers.run(node, containers.RunRequest.from_api(req.body))
        return {"Id": ctr.id, "Warnings": warnings}

    @add("GET", "/v1/containers", "List containers", query={"all": _FLAG})
    def container_list(req: Request) -> Any:
        show_all = _flag(req, "all")
        with node.lock:
            return [
                container_view.summary(node, c)
                for c in reversed(node.store.containers())
                if show_all or containers.is_running(c)
            ]

    @add("GET", "/v1/containers/{ref}", "Inspect a container")
    def container_inspect(req: Request) -> Any:
        with node.lock:
            return container_view.inspect(node, lookup.container(node.store, req.params["ref"]))

    @add("DELETE", "/v1/containers/{ref}", "Remove a container", 204, query={"force": _FLAG})
    def container_remove(req: Request) -> Any:
        containers.remove(node, req.params["ref"], force=_flag(req, "force"))
        return None

    @add(
        "GET",
        "/v1/containers/{ref}/logs",
        "Output of a container's process",
        query={"follow": _FLAG},
    )
    def container_logs(req: Request) -> Any:
        with node.lock:
            ctr = lookup.container(node.store, req.params["ref"])
        frames = node.supervisor.logs(
            ctr.id, _flag(req, "follow"), lambda: bool(ctr.cmd) and pid_alive(ctr.pid)
        )
        return stream({"stream": s, "data": d} for s, d in frames)

    @add("POST", "/v1/containers/{ref}/wait", "Wait for a container's process to exit")
    def container_wait(req: Request) -> Any:
        ref = req.params["ref"]
        with node.lock:
            found = lookup.container_or_none(node.store, ref)
        if found is None:
            if ref in node.exits:  # an --rm container that already exited and went away
                return {"StatusCode": node.exits[ref]}
            raise NotFound(f"No such container: {ref}")
        ctr = found
        exits = node.exits
        while True:
            with node.lock:
                current = node.store.container(ctr.id)
            if current is None:
                return {"StatusCode": exits.get(ctr.id, 0)}
            if current.status == "exited":
                return {"StatusCode": current.exit_code}
            if not current.cmd:
                return {"StatusCode": 0}
            time.sleep(0.05)

    @add(
        "POST",
        "/v1/containers/{ref}/start",
        "Start a created container (attach=1 streams it)",
        query={"attach": _FLAG},
    )
    def container_start(req: Request) -> Any:
        frames = containers.start(node, req.params["ref"], _flag(req, "attach"))
        return {} if frames is None else stream(frames)

    @add(
        "POST",
        "/v1/containers/{ref}/kill",
        "Send a signal to a container's process",
        query={"signal": _str(32)},
    )
    def container_kill(req: Request) -> Any:
        signum = containers.parse_signal(req.query.get("signal", "KILL"))
        containers.kill(node, req.params["ref"], signum)
        return {}

    @add("POST", "/v1/containers/{ref}/exec", "Run a command in a container", 200, EXEC_BODY)
    def container_exec(req: Request) -> Any:
        cmd = [str(c) for c in req.body.get("Cmd") or []]
        env = [str(e) for e in req.body.get("Env") or []]
        return stream(containers.exec_stream(node, req.params["ref"], cmd, env))

    for extra in node.extra_routes:
        extra(router, node)
    router.observe = node.observe
    return router
