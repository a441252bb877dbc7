"""Aggregation keys (staff per recipient+template; households per deadline) and the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from notifier.adapters.config_files import load_staff
from notifier.domain.aggregation import aggregation_key, listed
from notifier.domain.digest import TrackedDeadline, digest_by_queue, digest_for
from notifier.domain.staff import StaffConfigError, staff_directory

pytestmark = pytest.mark.unit

DEADLINE = {"policy": "chip_rewrite_90d", "stage": "resident_30d", "due_at": "2022-06-13T14:59"}


def test_staff_messages_fold_per_recipient_template_and_channel() -> None:
    def key(recipient: str, data_key: str) -> str | None:
        return aggregation_key(
            reader="staff",
            recipient_id=recipient,
            household_id=None,
            template="manager_escalation",
            channel="email",
            data={"key": data_key},
        )

    one, two, other = key("M-1", "a"), key("M-1", "b"), key("M-2", "a")
    assert one == two != other


def test_household_letters_about_the_same_deadline_merge_but_residents_email_never() -> None:
    def key(resident: str, household: str, channel: str = "letter", **extra: str) -> str | None:
        return aggregation_key(
            reader="resident",
            recipient_id=resident,
            household_id=household,
            template="chip_rewrite_reminder",
            channel=channel,  # type: ignore[arg-type]
            data={**DEADLINE, **extra},
        )

    assert key("R-1", "H-1") == key("R-2", "H-1") is not None
    assert key("R-1", "H-1") != key("R-3", "H-2")
    assert key("R-1", "H-1") != key("R-2", "H-1", stage="resident_14d")
    assert key("R-1", "H-1", channel="email") is None


def test_an_aggregated_message_lists_the_first_fifty_and_counts_all() -> None:
    shown, count = listed(list(range(48)))
    assert (len(shown), count) == (48, 48)
    shown, count = listed(list(range(120)))
    assert (shown[-1], len(shown), count) == (49, 50, 120)


def test_the_digest_groups_by_queue() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    day = timedelta(days=1)
    deadlines = [
        TrackedDeadline("a", "card-records", now - 3 * day, now - 10 * day, breached=True),
        TrackedDeadline("b", "card-records", now + day, None, breached=False),
        TrackedDeadline("c", "triage", now - day, None, breached=True),
    ]
    lines = digest_by_queue(deadlines, now)
    assert [(x.queue, x.open, x.overdue, x.oldest_age) for x in lines] == [
        ("card-records", 2, 1, 10 * day),
        ("triage", 1, 1, day),
    ]
    assert [d.key for d in lines[0].breached] == ["a"]
    assert [x.queue for x in digest_for(["triage"], lines)] == ["triage"]


def test_shipped_staff_name_a_manager_for_every_queue_and_refuse_unknown_ones() -> None:
    staff = load_staff()
    assert staff.desk_manager("card-records") is not None
    assert staff.desk_manager("a-new-queue") is not None
    with pytest.raises(StaffConfigError):
        staff_directory([("test", {"queues": {"q": {"desk_manager": "ghost"}}})])
