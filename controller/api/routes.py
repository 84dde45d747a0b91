"""The API's routes: thin handlers that parse the request and call the operations."""

from __future__ import annotations

from typing import Any, BinaryIO

from controller.api import container_view, hijack, schemas, system_info
from controller.api.hijack import Hijack
from controller.api.server import Request, Router, stream
from controller.errors import InvalidArgument
from controller.kernel import logfile
from controller.ops import attachments, containers, engines, execs, lifecycle, lookup, networks
from controller.ops.node import Node
from controller.rules import timestamps
from controller.rules.modes import RunRequest, parse_signal


def _flag(req: Request, key: str) -> bool:
    return req.query.get(key, "0").lower() in ("1", "true")


def _int(req: Request, key: str) -> int | None:
    value = req.query.get(key)
    return None if value in (None, "") else int(value)


def _size(req: Request) -> tuple[int, int] | None:
    rows, cols = _int(req, "h"), _int(req, "w")
    return (rows, cols) if rows and cols else None


def _console_size(body: dict[str, Any]) -> tuple[int, int] | None:
    size = body.get("ConsoleSize")
    return (int(size[0]), int(size[1])) if size and size[0] and size[1] else None


SIZE_QUERY = {"h": schemas.DIMENSION, "w": schemas.DIMENSION}


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
                if show_all or lifecycle.running(c)
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
        "Output of a container's process (records with their time)",
        query={
            "follow": schemas.FLAG, "tail": schemas.LOG_TAIL,
            "since": schemas.TIMESTAMP, "until": schemas.TIMESTAMP,
        },
    )  # fmt: skip
    def container_logs(req: Request) -> Any:
        with node.lock:
            ctr = lookup.container(node.store, req.params["ref"])
        if ctr.engine_owned:  # its output is the engine's (docker logs, podman logs)
            raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
        tail = req.query.get("tail", "all")
        query = logfile.LogQuery(
            follow=_flag(req, "follow"),
            tail=-1 if tail == "all" or int(tail) < 0 else int(tail),
            since=timestamps.from_unix(req.query.get("since", "")),
            until=timestamps.from_unix(req.query.get("until", "")),
        )
        frames = node.supervisor.logs(ctr.id, query, lambda: node.supervisor.active(ctr.id))
        return stream(iter(frames))

    @add(
        "POST",
        "/v1/containers/{ref}/wait",
        "Wait for a container's process to exit",
        query={"condition": schemas.WAIT_CONDITION},
    )
    def container_wait(req: Request) -> Any:
        condition = req.query.get("condition", "not-running")
        return {"StatusCode": lifecycle.wait(node, req.params["ref"], condition)}

    @add(
        "POST",
        "/v1/containers/{ref}/start",
        "Start a created or stopped container (attach=1 streams it)",
        query={"attach": schemas.FLAG},
    )
    def container_start(req: Request) -> Any:
        frames = lifecycle.start(node, req.params["ref"], _flag(req, "attach"))
        return {} if frames is None else stream(frames)

    @add(
        "POST",
        "/v1/containers/{ref}/stop",
        "Stop a container: SIGTERM (or signal), SIGKILL after t seconds",
        204,
        query={"t": schemas.SECONDS, "signal": schemas.SIGNAL},
    )
    def container_stop(req: Request) -> Any:
        signum = parse_signal(req.query.get("signal") or "TERM")
        lifecycle.stop(node, req.params["ref"], _int(req, "t"), signum)
        return None

    @add(
        "POST",
        "/v1/containers/{ref}/restart",
        "Stop (if running) and start a container",
        204,
        query={"t": schemas.SECONDS},
    )
    def container_restart(req: Request) -> Any:
        lifecycle.restart(node, req.params["ref"], _int(req, "t"))
        return None

    @add(
        "POST",
        "/v1/containers/{ref}/attach",
        "Attach to a container's stdio (Upgrade: tcp); start=1 starts it first",
        query={"stdin": schemas.FLAG, "start": schemas.FLAG, **SIZE_QUERY},
    )
    def container_attach(req: Request) -> Any:
        ctr, upstream = lifecycle.attach(
            node, req.params["ref"], _flag(req, "stdin"), _flag(req, "start"), _size(req)
        )
        media = hijack.RAW_STREAM if ctr.tty else hijack.MULTIPLEXED_STREAM

        def run(client: Any, rfile: BinaryIO) -> None:
            hijack.relay_socket(client, rfile, upstream)

        return Hijack(run, media)

    @add(
        "POST",
        "/v1/containers/{ref}/resize",
        "Resize a container's terminal",
        query=SIZE_QUERY,
    )
    def container_resize(req: Request) -> Any:
        lifecycle.resize(node, req.params["ref"], _int(req, "h") or 0, _int(req, "w") or 0)
        return {}

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
        result = execs.stream(node, req.params["ref"], req.body)
        if isinstance(result, execs.ExecSession):
            return {"Id": result.id}
        return stream(result)

    @add(
        "POST",
        "/v1/containers/{ref}/execs",
        "Create an exec instance (start it with /v1/exec/{id}/start)",
        201,
        schemas.EXEC_BODY,
    )
    def exec_create(req: Request) -> Any:
        body = req.body
        session = execs.create(
            node,
            req.params["ref"],
            [str(c) for c in body.get("Cmd") or []],
            [str(e) for e in body.get("Env") or []],
            tty=bool(body.get("Tty")),
            stdin=bool(body.get("AttachStdin")),
            cwd=str(body.get("WorkingDir") or ""),
            user=str(body.get("User") or ""),
            size=_console_size(body),
        )
        return {"Id": session.id}

    @add(
        "POST",
        "/v1/exec/{id}/start",
        "Start an exec instance: its stdio over the upgraded connection, or detached",
        200,
        schemas.EXEC_START_BODY,
    )
    def exec_start(req: Request) -> Any:
        detach = bool(req.body.get("Detach"))
        session = execs.start(node, req.params["id"], detach, _console_size(req.body))
        if detach:
            return {}
        assert session.process is not None
        proc = session.process

        def run(client: Any, rfile: BinaryIO) -> None:
            try:
                hijack.relay_exec(client, rfile, proc, session.tty)
            finally:
                execs.wait_exit(session)  # recorded before the client can ask for it
                execs.close_fds(session)
                hijack.end(client)

        return Hijack(run, hijack.RAW_STREAM if session.tty else hijack.MULTIPLEXED_STREAM)

    @add("POST", "/v1/exec/{id}/resize", "Resize an exec instance's terminal", query=SIZE_QUERY)
    def exec_resize(req: Request) -> Any:
        execs.resize(node, req.params["id"], _int(req, "h") or 0, _int(req, "w") or 0)
        return {}

    @add("GET", "/v1/exec/{id}/json", "Inspect an exec instance")
    def exec_inspect(req: Request) -> Any:
        return execs.get(node, req.params["id"]).view()

    for extra in node.extra_routes:
        extra(router, node)
    router.observe = node.observe
    return router
