"""Fault 3: the Kafka broker stopped and restarted mid-load (a broker of the test's own).

notice-intake consumes from it, commits to it and publishes its receipts through it. Half the
load is published before the outage and half after. The broker is stopped once at least 20 % of
the notices were receipted, and started again (same port, same data) once notice-intake reports
itself not ready: the outage was noticed, not merely scheduled.

Invariants: those of fault 1 (every notice receipted once, one stored receipt each, one deadline
request each); notice-intake comes back by itself and stops cleanly.
"""

from __future__ import annotations

import math

import pytest
from mynaflow_testing.faults import Load, print_counts, produce_records, running_intake
from mynaflow_testing.own_servers import OwnKafka
from mynaflow_testing.processes import Fleet
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.faults

PROGRESS_BEFORE_OUTAGE = 0.20


async def test_broker_stopped_and_restarted_mid_load_loses_and_doubles_nothing(
    own_kafka: OwnKafka, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    bootstrap = own_kafka.bootstrap
    async with running_intake(
        fleet, database_url=fault_database_url, bootstrap=bootstrap, prefix=topic_prefix
    ) as intake:
        half = len(load.records) // 2
        await produce_records(bootstrap, intake.raw_topic, load.records[:half])
        await intake.wait_receipted(math.ceil(PROGRESS_BEFORE_OUTAGE * len(load.records)))
        await own_kafka.stop()
        at_outage = intake.receipted()
        await wait_for(
            lambda: intake.process.answers("/readyz"),
            until=lambda ready: not ready,
            timeout=60,
            what="notice-intake to report the broker away",
        )
        await own_kafka.start()
        print_counts("fault 3", {"notices": len(load.records), "receipted at outage": at_outage})
        assert at_outage < len(load.records), "the outage came after the load was done"
        await produce_records(bootstrap, intake.raw_topic, load.records[half:])
        await intake.check_invariants("fault 3: broker restart", load)
        assert await intake.terminate_cleanly() == 0
