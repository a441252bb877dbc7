"""The contract events the watcher emits, built from domain values (pure: no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts.deadlines import (
    DEADLINE_BREACHED_V1,
    DEADLINE_CLEARED_V1,
    DEADLINE_DIGEST_DUE_V1,
    DEADLINE_HEARTBEAT_V1,
    DEADLINE_SCHEDULED_V1,
    DEADLINE_STAGE_REACHED_V1,
    DeadlineAudience,
    DeadlineEvent,
    DeadlineSubject,
    DigestDue,
    Heartbeat,
    OverdueDeadline,
)
from mynaflow.contracts.envelope import CloudEvent, make_event

from deadline_watcher.domain.catchup import Decision
from deadline_watcher.domain.deadline import Deadline
from deadline_watcher.domain.digest import overdue_days
from deadline_watcher.domain.ladder import Ladder

SOURCE = "deadline-watcher"


# A request's subject and audience as its validation left them (so redacted field by field),
# given only when the whole-object redaction of them found nothing more (service_layer/requests).
Validated = tuple[DeadlineSubject, DeadlineAudience]


def _data(
    deadline: Deadline, fired_at: datetime, validated: Validated | None = None, **fields: Any
) -> DeadlineEvent:
    """The event's data, validated in one call (subject and audience are validated, and so
    redacted, as part of it: a value read back from the table is checked again on the way out).

    `validated` models are taken as they are (a model instance is not validated again): they
    must be the request's own, just validated, and equal to the deadline's subject and audience.
    """
    subject, audience = validated or (dict(deadline.subject), dict(deadline.audience))
    return DeadlineEvent.model_validate(
        {
            "key": deadline.key,
            "policy": deadline.policy,
            "due_at": deadline.due_at,
            "fired_at": fired_at,
            "generation": deadline.generation,
            "subject": subject,
            "audience": audience,
            "starts_at": deadline.starts_at,
            **fields,
        }
    )


def _event(deadline: Deadline, event_type: str, data: DeadlineEvent) -> CloudEvent[Any]:
    return make_event(source=SOURCE, event_type=event_type, data=data, subject=deadline.key)


def scheduled_event(
    deadline: Deadline, ladder: Ladder, now: datetime, validated: Validated | None = None
) -> CloudEvent[Any]:
    """`validated`: see `_data` (a schedule just requested); without it, subject and audience
    are validated and redacted from the deadline's values."""
    stages = [{"stage": o.stage, "role": o.role, "at": o.at} for o in ladder.planned()]
    data = _data(deadline, now, validated, stages=stages)
    return _event(deadline, DEADLINE_SCHEDULED_V1, data)


def stage_event(deadline: Deadline, decision: Decision, now: datetime) -> CloudEvent[Any]:
    """`breached` for the breach fact, `stage-reached` for every reminder (and breach repeats)."""
    occurrence = decision.occurrence
    data = _data(
        deadline,
        now,
        stage=occurrence.stage,
        role=occurrence.role,
        at=occurrence.at,
        late=decision.late,
        repetition=occurrence.repetition,
    )
    kind = DEADLINE_BREACHED_V1 if occurrence.is_breach_fact else DEADLINE_STAGE_REACHED_V1
    return _event(deadline, kind, data)


def cleared_event(deadline: Deadline, now: datetime) -> CloudEvent[Any]:
    data = _data(deadline, now, met=deadline.met, reason=deadline.clear_reason)
    return _event(deadline, DEADLINE_CLEARED_V1, data)


def digest_event(
    digest: DigestDue,
) -> CloudEvent[Any]:
    return make_event(
        source=SOURCE,
        event_type=DEADLINE_DIGEST_DUE_V1,
        data=digest,
        subject=f"digest:{digest.digest_on.isoformat()}",
    )


def overdue_line(deadline: Deadline, now: datetime) -> OverdueDeadline:
    return OverdueDeadline(
        key=deadline.key,
        policy=deadline.policy,
        due_at=deadline.due_at,
        overdue_days=overdue_days(deadline.due_at, now),
        subject=DeadlineSubject.model_validate(dict(deadline.subject)),
        audience=DeadlineAudience.model_validate(dict(deadline.audience)),
    )


def heartbeat_event(heartbeat: Heartbeat) -> CloudEvent[Any]:
    return make_event(
        source=SOURCE,
        event_type=DEADLINE_HEARTBEAT_V1,
        data=heartbeat,
        subject=f"heartbeat:{heartbeat.instance}",
    )
