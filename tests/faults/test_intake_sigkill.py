"""Fault 1: notice-intake killed with SIGKILL three times during the load, each time after at
least 20 % further progress, and started again.

Invariants (sets): the notice ids sent = the notice ids receipted on `intake.receipts`, one
receipt id and one first receipt each, no `duplicate` (a redelivery is not a second notice);
one stored receipt per notice id; one deadline request per notice with an SLA.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from mynaflow_testing.faults import (
    IntakeUnderTest,
    Load,
    print_counts,
    produce_records,
    running_intake,
)
from mynaflow_testing.processes import Fleet

pytestmark = pytest.mark.faults

KILLS = 3
FURTHER_PROGRESS = 0.20
# The load arrives over at least this long, so the third kill still lands mid-load when
# notice-intake is faster than the kill-and-restart cycle (small volumes).
LOAD_S = 30.0


async def test_kill_9_of_notice_intake_three_times_mid_load_loses_and_doubles_nothing(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    started = time.monotonic()
    async with running_intake(
        fleet, database_url=fault_database_url, bootstrap=kafka_bootstrap, prefix=topic_prefix
    ) as intake:
        producing = asyncio.create_task(
            produce_records(
                kafka_bootstrap, intake.raw_topic, load.records, window=200, over_s=LOAD_S
            )
        )
        step = math.ceil(FURTHER_PROGRESS * len(load.records))
        at_kills = await kill_after_each_step(intake, step)
        await producing
        print_counts("fault 1", {"notices": len(load.records), "receipted at kills": at_kills})
        assert at_kills[-1] < len(load.records), "the last kill came after the load was done"
        await intake.check_invariants("fault 1: SIGKILL x3", load)
        assert await intake.terminate_cleanly() == 0
    print_counts("fault 1", {"seconds": round(time.monotonic() - started, 1)})


async def kill_after_each_step(intake: IntakeUnderTest, step: int) -> list[int]:
    """SIGKILL once `step` more notices were receipted than at the last kill; restart."""
    at_kills: list[int] = []
    last = 0
    for _ in range(KILLS):
        await intake.wait_receipted(last + step)
        intake.process.kill()
        last = intake.receipted()
        at_kills.append(last)
        await intake.process.start_ready()
    return at_kills
