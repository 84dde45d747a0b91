"""The API's routes: thin handlers that parse the request and call the operations."""

from __future__ import annotations

from typing import Any

from controller.api import container_view, schemas, system_info
from controller.api.server import Request, Router, stream
from controller.errors import InvalidArgument
from controller.kernel.supervisor import is_running, pid_alive
from controller.ops import attachments, containers, engines, lifecycle, lookup, networks
from controller.ops.node import Node
from controller.rules.modes import RunRequest, parse_signal


def _flag(req: Request, key: str) -> bool:
    return req.query.get(key, "0").lower() in ("1", "true")


def build(node: Node) -> Router:
    router = Router()
    add = router.add

    @add("GET", "/openapi.json", "The OpenAPI document of this API")
    def openapi(req: Request) -> Any:
        return router.openapi()

    @add("GET", "/v1/info", "The node: containers, networks, kernel, datapath, configuration")
    def info(req: Request) -> Any:
        return system_info.info(node)

    @add("POST", "/v1/networks", "Create a network", 201, schemas.NETWORK_BODY)
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

    @add("POST", "/v1/networks/{ref}/connect", "Connect a container", 200, schemas.CONNECT_BODY)
    def network_connect(req: Request) -> Any:
        cfg = req.body.get("EndpointConfig") or {}
        ip = (cfg.get("IPAMConfig") or {}).get("IPv4Address") or None
        aliases = [str(a) for a in cfg.get("Aliases") or []]
        container = str(req.body.get("Container") or "")
        if not container:
            raise InvalidArgument("Container is required")
        attachments.connect(node, req.params["ref"], container, ip, aliases)
        return {}

    @add(
        "POST",
        "/v1/networks/{ref}/disconnect",
        "Disconnect a container",
        200,
        schemas.DISCONNECT_BODY,
    )
    def network_disconnect(req: Request) -> Any:
        container = str(req.body.get("Container") or "")
        if not container:
            raise InvalidArgument("Container is required")
        attachments.disconnect(node, req.params["ref"], container, bool(req.body.get("Force")))
        return {}

    @add("POST", "/v1/containers", "Create and start a container", 201, schemas.CONTAINER_BODY)
    def container_create(req: Request) -> Any:
        ctr, warnings = containers.run(node, RunRequest.from_api(req.body))
        return {"Id": ctr.id, "Warnings": warnings}

    @add("GET", "/v1/containers", "List containers", query={"all": schemas.FLAG})
    def container_list(req: Request) -> Any:
        show_all = _flag(req, "all")
        with node.lock:
            return [
                container_view.summary(node, c)
                for c in reversed(node.store.containers())
                if show_all or is_running(c)
            ]

    @add("GET", "/v1/containers/{ref}", "Inspect a container")
    def container_inspect(req: Request) -> Any:
        with node.lock:
            return container_view.inspect(node, lookup.container(node.store, req.params["ref"]))

    @add("DELETE", "/v1/containers/{ref}", "Remove a container", 204, query={"force": schemas.FLAG})
    def container_remove(req: Request) -> Any:
        containers.remove(node, req.params["ref"], force=_flag(req, "force"))
        return None

    @add(
        "GET",
        "/v1/containers/{ref}/logs",
        "Output of a container's process",
        query={"follow": schemas.FLAG},
    )
    def container_logs(req: Request) -> Any:
        with node.lock:
            ctr = lookup.container(node.store, req.params["ref"])
        if ctr.engine_owned:  # its output is the engine's (docker logs, podman logs)
            raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
        frames = node.supervisor.logs(
            ctr.id, _flag(req, "follow"), lambda: bool(ctr.cmd) and pid_alive(ctr.pid)
        )
        return stream({"stream": s, "data": d} for s, d in frames)

    @add("POST", "/v1/containers/{ref}/wait", "Wait for a container's process to exit")
    def container_wait(req: Request) -> Any:
        return {"StatusCode": lifecycle.wait(node, req.params["ref"])}

    @add(
        "POST",
        "/v1/containers/{ref}/start",
        "Start a created container (attach=1 streams it)",
        query={"attach": schemas.FLAG},
    )
    def container_start(req: Request) -> Any:
        frames = lifecycle.start(node, req.params["ref"], _flag(req, "attach"))
        return {} if frames is None else stream(frames)

    @add(
        "POST",
        "/v1/containers/{ref}/kill",
        "Send a signal to a container's process",
        query={"signal": schemas.SIGNAL},
    )
    def container_kill(req: Request) -> Any:
        signum = parse_signal(req.query.get("signal", "KILL"))
        lifecycle.kill(node, req.params["ref"], signum)
        return {}

    @add(
        "POST", "/v1/containers/{ref}/exec", "Run a command in a container", 200, schemas.EXEC_BODY
    )
    def container_exec(req: Request) -> Any:
        cmd = [str(c) for c in req.body.get("Cmd") or []]
        env = [str(e) for e in req.body.get("Env") or []]
        return stream(lifecycle.exec_stream(node, req.params["ref"], cmd, env))

    for extra in node.extra_routes:
        extra(router, node)
    router.observe = node.observe
    return router
