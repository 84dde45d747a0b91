"""Docker's names for its networks and containers, learned from dockerd's own API.

The plugin protocol carries ids only (a network id, an endpoint id, a sandbox path), so the
rows Hawser makes for Docker start as ``docker-<id12>``. When dockerd's API socket is known
(``--docker-host``), this thread asks dockerd — ``GET /networks`` and ``GET
/containers/json?all=1``, matched by network id and endpoint id — and gives the rows Docker's
names, and containers Docker's ids, so ``hawser ps`` / ``hawser port web`` name what ``docker
ps`` names. It runs after plugin calls that made something (dockerd records a container's
endpoint only once the start completes, so it retries for a while) and once at start-up.
It never holds the node's lock while it talks to dockerd, which may be waiting on a plugin
call of its own.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from typing import Any

from controller.errors import InvalidArgument
from controller.ops import engines, networks
from controller.ops.node import Node
from controller.plugins.docker.ops_backend import OWNER, placeholder_name

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)  # ~25 s in all
TIMEOUT_SECONDS = 5.0


def parse_host(value: str) -> str:
    """``unix:///path`` → the socket path ("" stays ""); other schemes are refused."""
    if not value:
        return ""
    if not value.startswith("unix://") or len(value) == len("unix://"):
        raise InvalidArgument(f"--docker-host must be unix:///PATH, not {value!r}")
    return value[len("unix://") :]


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=TIMEOUT_SECONDS)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_SECONDS)
        sock.connect(self.path)
        self.sock = sock


def docker_get(path: str, url: str) -> Any:
    conn = _UnixConnection(path)
    try:
        conn.request("GET", url)
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise OSError(f"dockerd answered {reply.status} to GET {url}")
        return json.loads(body)
    finally:
        conn.close()


class DockerNames:
    """The resolver thread; ``wake()`` after a plugin call, ``close()`` at shutdown."""

    def __init__(self, node: Node, socket_path: str) -> None:
        self.node = node
        self.socket_path = socket_path
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docker-names", daemon=True)

    def start(self) -> None:
        self._wake.set()  # rows a previous run left unnamed
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=TIMEOUT_SECONDS + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            for delay in (0.0, *RETRY_SECONDS):
                if self._stop.wait(delay) or self._wake.is_set():
                    break  # stopping, or a newer call restarts the schedule
                try:
                    if self.resolve() == 0:
                        break
                except (OSError, ValueError) as exc:
                    log.debug("docker names: dockerd at %s: %s", self.socket_path, exc)

    def _unnamed(self) -> tuple[dict[str, str], dict[str, str]]:
        """Networks (id → id) and containers (endpoint id → container id) still unnamed."""
        with self.node.lock:
            nets = {
                n.id: n.id
                for n in self.node.store.networks()
                if n.owner == OWNER and n.name == placeholder_name(n.id)
            }
            ctrs = {}
            for ctr in self.node.store.engine_containers(OWNER):
                if not ctr.engine_id:
                    for ep in self.node.store.endpoints(container_id=ctr.id):
                        ctrs[ep.id] = ctr.id
        return nets, ctrs

    def resolve(self) -> int:
        """One pass; the number of rows still waiting for a name."""
        nets, ctrs = self._unnamed()
        if nets:
            for item in docker_get(self.socket_path, "/networks"):
                if item.get("Id") in nets and networks.rename(self.node, item["Id"], item["Name"]):
                    del nets[item["Id"]]
        if ctrs:
            for item in docker_get(self.socket_path, "/containers/json?all=1"):
                found = self._container_of(item, ctrs)
                names = item.get("Names") or []
                if found and names:
                    name = str(names[0]).removeprefix("/")
                    if engines.take_identity(self.node, found, str(item["Id"]), name):
                        ctrs = {e: c for e, c in ctrs.items() if c != found}
        return len(nets) + len(set(ctrs.values()))

    @staticmethod
    def _container_of(item: dict[str, Any], ctrs: dict[str, str]) -> str | None:
        settings = (item.get("NetworkSettings") or {}).get("Networks") or {}
        for net in settings.values():
            ctr_id = ctrs.get((net or {}).get("EndpointID") or "")
            if ctr_id:
                return ctr_id
        return None
