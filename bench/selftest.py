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
from contextlib import AbstractContextManager
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
def tc_hook(ns: str, dev: str) -> Iterator[None]:
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
            lambda vs: tc_hook(vs["nonat"].topo.node, UPLINK),
        ),
        (
            "limit",
            "S8",
            "a tc hook in the server's netns",
            lambda vs: tc_hook(vs["limit"].topo.b, "eth0"),
        ),
    ]


def plant(
    title: str,
    wrong: Callable[[], AbstractContextManager[Any]],
    problems: Callable[[], list[str]],
) -> tuple[str, str | None]:
    """Measure once with one fault planted: (report line, error when the path checks did not
    catch it or the measurement could not run)."""
    try:
        with wrong():
            found = problems()
    except BenchError as exc:  # the check was not exercised: the self-test itself failed
        return f"{title}: **could not run** ({exc})", f"path check self-test: {title}: {exc}"
    if found:
        return f"{title}: detected — {found[0]}", None
    return f"{title}: **NOT DETECTED**", f"path check self-test: {title} passed"


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
        line, error = plant(
            f"{v.label} {scenario} with {what}",
            lambda wrong=wrong: wrong(by_kind),  # type: ignore[misc]
            lambda v=v, scenario=scenario, case=case: measure(scenario, v, case, p).problems,  # type: ignore[misc]
        )
        lines.append(line)
        if error:
            errors.append(error)
    return lines, errors
