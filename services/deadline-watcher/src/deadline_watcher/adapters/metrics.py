"""Prometheus metrics of the watcher (served on the runtime's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

STAGES_DECIDED = Counter(
    "mynaflow_deadline_stages_total",
    "Deadline stages decided by this replica, fired or skipped, on time or late",
    ["outcome", "timing"],
)
DEADLINES_PENDING = Gauge(
    "mynaflow_deadlines_pending",
    "Deadlines with a stage still to fire (as of this replica's last heartbeat)",
)
NEXT_DUE_SECONDS = Gauge(
    "mynaflow_deadline_next_due_seconds",
    "Seconds until the next stage is due (negative: the watcher is behind)",
)
LOOP_CYCLES = Counter(
    "mynaflow_deadline_loop_cycles_total",
    "Wake-ups of the firing loop (it sleeps until the next due time or a wake-up, never polls)",
)
STALE_SCHEDULES = Counter(
    "mynaflow_deadline_stale_schedules_total",
    "Schedule requests ignored because they were sent before the latest clear of their key",
)
CLOCK_SKEW_SECONDS = Gauge(
    "mynaflow_deadline_clock_skew_seconds",
    "This replica's clock minus the database's (positive: the replica runs fast)",
)
FIRING_REFUSED = Gauge(
    "mynaflow_deadline_firing_refused",
    "1 while this replica refuses to fire because its clock runs ahead of the database's",
)
