"""Builders of the input events the notifier's tests produce (as their producers write them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mynaflow.contracts import deadlines, registry, resident
from mynaflow.contracts.envelope import CloudEvent, encode_event, make_event

NOW = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def breach(
    key: str,
    *,
    queue: str = "card-records",
    policy: str = "notice_sla",
    event_id: str | None = None,
) -> CloudEvent[Any]:
    due = NOW - timedelta(days=400)
    data = deadlines.DeadlineEvent(
        key=key,
        policy=policy,
        stage="breach",
        role="desk_manager",
        due_at=due,
        at=due,
        fired_at=NOW,
        late=True,
        subject=deadlines.DeadlineSubject(type="notice", ids={"notice_id": key.split(":")[-1]}),
        audience=deadlines.DeadlineAudience(queue=queue),
    )
    event = make_event(
        source="deadline-watcher",
        event_type=deadlines.DEADLINE_BREACHED_V1,
        data=data,
        subject=key,
    )
    return event if event_id is None else event.model_copy(update={"id": event_id})


def resident_stage(resident_id: str, card_id: str, stage: str = "resident_30d") -> CloudEvent[Any]:
    due = datetime(2022, 6, 13, 14, 59, 59, 999999, tzinfo=UTC)
    data = deadlines.DeadlineEvent(
        key=f"chip-rewrite:{card_id}",
        policy="chip_rewrite_90d",
        stage=stage,
        role="resident",
        due_at=due,
        at=datetime(2022, 5, 14, 0, 0, tzinfo=UTC),
        fired_at=NOW,
        subject=deadlines.DeadlineSubject(
            type="resident_card", ids={"card_id": card_id, "resident_id": resident_id}
        ),
        audience=deadlines.DeadlineAudience(queue="card-records", resident_id=resident_id),
    )
    return make_event(
        source="deadline-watcher",
        event_type=deadlines.DEADLINE_STAGE_REACHED_V1,
        data=data,
        subject=data.key,
    )


def moved_in(
    resident_id: str,
    household_id: str,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    card_id: str | None = None,
) -> CloudEvent[Any]:
    data = resident.ResidentMovedIn(
        resident_id=resident_id,
        household_id=household_id,
        notified_on=date(2022, 3, 15),
        moved_in_on=date(2022, 3, 14),
        name=name,
        address="横浜市中区山下町1-2-3",
        birth_date=date(1980, 4, 1),
        card_id=card_id,
        card_presented=True,
        email=email,
        phone=phone,
        postal_code="231-0023",
        name_kana="タカハシ サキコ",
    )
    return resident.resident_event(data, event_type=resident.MOVED_IN_V1)


def moved_out(resident_id: str, household_id: str) -> CloudEvent[Any]:
    data = resident.ResidentMovedOut(
        resident_id=resident_id,
        household_id=household_id,
        moved_out_on=date(2022, 5, 1),
        notified_on=date(2022, 5, 1),
    )
    return resident.resident_event(data, event_type=resident.MOVED_OUT_V1)


def encoded(event: CloudEvent[Any]) -> bytes:
    return encode_event(event)


def command_rejected(staff_id: str, card_id: str = "C-0042") -> CloudEvent[Any]:
    data = registry.CommandOutcome(
        command_id="3f1c2a4e-8d3b-4c1e-9a57-2b8e0d4f7a10",
        command_type=registry.VERIFY_CHIP_REWRITE_V1,
        staff_id=staff_id,
        performed_at=NOW,
        card_id=card_id,
        reason="four_eyes_same_staff",
        message="書換を行った職員本人は確認できません（二人確認）",
    )
    return registry.registry_event(registry.COMMAND_REJECTED_V1, data, subject=card_id)
