"""Prometheus metrics of the notifier (served on the runtime's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

UNROUTED_EVENTS = Counter(
    "mynaflow_notifier_unrouted_events_total",
    "Events with no route in the routing table (nobody was told; add a route)",
    ["event_type"],
)
DELIVERIES = Counter(
    "mynaflow_notifier_deliveries_total",
    "Deliveries by channel and the status they reached (queued, sent, retrying, dead, ...)",
    ["channel", "status"],
)


def count_deliveries(channel: str, status: str, count: int) -> None:
    DELIVERIES.labels(channel, status).inc(count)
