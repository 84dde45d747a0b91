"""Negative controls of the path checks: each variant is misrouted once, and the check must say so.

A proof of path that would also pass on a wrong path proves nothing. Before the measurements,
every variant runs one short load on a deliberately wrong path — the S8 client in the node's
netns (what a container's `State.Pid` gives: the old benchmark's mistake), a load that goes around
the DNAT rule or the proxy, a tc hook on a path that must have none — and the run must come out
INVALID. The normal runs that follow are the positive controls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from bench.dataplane import Case, Params, measure
from bench.proc import BenchError, sh
from bench.topology import SRV_IP, UPLINK
from bench.variants import IPERF_PORT, SRV_PORT, Target, Variant


@contextlib.contextmanager
def _override(v: Variant, **attrs: Any) -> Iterator[None]:
    """Shadow methods of one variant instance for the duration of one run."""
    for name, value in attrs.items():
        setattr(v, name, value)
    try:
        yield
    finally:
        for name in attrs:
            delattr(v, name)


@contextlib.contextmanager
def _tc_hook(ns: str, dev: str) -> Iterator[None]:
    sh(["tc", "-n", ns, "qdisc", "add", "dev", dev, "clsact"])
    try:
        yield
    finally:
        sh(["tc", "-n", ns, "qdisc", "del", "dev", dev, "clsact"], check=False)


Misroute = tuple[
    str, str, str, Callable[[dict[str, Variant]], contextlib.AbstractContextManager[None]]
]


def _misroutes() -> list[Misroute]:
    def direct(v: Variant) -> Any:
        return _override(v, published=lambda: Target(SRV_IP, SRV_PORT))

    def around_proxy(v: Variant) -> Any:
        return _override(v, local=lambda: (Target(SRV_IP, SRV_PORT), Target(SRV_IP, IPERF_PORT)))

    return [
        (
            "hawser",
            "S8",
            "the client in the node's netns (a container's State.Pid)",
            lambda vs: _override(vs["hawser"], in_container=vs["hawser"].on_node),
        ),
        (
            "hawser",
            "S3",
            "the load sent to the limit pair instead of the published port",
            lambda vs: _override(
                vs["hawser"],
                ext_client=vs["limit"].ext_client,
                published=vs["limit"].published,
                sources=vs["limit"].sources,
            ),
        ),
        (
            "iptables",
            "S3",
            "the client routed to the container's address, around the DNAT rule",
            lambda vs: direct(vs["iptables"]),
        ),
        (
            "iptables",
            "S5",
            "the node-local client sent to the container, around docker-proxy",
            lambda vs: around_proxy(vs["iptables"]),
        ),
        (
            "nonat",
            "S3",
            "a tc hook on the node's uplink",
            lambda vs: _tc_hook(vs["nonat"].topo.node, UPLINK),
        ),
        (
            "limit",
            "S8",
            "a tc hook in the server's netns",
            lambda vs: _tc_hook(vs["limit"].topo.b, "eth0"),
        ),
    ]


def run(variants: list[Variant], p: Params) -> tuple[list[str], list[str]]:
    """(report lines, errors): an error for every misroute the checks did not catch."""
    by_kind = {v.kind: v for v in variants}
    lines, errors = [], []
    for kind, scenario, what, wrong in _misroutes():
        needed = {kind, "limit"} if "limit pair" in what else {kind}
        if not needed <= set(by_kind):
            continue
        v = by_kind[kind]
        case = Case("1-rst", "selftest") if scenario == "S8" else Case()
        try:
            with wrong(by_kind):
                problems = measure(scenario, v, case, p).problems
        except BenchError as exc:  # the check was not exercised: the self-test itself failed
            lines.append(f"{v.label} {scenario} with {what}: **could not run** ({exc})")
            errors.append(f"path check self-test: {v.label} {scenario} with {what}: {exc}")
            continue
        if problems:
            lines.append(f"{v.label} {scenario} with {what}: detected — {problems[0]}")
        else:
            lines.append(f"{v.label} {scenario} with {what}: **NOT DETECTED**")
            errors.append(f"path check self-test: {v.label} {scenario} with {what} passed")
    return lines, errors
