"""Embedded DNS for user-defined networks: names of containers, the rest forwarded.

Public surface: :func:`install` (the daemon calls it once, after the Node is
built) and :class:`DnsService`.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from controller.datapath import cookie_of
from controller.ops.node import Node
from controller.plugins.dns import forward, resolvconf, responder
from controller.plugins.dns.records import View, resolves_names
from controller.plugins.dns.server import DnsServer
from controller.rules.model import Container, Endpoint, Network

__all__ = ["DnsService", "install"]

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 5.0


class DnsService:
    """Keeps one listener per user-defined network and each sandbox's resolv.conf current."""

    def __init__(self, node: Node, port: int = 53) -> None:
        self.node = node
        self.server = DnsServer(self.handle, port)
        self._view: View | None = None
        self._generation = 0
        self._view_lock = threading.Lock()
        self._cookies: dict[str, int] = {}  # sandbox netns -> its cookie (hawser_sandbox_dns key)

    # answering -------------------------------------------------------------------------
    def view(self) -> View | None:
        """A snapshot of the store, rebuilt after any change (events drop the cached one).

        Events fire under ``node.lock``, so a snapshot built under it is stale
        exactly when the generation moved meanwhile; then it is not cached.
        """
        with self._view_lock:
            if self._view is not None:
                return self._view
        if not self.node.lock.acquire(timeout=LOCK_TIMEOUT_SECONDS):
            return None
        try:
            generation = self._generation
            store = self.node.store
            view = View.build(
                store.networks(),
                store.containers(),
                store.endpoints(),
                self.node.remote_endpoints(),  # on other nodes (overlays)
            )
        finally:
            self.node.lock.release()
        with self._view_lock:
            if self._generation == generation:
                self._view = view
        return view

    def invalidate(self) -> None:
        with self._view_lock:
            self._generation += 1
            self._view = None

    def handle(self, network_id: str, source_ip: str, wire: bytes, tcp: bool) -> bytes | None:
        view = self.view()
        if view is None:
            return None  # the daemon is busy; the client retries
        return responder.answer(wire, view, network_id, source_ip, self._forward, tcp)

    def _forward(self, asker: Container, wire: bytes, tcp: bool) -> bytes | None:
        servers = forward.upstreams(self.node.config.values.get("dns_upstream", []), asker.dns)
        return forward.forward(wire, servers, tcp)

    # listeners ---------------------------------------------------------------------------
    def _listen(self, net: Network) -> None:
        if not resolves_names(net) or not net.gateway:
            return
        try:
            self.server.listen(net.id, net.gateway)
        except OSError as exc:
            log.error(
                "embedded DNS cannot listen on %s:%d for network %s: %s; names will not resolve",
                net.gateway,
                self.server.port,
                net.name,
                exc,
            )

    def on_started(self) -> None:
        self.invalidate()
        with self.node.lock:
            wanted = {n.id: n for n in self.node.store.networks() if resolves_names(n)}
            for nid in set(self.server.addresses()) - set(wanted):
                self.server.forget(nid)
            for net in wanted.values():
                self._listen(net)
            for ctr in self.node.store.containers():
                resolvconf.write(self.node, ctr)
            self._sync_sandbox_dns()  # entries of sandboxes gone while we were down go
        self.server.start()

    def on_resynced(self) -> None:
        """Reconcile may have written a sandbox's files again: put the resolver back. The
        sandbox DNS map is made to match the store (this plugin is its only writer)."""
        self.invalidate()
        with self.node.lock:
            for ctr in self.node.store.containers():
                resolvconf.write(self.node, ctr)
            self._sync_sandbox_dns()

    def _sync_sandbox_dns(self) -> None:
        """Every sandbox's entry rewritten (cookies read again: reconcile may have made a
        sandbox anew), entries of sandboxes that are gone deleted."""
        self._cookies = {}
        for ctr in self.node.store.containers():
            self._route_loopback(ctr)
        routed = set(self._cookies.values())
        for cookie in set(self.node.datapath.sandbox_dns()) - routed:
            self.node.datapath.delete_sandbox_dns(cookie)

    def on_stopping(self) -> None:
        self.server.close()

    def on_network_created(self, net: Network) -> None:
        self.invalidate()
        self._listen(net)

    def on_network_removed(self, net: Network) -> None:
        self.invalidate()
        self.server.forget(net.id)

    def on_endpoint_added(self, ctr: Container, net: Network, ep: Endpoint) -> None:
        self.invalidate()
        resolvconf.write(self.node, ctr)
        self._route_loopback(ctr)

    def on_endpoint_removed(self, ctr: Container, net: Network, ep: Endpoint) -> None:
        self.invalidate()
        resolvconf.write(self.node, ctr, without_endpoint=ep.id)
        self._route_loopback(ctr, without_endpoint=ep.id)

    def on_container_changed(self, ctr: Container) -> None:
        self.invalidate()

    def on_container_removed(self, ctr: Container) -> None:
        self.invalidate()
        if ctr.netns and not ctr.owns_no_netns_mode:
            cookie = self._cookies.pop(ctr.netns, None)
            if cookie is not None:
                self.node.datapath.delete_sandbox_dns(cookie)

    # 127.0.0.11 ---------------------------------------------------------------------------
    def _route_loopback(self, ctr: Container, without_endpoint: str = "") -> None:
        """Point the sandbox's 127.0.0.11:53 at its first user network's listener, or nowhere."""
        if not ctr.netns or ctr.owns_no_netns_mode:
            return
        cookie = self._cookies.get(ctr.netns)
        if cookie is None:
            try:
                cookie = cookie_of(f"/run/netns/{ctr.netns}")
            except OSError:
                return  # no sandbox (yet): the next sync writes it
            self._cookies[ctr.netns] = cookie
        server = resolvconf.embedded_nameserver(self.node, ctr, without_endpoint)
        if server is None:
            with contextlib.suppress(KeyError):
                self.node.datapath.delete_sandbox_dns(cookie)
        else:
            self.node.datapath.set_sandbox_dns(cookie, server, self.server.port)


def install(node: Node, port: int = 53) -> DnsService:
    """Register the listeners; sockets open at ``started``. Safe to call in tests."""
    service = DnsService(node, port)
    node.on("started", service.on_started)
    node.on("resynced", service.on_resynced)
    node.on("stopping", service.on_stopping)
    node.on("network_created", service.on_network_created)
    node.on("network_removed", service.on_network_removed)
    node.on("endpoint_added", service.on_endpoint_added)
    node.on("endpoint_removed", service.on_endpoint_removed)
    node.on("container_created", service.on_container_changed)
    node.on("container_removed", service.on_container_removed)
    node.on("remote_endpoints_changed", service.invalidate)
    return service
