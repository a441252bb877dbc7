"""Settings of notice-intake: the common variables, with this service's own.

Owner queues and SLAs per notice kind (docs/domain.md's table is the default):
    NOTICE_KIND_QUEUES='{"record_update_required": "card-records", ...}'   kind → queue
    NOTICE_KIND_SLA_DAYS='{"record_update_required": 3, "expiry_notice_sent": null}'
`NOTICE_KIND_SLA_DAYS` is merged over the defaults (a ward may add kinds or change days; null
means no SLA). `NOTICE_KIND_QUEUES`, when set, replaces the default queues entirely: a ward names
the owner of every known kind, and a known kind without one stops the service at start-up.
"""

from __future__ import annotations

from mynaflow.settings import MynaflowSettings
from pydantic import Field

from notice_intake.domain.routing import (
    DEFAULT_OWNER_QUEUES,
    DEFAULT_SLA_BUSINESS_DAYS,
    DEFAULT_TRIAGE_QUEUE,
    DEFAULT_TRIAGE_SLA_BUSINESS_DAYS,
    RoutingTable,
)


class NoticeIntakeSettings(MynaflowSettings):
    """Read from the environment at start-up (`HTTP_PORT` overrides the port)."""

    http_port: int = 8081
    notice_kind_queues: dict[str, str | None] = Field(
        default_factory=lambda: dict[str, str | None](DEFAULT_OWNER_QUEUES)
    )
    notice_kind_sla_days: dict[str, int | None] = Field(default_factory=dict)
    triage_queue: str = DEFAULT_TRIAGE_QUEUE
    triage_sla_days: int = DEFAULT_TRIAGE_SLA_BUSINESS_DAYS
    # A sequence number missing this long is reported (out-of-order arrival is normal).
    sequence_gap_grace_s: float = Field(default=900.0, gt=0)
    # Raw notices per batch: one transaction and one offset commit each.
    intake_batch_max_records: int = Field(default=500, gt=0)
    # A fetch is answered as soon as the broker has `intake_fetch_min_bytes` for it, or after
    # `intake_fetch_max_wait_ms` with what it has. The default takes what is there at once (the
    # lowest latency, docs/BENCHMARKS.md); a larger minimum gathers bigger batches (less CPU per
    # notice at a steady rate, a few ms more latency). A burst fills either at once.
    intake_fetch_max_wait_ms: int = Field(default=20, ge=0, le=500)
    intake_fetch_min_bytes: int = Field(default=1, ge=1)
    # Processes consuming notices: this one and `intake_workers - 1` workers it starts and
    # supervises (entrypoints/workers.py), to use more than one core in one container.
    intake_workers: int = Field(default=1, ge=1, le=32)

    def routing_table(self) -> RoutingTable:
        """The kind → queue/SLA table; raises `RoutingConfigurationError` when unusable."""
        return RoutingTable.build(
            sla_business_days={**DEFAULT_SLA_BUSINESS_DAYS, **self.notice_kind_sla_days},
            owner_queues=self.notice_kind_queues,
            triage_queue=self.triage_queue,
            triage_sla_business_days=self.triage_sla_days,
        )
