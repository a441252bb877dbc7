"""notice-intake with worker processes (`INTAKE_WORKERS=2`): the parent starts one worker, both
consume in one group, and every notice is receipted once (one receipt id, one first receipt,
one deadline request each). A SIGTERM to the parent stops the worker too and both exit cleanly;
a SIGKILL of the parent takes the worker with it (PR_SET_PDEATHSIG), and after a restart
nothing is lost or doubled; a worker that dies stops its parent with exit 1 (crash-only)."""

from __future__ import annotations

import contextlib
import math
import os
import signal

import pytest
from mynaflow_testing.faults import (
    IntakeUnderTest,
    Load,
    child_pids,
    group_member_count,
    is_alive,
    print_counts,
    produce_records,
    running_intake,
)
from mynaflow_testing.processes import Fleet
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.faults

WORKERS = {"INTAKE_WORKERS": "2"}


def with_workers(
    fleet: Fleet, database_url: str, bootstrap: str, prefix: str
) -> contextlib.AbstractAsyncContextManager[IntakeUnderTest]:
    """notice-intake started with one worker, followed (see `running_intake`)."""
    return running_intake(
        fleet, database_url=database_url, bootstrap=bootstrap, prefix=prefix, extra_env=WORKERS
    )


async def the_worker(intake: IntakeUnderTest) -> int:
    """The pid of the parent's one worker, once it has started."""
    parent = intake.process.process
    assert parent is not None

    async def children() -> list[int]:
        return child_pids(parent.pid)

    (worker,) = await wait_for(children, until=lambda pids: len(pids) == 1, what="one worker")
    return worker


async def test_two_processes_receipt_each_notice_once_and_stop_together(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    async with with_workers(fleet, fault_database_url, kafka_bootstrap, topic_prefix) as intake:
        worker = await the_worker(intake)

        async def members() -> int:
            return await group_member_count(kafka_bootstrap, intake.group)

        await wait_for(members, until=lambda count: count == 2, what="two group members")
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records)
        await intake.check_invariants("workers: two processes", load)
        assert is_alive(worker)
        assert await intake.terminate_cleanly() == 0
        assert not is_alive(worker)


async def test_a_killed_parent_takes_its_worker_and_a_restart_loses_and_doubles_nothing(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    async with with_workers(fleet, fault_database_url, kafka_bootstrap, topic_prefix) as intake:
        worker = await the_worker(intake)
        half = len(load.records) // 2
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records[:half])
        await intake.wait_receipted(math.ceil(0.2 * len(load.records)))
        intake.process.kill()

        async def worker_alive() -> bool:
            return is_alive(worker)

        await wait_for(worker_alive, until=lambda alive: not alive, what="the worker to exit")
        at_kill = intake.receipted()
        await intake.process.start_ready()
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records[half:])
        print_counts("workers: SIGKILL of the parent", {"receipted at kill": at_kill})
        await intake.check_invariants("workers: SIGKILL of the parent", load)
        assert await intake.terminate_cleanly() == 0


async def test_a_worker_that_dies_stops_its_parent_with_a_failure(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet
) -> None:
    """Crash-only: a worker gone means the set is not what was configured, so the parent stops
    (exit 1, for the container to restart) instead of running on with fewer consumers."""
    async with with_workers(fleet, fault_database_url, kafka_bootstrap, topic_prefix) as intake:
        worker = await the_worker(intake)
        os.kill(worker, signal.SIGKILL)
        parent = intake.process.process
        assert parent is not None

        async def parent_exit_code() -> int | None:
            return parent.poll()

        code = await wait_for(parent_exit_code, until=lambda c: c is not None, what="parent exit")
        assert code == 1
        assert "notice-intake worker(s) exited" in intake.process.log_text()
