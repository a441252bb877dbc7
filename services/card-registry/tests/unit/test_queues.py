"""Queue membership and orphan detection: orphaned once until staffed again."""

from __future__ import annotations

import pytest
from card_registry.domain.queues import Queue, join, leave, work_arrived
from card_registry.domain.rejections import Rejected
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.contracts.registry import RejectionReason

pytestmark = pytest.mark.unit


def test_the_last_member_leaving_a_queue_with_open_work_orphans_it() -> None:
    change = leave(Queue("records", ("S-1",)), "S-1", open_items=3)
    assert (change.orphaned, change.queue.members) == ("last_member_left", ())


def test_the_last_member_leaving_an_empty_queue_does_not() -> None:
    assert leave(Queue("records", ("S-1",)), "S-1", open_items=0).orphaned is None


def test_work_arriving_in_an_unstaffed_queue_orphans_it_once_until_someone_joins() -> None:
    first = work_arrived(Queue("records"))
    assert first.orphaned == "work_arrived_unstaffed"
    assert work_arrived(first.queue).orphaned is None
    staffed = join(first.queue, "S-2")
    assert staffed.staffed
    assert staffed.queue == Queue("records", ("S-2",), orphaned=False)
    left = leave(staffed.queue, "S-2", open_items=1)
    assert left.orphaned == "last_member_left"


def test_leaving_a_queue_one_is_not_in_and_joining_twice_are_rejected() -> None:
    with pytest.raises(Rejected) as not_member:
        leave(Queue("records", ("S-1",)), "S-9", open_items=0)
    assert not_member.value.reason is RejectionReason.NOT_A_MEMBER
    with pytest.raises(Rejected) as twice:
        join(Queue("records", ("S-1",)), "S-1")
    assert twice.value.reason is RejectionReason.ALREADY_A_MEMBER


@given(st.lists(st.tuples(st.sampled_from(["join", "leave", "work"]), st.sampled_from("ABC"))))
def test_orphaned_is_reported_at_most_once_between_two_staffings(
    steps: list[tuple[str, str]],
) -> None:
    queue, open_items, reports = Queue("q"), 0, 0
    for step, staff in steps:
        try:
            if step == "join":
                change = join(queue, staff)
                reports = 0 if change.staffed else reports
            elif step == "leave":
                change = leave(queue, staff, open_items)
            else:
                open_items += 1
                change = work_arrived(queue)
        except Rejected:
            continue
        queue = change.queue
        reports += change.orphaned is not None
        assert reports <= 1
        assert queue.orphaned == (not queue.members and reports == 1)
