"""A Hawser cluster on one machine: node netns on an underlay, one etcd, a daemon per node.

    n1  ul 198.18.0.1  hawser daemon ──┐
    n2  ul 198.18.0.2  hawser daemon ──┼── ulbr 198.18.0.254 + etcd :2379   (netns ``ul``)
    n3  ul 198.18.0.3  hawser daemon ──┘

Each daemon runs with ``--cluster-store etcd://198.18.0.254:2379/t<tag>`` (a key prefix of
the cluster's own), ``--cluster-advertise ul`` and the lease TTL it is given; its uplink is
its underlay interface, so the underlay netns is also the outside host (published ports,
masquerade). ``close()`` removes the containers, the daemons, what they left (sandboxes,
pins), etcd and every netns, also after a ``kill -9``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testbed import census, etcd
from testbed.hawser import Daemon
from testbed.procs import enter
from testbed.shell import sh
from testbed.topology import Underlay


class Cluster:
    def __init__(
        self,
        workdir: Path,
        count: int = 3,
        *,
        ttl: Sequence[float] | float = 10.0,
        extra: Sequence[str] = (),
        metrics: bool = False,
    ) -> None:
        self.underlay = Underlay(count)
        self.scope = self.underlay.scope
        self.tag = self.underlay.tag
        self.workdir = workdir
        try:
            self.etcd = etcd.on_underlay(self.underlay)
        except BaseException:
            self.underlay.close()
            raise
        self.prefix = f"/t{self.tag}"
        ttls = [ttl] * count if isinstance(ttl, int | float) else list(ttl)
        self.daemons: list[Daemon] = []
        for i, (ns, role) in enumerate(zip(self.underlay.nodes, self.underlay.roles, strict=True)):
            args = [
                "--cluster-store", self.etcd.url(self.prefix),
                "--cluster-advertise", "ul",
                "--cluster-store-opt", f"discovery.ttl={ttls[i]:g}",
                *extra,
            ]  # fmt: skip
            self.daemons.append(
                Daemon(
                    ns, workdir / role, f"t{self.tag}{role}", args,
                    metrics_address="127.0.0.1:0" if metrics else "",
                )
            )  # fmt: skip

    def address(self, index: int) -> str:
        return self.underlay.address(index)

    @property
    def outside(self) -> str:
        """The underlay netns: every node's uplink leads there."""
        return self.underlay.ul

    def start(self, timeout: float = 60) -> None:
        """Every daemon, at once; returns when each API answers."""
        with ThreadPoolExecutor(len(self.daemons)) as pool:
            for f in [pool.submit(d.start, timeout=timeout) for d in self.daemons]:
                f.result()

    def in_node(self, index: int, *argv: str, check: bool = True) -> str:
        return sh(*enter(self.underlay.nodes[index], *argv), check=check).stdout

    def close(self) -> list[str]:
        problems: list[str] = []
        for d in self.daemons:
            with contextlib.suppress(Exception):
                if d.running:
                    ids = d.cli("ps", "-aq", check=False).stdout.split()
                    if ids:
                        d.cli("rm", "-f", *ids, check=False)
        for d in self.daemons:
            with contextlib.suppress(Exception):
                d.stop()
            left = census.remove_sandboxes(d.name)
            problems += [f"{d.name}: netns left behind: {ns}" for ns in left]
        problems += self.underlay.close()
        for d in self.daemons:
            census.remove_pins(d.name)
        return problems
