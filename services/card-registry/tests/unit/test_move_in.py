"""The move-in case: four eyes, verification after rewrite, the 90-day and same-day rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from card_registry.domain.move_in import (
    CaseStatus,
    MoveInCase,
    chip_rewrite_due_at,
    is_surface_chip_mismatch,
    lapse,
    record_chip_rewrite,
    record_surface_print,
    verify_chip_rewrite,
)
from card_registry.domain.rejections import Rejected
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.contracts.registry import RejectionReason
from mynaflow.domain.time import JST

pytestmark = pytest.mark.unit

T0 = datetime(2022, 3, 15, 1, 0, tzinfo=UTC)  # 10:00 JST


def test_the_chip_rewrite_is_due_at_the_end_of_notified_on_plus_90_days_in_jst() -> None:
    due = chip_rewrite_due_at(date(2022, 3, 15))
    assert due.astimezone(JST).replace(microsecond=0) == datetime(
        2022, 6, 13, 23, 59, 59, tzinfo=JST
    )
    assert due + timedelta(microseconds=1) == datetime(2022, 6, 14, 0, 0, tzinfo=JST)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)))
def test_the_last_valid_day_is_always_90_days_after_the_notification(notified: date) -> None:
    due = chip_rewrite_due_at(notified).astimezone(JST)
    assert due.date() - notified == timedelta(days=90)
    assert (due + timedelta(microseconds=1)).date() == notified + timedelta(days=91)


def rewritten(by: str = "S-1") -> MoveInCase:
    case = record_surface_print(MoveInCase(date(2022, 3, 15)), "S-1", T0)
    return record_chip_rewrite(case, by, T0 + timedelta(minutes=10))


def test_verification_by_the_rewriter_is_rejected_as_four_eyes_same_staff() -> None:
    with pytest.raises(Rejected) as rejected:
        verify_chip_rewrite(rewritten("S-1"), "S-1", T0 + timedelta(minutes=20))
    assert rejected.value.reason is RejectionReason.FOUR_EYES_SAME_STAFF


def test_verification_before_any_rewrite_is_rejected() -> None:
    printed = record_surface_print(MoveInCase(date(2022, 3, 15)), "S-1", T0)
    with pytest.raises(Rejected) as rejected:
        verify_chip_rewrite(printed, "S-2", T0 + timedelta(minutes=20))
    assert rejected.value.reason is RejectionReason.NOT_REWRITTEN


def test_verification_performed_before_the_rewrite_was_performed_is_rejected() -> None:
    with pytest.raises(Rejected) as rejected:
        verify_chip_rewrite(rewritten(), "S-2", T0 + timedelta(minutes=5))
    assert rejected.value.reason is RejectionReason.NOT_REWRITTEN


def test_a_second_staff_member_completes_the_case() -> None:
    case = verify_chip_rewrite(rewritten("S-1"), "S-2", T0 + timedelta(minutes=20))
    assert (case.status, case.verified_by) == (CaseStatus.COMPLETE, "S-2")


def test_a_step_performed_before_the_case_lapsed_is_accepted_when_recorded_later() -> None:
    case = lapse(rewritten(), chip_rewrite_due_at(date(2022, 3, 15)), "chip_rewrite_overdue")
    before = datetime(2022, 6, 13, 12, 0, tzinfo=JST)
    assert verify_chip_rewrite(case, "S-2", before).status is CaseStatus.COMPLETE
    with pytest.raises(Rejected) as rejected:
        verify_chip_rewrite(case, "S-2", datetime(2022, 6, 14, 0, 0, tzinfo=JST))
    assert rejected.value.reason is RejectionReason.CARD_EXPIRED


def test_a_surface_print_without_a_rewrite_that_jst_day_is_a_mismatch() -> None:
    printed = record_surface_print(MoveInCase(date(2022, 3, 15)), "S-1", T0)
    assert is_surface_chip_mismatch(printed)
    late = record_chip_rewrite(printed, "S-1", datetime(2022, 3, 16, 0, 0, tzinfo=JST))
    assert is_surface_chip_mismatch(late)
    same_day = record_chip_rewrite(printed, "S-1", datetime(2022, 3, 15, 23, 59, tzinfo=JST))
    assert not is_surface_chip_mismatch(same_day)


def test_the_mismatch_holds_even_after_the_card_lapsed() -> None:
    printed = record_surface_print(MoveInCase(date(2022, 3, 15)), "S-1", T0)
    assert is_surface_chip_mismatch(lapse(printed, T0 + timedelta(days=90), "chip_rewrite_overdue"))
