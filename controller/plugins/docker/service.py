"""The daemon's side of the Docker plugin: serve it on its socket once the node has synced.

On by default: a Docker user expects ``docker network create -d hawser`` to work as soon as
Hawser runs, and dockerd finds a plugin named ``hawser`` at ``/run/docker/plugins/hawser.sock``
(the plugin's name is the socket's file name). ``--docker-plugin-socket ""`` turns it off;
another path needs a ``.spec`` file in ``/etc/docker/plugins`` pointing at it. The socket
exists only while the daemon runs: dockerd retries a call for a while when it is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from controller.ops.node import Node
from controller.plugins.docker.names import DockerNames, parse_host
from controller.plugins.docker.ops_backend import OpsBackend
from controller.plugins.docker.server import PluginServer

log = logging.getLogger(__name__)


class DockerPlugin:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.socket = str(node.config.values.get("docker_plugin_socket") or "")
        docker_host = parse_host(str(node.config.values.get("docker_host") or ""))
        self.names = DockerNames(node, docker_host) if docker_host else None
        self.server: PluginServer | None = None

    def on_started(self) -> None:
        if not self.socket:
            return
        learned = self.names.wake if self.names is not None else lambda: None
        try:
            self.server = PluginServer(OpsBackend(self.node, learned), Path(self.socket))
        except OSError as exc:  # Hawser's own API works on: say why Docker will not find it
            log.error("cannot serve the Docker plugin on %s: %s", self.socket, exc)
            return
        if self.names is not None:
            self.names.start()
        log.info("docker network and IPAM plugin on unix://%s", self.socket)

    def on_stopping(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.names is not None:
            self.names.close()


def install(node: Node) -> DockerPlugin:
    plugin = DockerPlugin(node)
    node.on("started", plugin.on_started)
    node.on("stopping", plugin.on_stopping)
    return plugin
