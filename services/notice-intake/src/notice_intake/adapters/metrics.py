"""notice-intake's own Prometheus counters (served on `/metrics` with the platform's)."""

from __future__ import annotations

from prometheus_client import Counter

RECEIPTS = Counter("mynaflow_intake_receipts_total", "Receipt events queued, by status", ["status"])
REDELIVERIES = Counter(
    "mynaflow_intake_redeliveries_total", "Messages seen again at an applied offset (ignored)"
)
GAPS_REPORTED = Counter("mynaflow_intake_sequence_gaps_reported_total", "Sequence gaps reported")
GAPS_CLOSED = Counter("mynaflow_intake_sequence_gaps_closed_total", "Reported gaps closed")
REWOUND_NOTICES = Counter(
    "mynaflow_intake_rewound_notices_total",
    "Notices found at or below a partition's applied offset that were never receipted (offsets "
    "went backwards: topic re-created, broker data lost, another cluster); receipted as new",
    ["topic", "partition"],
)
