"""Prometheus metrics shared by every service, labelled by service.

The collectors live in the process-wide default registry (created once, at import); each service
gets a `ServiceMetrics` that fills in its `service` label. `/metrics` exposes the registry.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest

MESSAGES_IN = Counter(
    "mynaflow_messages_in",
    "Kafka records delivered to a subscriber (each delivery counted once, retries excluded)",
    ["service", "topic"],
)
MESSAGES_FAILED = Counter(
    "mynaflow_messages_failed",
    "Failed handler attempts, by kind: poison, transient or unhandled",
    ["service", "topic", "kind"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "mynaflow_messages_dead_lettered",
    "Records recorded as dead letters (then skipped)",
    ["service", "topic"],
)
CONSUMER_LAG = Gauge(
    "mynaflow_consumer_lag",
    "Records not yet committed by the service's consumer group, summed over partitions",
    ["service", "topic"],
)


class ServiceMetrics:
    """The shared collectors with this service's label filled in."""

    def __init__(self, service: str) -> None:
        self.service = service

    def message_in(self, topic: str, count: int = 1) -> None:
        MESSAGES_IN.labels(self.service, topic).inc(count)

    def message_failed(self, topic: str, kind: str) -> None:
        MESSAGES_FAILED.labels(self.service, topic, kind).inc()

    def message_dead_lettered(self, topic: str) -> None:
        MESSAGES_DEAD_LETTERED.labels(self.service, topic).inc()

    def set_consumer_lag(self, lag: dict[str, dict[int, int]]) -> None:
        """Set the lag gauge from `consumer_group_lag`'s answer (per topic, per partition)."""
        for topic, partitions in lag.items():
            CONSUMER_LAG.labels(self.service, topic).set(sum(partitions.values()))


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
