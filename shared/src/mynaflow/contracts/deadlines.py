"""Payloads of `deadlines.requests` (to deadline-watcher) and `deadlines.events` (from it).

The watcher is generic: it knows named policies (ladders of stages), not card or notice rules.
Producers (notice-intake, card-registry) send `ScheduleDeadline` / `ClearDeadline` requests with
the deadline key as the Kafka key and as the CloudEvent `subject`; the watcher answers with
`DeadlineEvent`s (one model for every per-deadline event type), `DigestDue` and `Heartbeat`.

Example, from notice-intake::

    request = ScheduleDeadline(
        key="notice:N-0001",
        policy="notice_sla",
        due_on=date(2025, 5, 8),
        subject=DeadlineSubject(type="notice", ids={"notice_id": "N-0001"}),
        audience=DeadlineAudience(queue="records"),
    )
    event = schedule_request_event(request, source="notice-intake")
    # publish encode_event(event) to deadlines.requests with key=request.key

No individual number (個人番号) ever goes into a key, a subject or an audience: use internal
references (notice id, resident reference, receipt id).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mynaflow.contracts.envelope import CloudEvent, EventData, make_event
from mynaflow.contracts.redaction import RedactedJsonValue, RedactedText
from mynaflow.domain.time import end_of_jst_day

# --- event types -------------------------------------------------------------------------------
SCHEDULE_DEADLINE_V1 = "jp.mynaflow.deadline.schedule.v1"
CLEAR_DEADLINE_V1 = "jp.mynaflow.deadline.clear.v1"
REQUEST_TYPES = (SCHEDULE_DEADLINE_V1, CLEAR_DEADLINE_V1)

DEADLINE_SCHEDULED_V1 = "jp.mynaflow.deadline.scheduled.v1"
DEADLINE_STAGE_REACHED_V1 = "jp.mynaflow.deadline.stage-reached.v1"
DEADLINE_BREACHED_V1 = "jp.mynaflow.deadline.breached.v1"
DEADLINE_CLEARED_V1 = "jp.mynaflow.deadline.cleared.v1"
DEADLINE_DIGEST_DUE_V1 = "jp.mynaflow.deadline.digest-due.v1"
DEADLINE_HEARTBEAT_V1 = "jp.mynaflow.deadline.heartbeat.v1"
EVENT_TYPES = (
    DEADLINE_SCHEDULED_V1,
    DEADLINE_STAGE_REACHED_V1,
    DEADLINE_BREACHED_V1,
    DEADLINE_CLEARED_V1,
    DEADLINE_DIGEST_DUE_V1,
    DEADLINE_HEARTBEAT_V1,
)

# Who a stage is addressed to. The notifier resolves a role to people through `audience`.
Role = Literal["resident", "queue", "assignee", "desk_manager", "section_chief"]
ROLES: tuple[Role, ...] = ("resident", "queue", "assignee", "desk_manager", "section_chief")

KEY_MAX_LENGTH = 200


class DeadlineSubject(BaseModel):
    """What the deadline is about: a type plus its ids, passed through to every event."""

    model_config = ConfigDict(extra="allow", frozen=True)

    # Extra fields are passed through too: redacted like the declared ones.
    __pydantic_extra__: dict[str, RedactedJsonValue] = Field(init=False)

    type: RedactedText = Field(min_length=1, examples=["notice", "resident_card", "move_in"])
    ids: dict[RedactedText, RedactedText] = Field(
        default_factory=dict, examples=[{"notice_id": "N-0001"}]
    )


class DeadlineAudience(BaseModel):
    """Who may be told, passed through unchanged to every event (unknown keys are kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    __pydantic_extra__: dict[str, RedactedJsonValue] = Field(init=False)

    queue: RedactedText | None = None
    resident_id: RedactedText | None = None
    assignee: RedactedText | None = None


# --- requests: deadlines.requests ---------------------------------------------------------------
class ScheduleDeadline(EventData):
    """`jp.mynaflow.deadline.schedule.v1`: (re)schedule the deadline `key` under `policy`.

    Give exactly one of `due_at` (an instant) or `due_on` (a JST date, meaning its end,
    23:59:59.999999 JST). Scheduling a key again starts a new generation: the old generation's
    pending stages are dropped and the ladder is computed again from the new due time.
    `starts_at` (optional) is when the obligation began: stages that would fall before it are
    never fired, and reports show ages from it.
    """

    key: RedactedText = Field(min_length=1, max_length=KEY_MAX_LENGTH)
    policy: str = Field(min_length=1)
    due_at: AwareDatetime | None = None
    due_on: date | None = None
    subject: DeadlineSubject
    audience: DeadlineAudience = Field(default_factory=DeadlineAudience)
    starts_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _exactly_one_due(self) -> ScheduleDeadline:
        if (self.due_at is None) == (self.due_on is None):
            raise ValueError("give exactly one of due_at or due_on")
        return self

    def due_instant(self) -> datetime:
        """The instant the deadline falls due: `due_at`, or the end of `due_on` in JST."""
        if self.due_at is not None:
            return self.due_at
        assert self.due_on is not None  # guaranteed by the validator
        return end_of_jst_day(self.due_on)


class ClearDeadline(EventData):
    """`jp.mynaflow.deadline.clear.v1`: the work is done (or moot); stop the ladder of `key`.

    `resolved_at` (optional) is when the work was actually done, for replays of past facts;
    without it the clear counts from the moment the watcher applies it. `met` in the resulting
    `cleared` event is whether that moment was no later than the due time.
    """

    key: RedactedText = Field(min_length=1, max_length=KEY_MAX_LENGTH)
    # Free text a producer (or a person, through one) wrote: redacted, and the clear still
    # applies (docs/domain.md, individual numbers).
    reason: RedactedText = Field(
        min_length=1, examples=["notice_resolved", "chip_rewrite_verified"]
    )
    resolved_at: AwareDatetime | None = None


# --- events: deadlines.events -------------------------------------------------------------------
class PlannedStage(BaseModel):
    """One stage of a scheduled ladder, as listed in the `scheduled` event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str
    role: Role
    at: datetime


class DeadlineEvent(EventData):
    """`data` of scheduled, stage-reached, breached and cleared.

    - `stage` / `role`: the stage that fired (`breach` for breached; null for scheduled/cleared);
    - `at`: when that stage was due (its computed time; for a repetition, that repetition's);
    - `fired_at`: when the watcher fired it; `late` is true when that is more than 60 s after `at`;
    - `repetition`: 0 for the first firing of a stage, 1, 2, … for its repeats;
    - `generation`: which scheduling of the key this belongs to (1 for the first);
    - `met` (cleared only): whether the clear came no later than `due_at`;
    - `stages` (scheduled only): the whole computed ladder.
    """

    key: RedactedText
    policy: str
    stage: str | None = None
    role: Role | None = None
    due_at: datetime
    at: datetime | None = None
    fired_at: datetime
    late: bool = False
    repetition: int = 0
    generation: int = 1
    subject: DeadlineSubject
    audience: DeadlineAudience
    starts_at: datetime | None = None
    met: bool | None = None
    reason: RedactedText | None = None
    stages: list[PlannedStage] | None = None


class OverdueDeadline(BaseModel):
    """One line of the daily digest: a deadline past due and not cleared."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: RedactedText
    policy: str
    due_at: datetime
    overdue_days: int
    subject: DeadlineSubject
    audience: DeadlineAudience


class DigestDue(EventData):
    """`jp.mynaflow.deadline.digest-due.v1`: time for the managers' daily digest (once a day).

    Carries the overdue deadlines (oldest first) up to `DIGEST_MAX_ITEMS`; `overdue_count` is
    the full count and `truncated` says whether the list was cut.
    """

    digest_on: date
    fired_at: datetime
    at: datetime
    late: bool = False
    overdue_count: int
    truncated: bool = False
    overdue: list[OverdueDeadline] = Field(default_factory=list)


DIGEST_MAX_ITEMS = 500


class Heartbeat(EventData):
    """`jp.mynaflow.deadline.heartbeat.v1`: the watcher is alive (every minute per replica)."""

    instance: str
    fired_at: datetime
    pending_deadlines: int | None = None
    next_due_at: datetime | None = None


# --- helpers for producers ----------------------------------------------------------------------
def schedule_request_event(request: ScheduleDeadline, *, source: str) -> CloudEvent[Any]:
    """The CloudEvent for a schedule request; publish it with Kafka key `request.key`."""
    return make_event(
        source=source, event_type=SCHEDULE_DEADLINE_V1, data=request, subject=request.key
    )


def clear_request_event(request: ClearDeadline, *, source: str) -> CloudEvent[Any]:
    """The CloudEvent for a clear request; publish it with Kafka key `request.key`."""
    return make_event(
        source=source, event_type=CLEAR_DEADLINE_V1, data=request, subject=request.key
    )


def deadline_request_event(
    request: ScheduleDeadline | ClearDeadline, *, source: str
) -> CloudEvent[Any]:
    """The CloudEvent for either request; publish it with Kafka key `request.key`."""
    if isinstance(request, ScheduleDeadline):
        return schedule_request_event(request, source=source)
    return clear_request_event(request, source=source)
