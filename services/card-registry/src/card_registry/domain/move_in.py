"""The move-in case and its four-eyes chip rewrite (docs/domain.md, "Move-in and the chip rewrite").

A resident who moves in with a card gets a case of three steps: surface print (券面記載), chip
rewrite (継続利用の手続) and verification by a *different* staff member. Invariants:

- The case is complete only when verified; a verification before any rewrite, or by the staff
  member who did the rewrite, is rejected.
- The card stays valid only if the case completes by the end of `notified_on + 90 days` (JST;
  the notification day is not counted). Past that, or when the resident moves out first, the
  case lapses and the card expires.
- Commands are judged as of when they were performed: a step performed before the case lapsed
  is accepted even when it is recorded afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from mynaflow.contracts.registry import RejectionReason
from mynaflow.domain.time import end_of_jst_day, to_jst_date

from card_registry.domain.rejections import Rejected

CHIP_REWRITE_DAYS = 90


def chip_rewrite_due_on(notified_on: date) -> date:
    """The last valid day: the notification day is not counted (初日不算入)."""
    return notified_on + timedelta(days=CHIP_REWRITE_DAYS)


def chip_rewrite_due_at(notified_on: date) -> datetime:
    """The end of the last valid day in JST: 2022-03-15 → 2022-06-13 23:59:59.999999 JST."""
    return end_of_jst_day(chip_rewrite_due_on(notified_on))


def surface_chip_due_on(surface_printed_at: datetime) -> date:
    """A surface print needs its chip rewrite by the end of the same JST day."""
    return to_jst_date(surface_printed_at)


class CaseStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    LAPSED = "lapsed"


@dataclass(frozen=True)
class MoveInCase:
    notified_on: date
    status: CaseStatus = CaseStatus.OPEN
    surface_printed_by: str | None = None
    surface_printed_at: datetime | None = None
    rewritten_by: str | None = None
    rewritten_at: datetime | None = None
    verified_by: str | None = None
    verified_at: datetime | None = None
    lapsed_at: datetime | None = None
    lapse_reason: str | None = None
    mismatch_reported: bool = False

    @property
    def due_at(self) -> datetime:
        return chip_rewrite_due_at(self.notified_on)

    def was_open_at(self, at: datetime) -> bool:
        """Open at that instant: not complete, and not lapsed yet then."""
        if self.status is CaseStatus.COMPLETE:
            return False
        return self.lapsed_at is None or at < self.lapsed_at


def _require_open(case: MoveInCase | None, at: datetime) -> MoveInCase:
    if case is None or case.status is CaseStatus.COMPLETE:
        raise Rejected(RejectionReason.NO_OPEN_CASE, "the card has no open move-in case")
    if not case.was_open_at(at):
        raise Rejected(
            RejectionReason.CARD_EXPIRED,
            f"the move-in case lapsed ({case.lapse_reason}) before this was performed",
        )
    return case


def record_surface_print(case: MoveInCase | None, staff_id: str, at: datetime) -> MoveInCase:
    """Step 1. A reprint replaces the earlier print (the same-day rule counts from the last)."""
    open_case = _require_open(case, at)
    return replace(
        open_case, surface_printed_by=staff_id, surface_printed_at=at, mismatch_reported=False
    )


def record_chip_rewrite(case: MoveInCase | None, staff_id: str, at: datetime) -> MoveInCase:
    """Step 2. A second rewrite replaces the first, and with it who may not verify."""
    return replace(_require_open(case, at), rewritten_by=staff_id, rewritten_at=at)


def verify_chip_rewrite(case: MoveInCase | None, staff_id: str, at: datetime) -> MoveInCase:
    """Step 3, the four-eyes check: by someone else, after the rewrite. Completes the case."""
    open_case = _require_open(case, at)
    if open_case.rewritten_by is None or open_case.rewritten_at is None:
        raise Rejected(RejectionReason.NOT_REWRITTEN, "no chip rewrite has been recorded yet")
    if at < open_case.rewritten_at:
        raise Rejected(
            RejectionReason.NOT_REWRITTEN, "the verification was performed before the rewrite"
        )
    if staff_id == open_case.rewritten_by:
        raise Rejected(
            RejectionReason.FOUR_EYES_SAME_STAFF,
            f"{staff_id} rewrote the chip; a different staff member must verify it",
        )
    return replace(open_case, status=CaseStatus.COMPLETE, verified_by=staff_id, verified_at=at)


def lapse(case: MoveInCase, at: datetime, reason: str) -> MoveInCase:
    """The case can no longer complete (deadline passed, or moved out first)."""
    return replace(case, status=CaseStatus.LAPSED, lapsed_at=at, lapse_reason=reason)


def chip_was_rewritten_same_day(case: MoveInCase) -> bool:
    """Whether the chip was rewritten by the end of the surface print's JST day."""
    if case.surface_printed_at is None or case.rewritten_at is None:
        return False
    return case.rewritten_at <= end_of_jst_day(surface_chip_due_on(case.surface_printed_at))


def is_surface_chip_mismatch(case: MoveInCase) -> bool:
    """Case 2: printed, not rewritten that day, not reported yet. Holds even once lapsed."""
    printed = case.surface_printed_at is not None
    return printed and not case.mismatch_reported and not chip_was_rewritten_same_day(case)
