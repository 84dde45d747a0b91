"""Control-plane latency and errors: what ``node.observe`` feeds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Operations take milliseconds (a port map write) to seconds (bcc compile, a 1,000-port range).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Operations:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "hawser_operation_duration_seconds",
            "Duration of control-plane operations (API calls that change state)",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "hawser_operation_errors",
            "Control-plane operations that failed",
            ["operation"],
            registry=registry,
        )

    def observe(self, operation: str, seconds: float, failed: bool) -> None:
        self.duration.labels(operation).observe(seconds)
        errors = self.errors.labels(operation)  # the series exists (at 0) once the operation ran
        if failed:
            errors.inc()
