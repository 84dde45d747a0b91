"""``/metrics`` families of the cluster agent: the etcd watch, the lease, what is known.

Read at scrape time from the watcher's and the membership's counters (nothing copied between
scrapes). Per remote node traffic is the datapath's (``hawser_tunnel_*``).
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from controller.plugins.overlay.agent import ClusterAgent


def families(agent: ClusterAgent | None = None) -> list[Metric]:
    """Every family, filled from ``agent`` (empty without one: the names the dashboard may
    query)."""
    up = GaugeMetricFamily(
        "hawser_cluster_store_up", "1 while the watch on the cluster store is connected"
    )
    revision = GaugeMetricFamily(
        "hawser_cluster_watch_revision", "Store revision up to which every event was applied"
    )
    lag = GaugeMetricFamily(
        "hawser_cluster_watch_lag_revisions",
        "Revisions the store is ahead of what this node applied",
    )
    events = CounterMetricFamily("hawser_cluster_watch_events", "Events received on the watch")
    reconnects = CounterMetricFamily(
        "hawser_cluster_watch_reconnects", "Watch streams re-established after the first"
    )
    errors = CounterMetricFamily(
        "hawser_cluster_watch_errors",
        "Watch failures: connects, broken streams, error answers, handler errors",
    )
    resets = CounterMetricFamily(
        "hawser_cluster_watch_resets", "Full reads of the store (start, compaction)"
    )
    renewals = CounterMetricFamily(
        "hawser_cluster_lease_renewals", "Lease keepalives that succeeded"
    )
    lease_errors = CounterMetricFamily(
        "hawser_cluster_lease_errors", "Lease keepalives that failed (store unreachable)"
    )
    losses = CounterMetricFamily(
        "hawser_cluster_lease_losses", "Times this node found its lease expired and joined again"
    )
    nodes = GaugeMetricFamily("hawser_cluster_nodes", "Nodes registered in the cluster store")
    remote = GaugeMetricFamily(
        "hawser_cluster_remote_endpoints", "Endpoints of overlays on other nodes known here"
    )
    networks = GaugeMetricFamily("hawser_cluster_networks", "Global networks in the store")
    sync = GaugeMetricFamily(
        "hawser_cluster_sync_seconds",
        "Time the last full read took to apply (mirrors, tunnel map, DNS view)",
    )
    out: list[Metric] = [
        up, revision, lag, events, reconnects, errors, resets, renewals, lease_errors, losses,
        nodes, remote, networks, sync,
    ]  # fmt: skip
    if agent is None:
        return out
    if agent.watcher is not None:
        w = agent.watcher.stats()
        up.add_metric([], 1 if w.connected else 0)
        revision.add_metric([], w.revision)
        lag.add_metric([], w.lag)
        events.add_metric([], w.events)
        reconnects.add_metric([], w.reconnects)
        errors.add_metric([], w.errors)
        resets.add_metric([], w.resets)
    else:
        up.add_metric([], 0)
    if agent.membership is not None:
        m = agent.membership.stats()
        renewals.add_metric([], m.renewals)
        lease_errors.add_metric([], m.errors)
        losses.add_metric([], m.lease_losses)
    counts = agent.counts()
    nodes.add_metric([], counts["nodes"])
    remote.add_metric([], counts["remote_endpoints"])
    networks.add_metric([], counts["networks"])
    sync.add_metric([], agent.sync_seconds)
    return out
