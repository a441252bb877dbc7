"""The deadlines card-registry asks deadline-watcher to keep: keys, subjects and audiences.

Every request names the card in `subject` (`{"type": "resident_card", "ids": {card_id,
resident_id}}`) and has `resident_id` and `queue` in `audience`; `surface-chip:` also names the
staff member who printed the surface (`assignee`). Every clear carries `resolved_at` = the
command's `performed_at`, so backdated work is judged by when it was done.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from mynaflow.contracts.deadlines import (
    ClearDeadline,
    DeadlineAudience,
    DeadlineSubject,
    ScheduleDeadline,
    deadline_request_event,
)
from mynaflow.contracts.envelope import CloudEvent
from mynaflow.contracts.registry import SOURCE
from mynaflow.domain.time import start_of_jst_day

from card_registry.domain.lifecycle import Card
from card_registry.domain.move_in import chip_rewrite_due_on, surface_chip_due_on

CHIP_REWRITE_POLICY = "chip_rewrite_90d"
SURFACE_CHIP_POLICY = "surface_chip_same_day"
CARD_PICKUP_POLICY = "card_pickup"
CARD_RENEWAL_POLICY = "card_renewal"


def chip_rewrite_key(card_id: str) -> str:
    return f"chip-rewrite:{card_id}"


def surface_chip_key(card_id: str) -> str:
    return f"surface-chip:{card_id}"


def card_pickup_key(card_id: str) -> str:
    return f"card-pickup:{card_id}"


def card_renewal_key(card_id: str) -> str:
    return f"card-renewal:{card_id}"


def certificate_renewal_key(card_id: str) -> str:
    return f"certificate-renewal:{card_id}"


def card_subject(card: Card) -> DeadlineSubject:
    return DeadlineSubject(
        type="resident_card", ids={"card_id": card.card_id, "resident_id": card.resident_id}
    )


def _schedule(
    card: Card,
    key: str,
    policy: str,
    due_on: date,
    queue: str,
    *,
    starts_at: datetime,
    assignee: str | None = None,
) -> ScheduleDeadline:
    audience = DeadlineAudience(queue=queue, resident_id=card.resident_id, assignee=assignee)
    return ScheduleDeadline(
        key=key,
        policy=policy,
        due_on=due_on,
        subject=card_subject(card),
        audience=audience,
        starts_at=starts_at,
    )


def schedule_chip_rewrite(card: Card, notified_on: date, queue: str) -> ScheduleDeadline:
    """Always requested, even when already past due: the watcher's breach expires the card."""
    due_on = chip_rewrite_due_on(notified_on)
    starts_at = start_of_jst_day(notified_on)
    return _schedule(
        card,
        chip_rewrite_key(card.card_id),
        CHIP_REWRITE_POLICY,
        due_on,
        queue,
        starts_at=starts_at,
    )


def schedule_surface_chip(
    card: Card, printed_by: str, printed_at: datetime, queue: str
) -> ScheduleDeadline:
    """The same-day rule as a durable deadline: its breach is Case 2's mismatch."""
    return _schedule(
        card,
        surface_chip_key(card.card_id),
        SURFACE_CHIP_POLICY,
        surface_chip_due_on(printed_at),
        queue,
        starts_at=printed_at,
        assignee=printed_by,
    )


def schedule_card_pickup(
    card: Card, due_on: date, queue: str, notice_at: datetime
) -> ScheduleDeadline:
    key = card_pickup_key(card.card_id)
    return _schedule(card, key, CARD_PICKUP_POLICY, due_on, queue, starts_at=notice_at)


def schedule_renewals(card: Card, queue: str, handed_over_at: datetime) -> list[ScheduleDeadline]:
    """The card's and the certificate's end of validity (renewal opens 3 months before)."""
    requests = []
    if card.card_valid_until is not None:
        key = card_renewal_key(card.card_id)
        requests.append(
            _schedule(
                card,
                key,
                CARD_RENEWAL_POLICY,
                card.card_valid_until,
                queue,
                starts_at=handed_over_at,
            )
        )
    if card.certificate_valid_until is not None:
        key = certificate_renewal_key(card.card_id)
        requests.append(
            _schedule(
                card,
                key,
                CARD_RENEWAL_POLICY,
                card.certificate_valid_until,
                queue,
                starts_at=handed_over_at,
            )
        )
    return requests


def clear(key: str, reason: str, resolved_at: datetime) -> ClearDeadline:
    return ClearDeadline(key=key, reason=reason, resolved_at=resolved_at)


def request_event(request: ScheduleDeadline | ClearDeadline, now: datetime) -> CloudEvent[Any]:
    """The CloudEvent for a request, stamped `now`; key and subject are the deadline key."""
    event = deadline_request_event(request, source=SOURCE)
    return event.model_copy(update={"time": now})
