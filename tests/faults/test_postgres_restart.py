"""Fault 4: PostgreSQL stopped (as a crash: `pg_ctl stop -m immediate`) and restarted mid-load
(a server of the test's own, committing synchronously). Half the load is published before the
outage, which begins once 20 % of the notices were receipted, and half during it.

No offset may be committed past an unapplied message:
- while the database is down, notice-intake's committed offsets do not move: sampled once it
  reports the database away, and again after it has retried (its transient-failure counter
  rose), they are equal;
- they are never past what the database had applied (its per-partition mark, read as soon as
  the server is back).
Then the invariants of fault 1: every notice receipted once, one stored receipt each, one
deadline request each.
"""

from __future__ import annotations

import math

import httpx
import pytest
from mynaflow_testing.faults import (
    IntakeUnderTest,
    Load,
    applied_through,
    assert_no_commit_past_applied,
    committed,
    print_counts,
    produce_records,
    running_intake,
)
from mynaflow_testing.own_servers import OwnPostgres
from mynaflow_testing.processes import Fleet
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.faults

PROGRESS_BEFORE_OUTAGE = 0.20
FURTHER_RETRIES = 3


async def test_postgres_stopped_and_restarted_mid_load_commits_nothing_unapplied(
    kafka_bootstrap: str, topic_prefix: str, own_postgres: OwnPostgres, fleet: Fleet, load: Load
) -> None:
    async with running_intake(
        fleet, database_url=own_postgres.url, bootstrap=kafka_bootstrap, prefix=topic_prefix
    ) as intake:
        half = len(load.records) // 2
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records[:half])
        await intake.wait_receipted(math.ceil(PROGRESS_BEFORE_OUTAGE * len(load.records)))
        await own_postgres.stop("immediate")
        at_outage = intake.receipted()
        # Published into the outage, so that notice-intake has work it cannot apply.
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records[half:])
        commits = await commits_while_the_database_is_down(intake)
        await own_postgres.start()
        applied = await applied_through(own_postgres.url, intake.raw_topic)
        print_counts("fault 4", {"notices": len(load.records), "receipted at outage": at_outage})
        assert at_outage < len(load.records), "the outage came after the load was done"
        assert_no_commit_past_applied("fault 4", commits, applied)
        await intake.check_invariants("fault 4: PostgreSQL restart", load)
        assert await intake.terminate_cleanly() == 0


async def commits_while_the_database_is_down(intake: IntakeUnderTest) -> dict[int, int]:
    """The committed offsets once the outage is noticed; they must not move while it lasts."""
    await wait_for(
        lambda: intake.process.answers("/readyz"),
        until=lambda ready: not ready,
        timeout=60,
        what="notice-intake to report the database away",
    )
    first = await committed(intake.bootstrap, intake.group, intake.raw_topic)
    retries = await transient_failures(intake)
    await wait_for(
        lambda: transient_failures(intake),
        until=lambda now: now >= retries + FURTHER_RETRIES,
        timeout=60,
        what=f"{FURTHER_RETRIES} more retries while the database is down",
    )
    again = await committed(intake.bootstrap, intake.group, intake.raw_topic)
    print_counts("fault 4 commits while down", {"first": first, "after retries": again})
    assert again == first, "an offset was committed while nothing could be applied"
    return again


async def transient_failures(intake: IntakeUnderTest) -> float:
    """`mynaflow_messages_failed_total{kind="transient"}`, summed over topics."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"{intake.process.url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mynaflow_messages_failed_total{") and 'kind="transient"' in line
    )
