"""Settings of deadline-watcher: the common variables, with this service's defaults.

Service-specific variables (all optional; see docs/deadline-watcher.md):
- `DEADLINE_POLICIES`: JSON object of policies added to (or replacing) the defaults;
- `DEADLINE_POLICIES_FILE`: path of a JSON file with the same shape (read after the variable);
- `CATCHUP_SETTLE_S` (5): delay before a deadline that arrived overdue fires;
- `LATE_AFTER_S` (60): a stage fired later than this after its time is marked late;
- `DIGEST_TIME` (08:30, JST): time of the daily `digest-due` event on business days;
- `HEARTBEAT_INTERVAL_S` (60): interval of the `heartbeat` event;
- `CLAIM_BATCH_SIZE` (500): deadlines claimed per firing transaction;
- `CLOCK_SKEW_TOLERANCE_S` (2): how far this replica's clock may run ahead of the database's
  before it refuses to fire;
- `CLOCK_SKEW_CHECK_S` (30): how often the skew is measured (and at start-up);
- `REQUEST_CONSUMERS` (1): consumers of `deadlines.requests` in each process;
- `WARD_CLOSURES` / `WARD_OPEN_DAYS`: the ward's own calendar (see `mynaflow.domain.calendar`).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from mynaflow.settings import MynaflowSettings
from pydantic import Field

from deadline_watcher.domain.policies import Policy, PolicyConfigError, load_policies


class DeadlineWatcherSettings(MynaflowSettings):
    """Read from the environment at start-up (`HTTP_PORT` overrides the port)."""

    http_port: int = 8083
    deadline_policies: str = ""
    deadline_policies_file: Path | None = None
    catchup_settle_s: float = Field(default=5.0, ge=0)
    late_after_s: float = Field(default=60.0, ge=0)
    digest_time: time = time(8, 30)
    heartbeat_interval_s: float = Field(default=60.0, gt=0)
    claim_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Consumers of deadlines.requests per process (entrypoints/subscribers.py). One by default:
    # more make the group rebalance once per consumer joining at each start (docs).
    request_consumers: int = Field(default=1, ge=1, le=6)
    clock_skew_tolerance_s: float = Field(default=2.0, ge=0)
    clock_skew_check_s: float = Field(default=30.0, gt=0)

    def policies(self) -> dict[str, Policy]:
        """Defaults, then `DEADLINE_POLICIES`, then `DEADLINE_POLICIES_FILE`; refuses bad ones."""
        from_file = None
        if self.deadline_policies_file is not None:
            try:
                from_file = self.deadline_policies_file.read_text(encoding="utf-8")
            except OSError as error:
                raise PolicyConfigError(f"DEADLINE_POLICIES_FILE: {error}") from error
        return load_policies(self.deadline_policies, from_file)
