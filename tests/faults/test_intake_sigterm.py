"""Fault 7: SIGTERM to notice-intake during the load: a clean drain, then a restart.

- The process exits 0 within its grace period (`SHUTDOWN_GRACE_S`, 8 s, plus start-up slack).
- After the drain, per partition, the committed offset is never past what the database applied,
  and what was applied but not committed (what a restart reads again) is at most the batch that
  was in flight.
- After the restart: every notice receipted once, one stored receipt each, one deadline request
  each (the invariants of fault 1).
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from mynaflow_testing.faults import (
    Load,
    assert_no_commit_past_applied,
    print_counts,
    produce_records,
    running_intake,
)
from mynaflow_testing.processes import Fleet

pytestmark = pytest.mark.faults

BATCH = 500  # INTAKE_BATCH_MAX_RECORDS: one transaction, one offset commit
GRACE_S = 8.0
PROGRESS_BEFORE_STOP = 0.30
LOAD_S = 20.0  # the load is still arriving when SIGTERM comes, however fast intake is


async def test_sigterm_mid_load_drains_cleanly_and_redelivers_at_most_the_batch_in_flight(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    async with running_intake(
        fleet,
        database_url=fault_database_url,
        bootstrap=kafka_bootstrap,
        prefix=topic_prefix,
        extra_env={"INTAKE_BATCH_MAX_RECORDS": str(BATCH), "SHUTDOWN_GRACE_S": str(GRACE_S)},
    ) as intake:
        producing = asyncio.create_task(
            produce_records(
                kafka_bootstrap, intake.raw_topic, load.records, window=200, over_s=LOAD_S
            )
        )
        await intake.wait_receipted(math.ceil(PROGRESS_BEFORE_STOP * len(load.records)))
        at_stop = intake.receipted()
        stopping = time.monotonic()
        exit_code = await intake.terminate_cleanly()
        drain_s = time.monotonic() - stopping
        print_counts(
            "fault 7",
            {"receipted at SIGTERM": at_stop, "exit code": exit_code, "drain s": round(drain_s, 2)},
        )
        assert exit_code == 0
        assert drain_s < GRACE_S + 2.0
        assert at_stop < len(load.records), "SIGTERM came after the load was done"

        applied, commits = await intake.applied_and_committed()
        read_again = assert_no_commit_past_applied("fault 7", commits, applied)
        print_counts("fault 7", {"applied but uncommitted (read again)": read_again})
        assert read_again <= BATCH, "more than the batch in flight would be read again"

        await producing
        await intake.process.start_ready()
        await intake.check_invariants("fault 7: SIGTERM", load)
        assert await intake.terminate_cleanly() == 0
