"""Fault 6: duplicate delivery, two ways.

1. Re-produce 10 % of the notices (the same bytes, as a J-LIS adapter that resends): the
   duplicate count rises by exactly the number re-produced, and every notice keeps its one
   receipt id and its one first receipt; no new deadline request.
2. Reset notice-intake's consumer group to the earliest offset (it reads the whole topic again,
   duplicates included): the reset alone changes nothing at all. Shown with a sentinel notice
   sent after the replay was committed: once its receipt is out, every event the replay could
   have emitted would be out too (the outbox publishes in order), and the only new events are
   the sentinel's own; `/stats` differs by the sentinel's one receipt.
"""

from __future__ import annotations

import pytest
from mynaflow_testing.faults import (
    IntakeUnderTest,
    Load,
    OutRecord,
    ReceiptCheck,
    TopicFollower,
    committed,
    end_offsets,
    print_counts,
    produce_records,
    reset_group_to_earliest,
    running_intake,
    wait_group_empty,
)
from mynaflow_testing.processes import Fleet
from mynaflow_testing.waiting import wait_for
from mynaflow_tools.loadtest.notices import generate_notices, new_run_id

pytestmark = pytest.mark.faults

EVERY_NTH_RESENT = 10


async def test_reproduced_notices_count_as_duplicates_and_a_group_reset_changes_nothing(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    async with running_intake(
        fleet, database_url=fault_database_url, bootstrap=kafka_bootstrap, prefix=topic_prefix
    ) as intake:
        await produce_records(kafka_bootstrap, intake.raw_topic, load.records)
        await intake.check_invariants("fault 6: first delivery", load)

        resent = load.records[::EVERY_NTH_RESENT]
        await produce_records(kafka_bootstrap, intake.raw_topic, resent)
        await wait_for(
            intake.stats,
            until=lambda stats: stats["by_status"]["duplicate"] >= len(resent),
            timeout=120,
            what=f"{len(resent)} duplicates counted",
        )
        await intake.check_invariants("fault 6: 10 % re-produced", load, duplicates=len(resent))
        duplicated = +ReceiptCheck.of(load.ids, intake.receipts()).duplicates()
        assert duplicated == {record.key.decode(): 1 for record in resent if record.key}

        await replay_from_earliest_changes_nothing(intake, kafka_bootstrap)


async def replay_from_earliest_changes_nothing(intake: IntakeUnderTest, bootstrap: str) -> None:
    follower = intake.follower
    assert follower is not None
    await follower.wait_caught_up(bootstrap)
    before = {topic: follower.event_ids(topic) for topic in follower.topics}
    stats_before = await intake.stats()

    assert await intake.terminate_cleanly() == 0
    await wait_group_empty(bootstrap, intake.group)
    reset_to = await reset_group_to_earliest(bootstrap, intake.group, intake.raw_topic)
    print_counts("fault 6 reset to earliest", {str(p): o for p, o in sorted(reset_to.items())})
    ends = await end_offsets(bootstrap, intake.raw_topic)
    # The replay is real: every partition starts again from its first record.
    assert await committed(bootstrap, intake.group, intake.raw_topic) == reset_to
    assert reset_to.keys() == ends.keys()
    await intake.process.start_ready()
    await wait_for(
        lambda: committed(bootstrap, intake.group, intake.raw_topic),
        until=lambda commits: commits == ends,
        timeout=180,
        what=f"the replay committed up to {ends}",
    )

    sentinel = next(iter(generate_notices(new_run_id(), 1)))
    await produce_records(bootstrap, intake.raw_topic, [OutRecord(sentinel.key, sentinel.payload)])
    await follower.wait_until(
        lambda: sentinel.notice_id in {e["subject"] for e in intake.receipts()},
        timeout_s=60,
        what="the sentinel's receipt",
    )
    await follower.wait_caught_up(bootstrap)
    assert_only_the_sentinel_is_new(follower, before, sentinel.notice_id)
    stats_after = await intake.stats()
    print_counts("fault 6 /stats before reset", stats_before["by_status"])
    print_counts("fault 6 /stats after replay + sentinel", stats_after["by_status"])
    expected = dict(stats_before["by_status"])
    expected["accepted"] += 1
    assert stats_after["by_status"] == expected
    assert await intake.terminate_cleanly() == 0


def assert_only_the_sentinel_is_new(
    follower: TopicFollower, before: dict[str, set[str]], sentinel_id: str
) -> None:
    for topic in follower.topics:
        new = [e for e in follower.events(topic) if e["id"] not in before[topic]]
        subjects = sorted({str(e.get("subject")) for e in new})
        print_counts(f"fault 6 new events on {topic}", {"count": len(new), "subjects": subjects})
        assert {s.removeprefix("notice:") for s in subjects} == {sentinel_id}
        assert len({e["id"] for e in new}) == 1
