"""``GET /v1/monitor``: the datapath's sampled drop/trace events, fanned out to streams.

One thread polls the perf buffer (opened on the first subscriber) and hands
each event, decorated with names, to every subscriber whose filter matches.
Sampling happens in the kernel; a slow subscriber loses events (counted)
rather than slowing the others. A stream's first line is ``{"type": "subscribed"}``:
from then on no matching event is missed, so a client can wait for it before causing
traffic. Streams send a ``{"type": "heartbeat"}`` line when idle so that a client that
went away is noticed within a second.

Traces (1 of N forwarded packets) are off unless a rate is set: the node's own rate
(``--trace-sample-rate``, ``PUT /v1/monitor/config``), raised while a stream that asked for
a rate of its own is open (``?trace_sample_rate=N``); the datapath samples at the highest of
them (the smallest N) and goes back when that stream ends.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.datapath.types import DEFAULT_DROP_EVENTS_PER_SEC
from controller.errors import InvalidArgument

from .names import NameIndex, NameSource

if TYPE_CHECKING:
    from controller.ops.node import Node

log = logging.getLogger(__name__)

EVENT_TYPES = ("drop", "trace")
HEARTBEAT = {"type": "heartbeat"}
SUBSCRIBED = {"type": "subscribed"}
POLL_MS = 200
MAX_RATE = 2**32 - 1
DROP_EVENTS_PER_SEC = DEFAULT_DROP_EVENTS_PER_SEC  # per CPU: the datapath's budget


def wall_time(ts_ns: int) -> float:
    """bpf_ktime_get_ns() (CLOCK_MONOTONIC) → Unix time."""
    return time.time() - (time.monotonic_ns() - ts_ns) / 1e9


def _end(names: NameIndex, ip: Any, port: Any, proto: Any) -> tuple[str, str]:
    """(container id, name) at one end of an event: the address's endpoint, or the container
    publishing that address and port (a client's packet to a published port)."""
    ep = names.by_ip.get(str(ip))
    if ep is not None:
        return ep.container_id, ep.container
    if str(ip) not in names.node_addrs:  # a port of some other host is nobody's here
        return "", ""
    try:
        key = int(port or 0)
    except (TypeError, ValueError):
        return "", ""
    for host_ip in (str(ip), "0.0.0.0"):
        owner = names.port_owner_id.get((str(proto), host_ip, key))
        if owner:
            return owner, names.port_owner.get((str(proto), host_ip, key), "")
    return "", ""


def decorate(raw: dict[str, Any], names: NameIndex) -> tuple[dict[str, Any], set[str]]:
    """The API's event object and the ids of the containers it involves (the endpoint the
    packet was seen at, and the containers at both ends)."""
    ifindex = int(raw.get("ifindex") or 0)
    src_id, src_name = _end(names, raw.get("src"), raw.get("sport"), raw.get("proto"))
    dst_id, dst_name = _end(names, raw.get("dst"), raw.get("dport"), raw.get("proto"))
    seen_at = names.by_ifindex.get(ifindex)
    involved = {i for i in (src_id, dst_id, seen_at.container_id if seen_at else "") if i}
    event = {
        "type": "drop" if raw.get("verdict") == "drop" else "trace",
        "time": wall_time(int(raw.get("ts_ns") or time.monotonic_ns())),
        "ifname": names.ifname(ifindex) if ifindex else "",
        "container": names.container_of_ifindex(ifindex),
        "direction": raw.get("direction"),
        "verdict": raw.get("verdict"),
        "reason": raw.get("reason"),
        "proto": raw.get("proto"),
        "src": raw.get("src"),
        "sport": raw.get("sport"),
        "src_container": src_name,
        "dst": raw.get("dst"),
        "dport": raw.get("dport"),
        "dst_container": dst_name,
        "len": raw.get("len"),
    }
    return event, involved


@dataclass(eq=False)
class Subscriber:
    type: str | None = None
    container_id: str | None = None
    trace_rate: int = 0  # the rate this stream asked for while it is open (0: none)
    queue: queue.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: queue.Queue(maxsize=1000)
    )
    lost: int = 0

    def match(self, event: dict[str, Any], involved: set[str]) -> bool:
        if self.type is not None and event["type"] != self.type:
            return False
        return self.container_id is None or self.container_id in involved

    def offer(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.lost += 1


def check_rate(rate: int) -> int:
    if not 0 <= rate <= MAX_RATE:
        raise InvalidArgument(
            f"invalid trace sample rate: {rate} (use 0 for off, or 1 to {MAX_RATE})"
        )
    return rate


def effective_rate(base: int, asked: list[int]) -> int:
    """The datapath's rate: 1 of N with the smallest N anyone set (0 = off)."""
    rates = [r for r in (base, *asked) if r > 0]
    return min(rates) if rates else 0


class EventHub:
    def __init__(self, node: Node, names: NameSource | None = None) -> None:
        self.node = node
        self.names = names or NameSource(node)
        self.base_rate = int(getattr(node.config, "trace_sample_rate", 0) or 0)
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(
        self, type_: str | None, container_id: str | None, trace_rate: int = 0
    ) -> Subscriber:
        if type_ is not None and type_ not in EVENT_TYPES:
            raise InvalidArgument(f"invalid event type: {type_} (use drop or trace)")
        sub = Subscriber(type_, container_id, check_rate(trace_rate))
        with self._lock:
            if self._thread is None:
                self.node.datapath.open_events(self._on_event)
                self._thread = threading.Thread(
                    target=self._run, name="hawser-monitor", daemon=True
                )
                self._thread.start()
            self._subs.add(sub)
            if sub.trace_rate:
                self._apply_rate()
        return sub

    def _apply_rate(self) -> int:
        """Write the effective rate to the datapath (caller holds the lock)."""
        rate = effective_rate(self.base_rate, [s.trace_rate for s in self._subs])
        self.node.datapath.set_trace_rate(rate)
        return rate

    def set_base_rate(self, rate: int) -> dict[str, int]:
        """The node's own rate (until the daemon restarts: then --trace-sample-rate)."""
        with self._lock:
            self.base_rate = check_rate(rate)
            self._apply_rate()
        return self.settings()

    def settings(self) -> dict[str, int]:
        with self._lock:
            asked = [s.trace_rate for s in self._subs]
        return {
            "TraceSampleRate": self.base_rate,
            "EffectiveTraceSampleRate": effective_rate(self.base_rate, asked),
            "DropEventsPerSecond": DROP_EVENTS_PER_SEC,
        }

    def count(self) -> int:
        with self._lock:
            return len(self._subs)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            present = sub in self._subs
            self._subs.discard(sub)
            if present and sub.trace_rate and not self._stop.is_set():
                with contextlib.suppress(Exception):  # the datapath is closing
                    self._apply_rate()
        if sub.lost:
            log.info("a monitor stream lost %d events (client too slow)", sub.lost)

    def _on_event(self, raw: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        if not subs:
            return
        event, involved = decorate(raw, self.names.get(max_age=1.0))
        for sub in subs:
            if sub.match(event, involved):
                sub.offer(event)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.node.datapath.poll_events(POLL_MS)
            except Exception as exc:  # the datapath is closing: stop quietly
                if not self._stop.is_set():
                    log.warning("monitor: polling datapath events failed: %s", exc)
                    self._stop.wait(1.0)

    def close(self) -> None:
        """Stop polling (before the datapath closes) and end every stream."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            subs, self._subs = list(self._subs), set()
        for sub in subs:
            with contextlib.suppress(queue.Full):
                sub.queue.put_nowait(None)

    def stream(self, sub: Subscriber, heartbeat: float = 1.0) -> Iterator[dict[str, Any]]:
        """The items of one ``/v1/monitor`` response; unsubscribes when closed.

        ``sub`` is registered already, so the acknowledgement that comes first is true.
        """
        try:
            with self._lock:
                rate = effective_rate(self.base_rate, [s.trace_rate for s in self._subs])
            yield {**SUBSCRIBED, "time": time.time(), "trace_sample_rate": rate}
            while not self._stop.is_set():
                try:
                    event = sub.queue.get(timeout=heartbeat)
                except queue.Empty:
                    yield {**HEARTBEAT, "time": time.time()}
                    continue
                if event is None:
                    return
                yield event
        finally:
            self.unsubscribe(sub)
