"""An individual number (個人番号) a producer puts in a request, written straight onto the wire
(not through the contract models), is redacted before the watcher stores or emits anything; a
clear naming the same careless key still finds its deadline.

The subscriber relies on validation alone to redact the key (`RedactedText`), so this also
pins that redacting an already redacted value changes nothing: a second pass would find nothing.
The `scheduled` event reuses the request's validated subject and audience only when redacting
them as whole objects found nothing more: it is then the event validated from the stored values.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from deadline_watcher.domain.events import scheduled_event
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.entrypoints.subscribers import parse_request
from deadline_watcher.service_layer.requests import Incoming, handle_requests
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.contracts.deadlines import (
    CLEAR_DEADLINE_V1,
    SCHEDULE_DEADLINE_V1,
    DeadlineAudience,
    DeadlineSubject,
    ScheduleDeadline,
)
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.personal_number import (
    REDACTION_MARKER,
    personal_number_check_digit,
    redact_text,
)
from mynaflow_testing.memory.deadline_watcher import MemoryWatcher

pytestmark = pytest.mark.unit

T0 = datetime(2025, 5, 13, 1, tzinfo=UTC)
POLICIES = load_policies(json.dumps({"single": {"stages": [{"name": "breach", "role": "queue"}]}}))
FIRST11 = "31415926535"
NUMBER = FIRST11 + str(personal_number_check_digit(FIRST11))  # computed, never written out
GROUPS = (NUMBER[:4], NUMBER[4:8], NUMBER[8:])


def raw(event_type: str, data: dict[str, Any]) -> RawCloudEvent:
    """A request as a careless producer might write it, bypassing the contract models."""
    return RawCloudEvent.model_validate(
        {"id": str(uuid.uuid4()), "source": "careless", "type": event_type, "data": data}
    )


def careless_schedule() -> RawCloudEvent:
    return raw(
        SCHEDULE_DEADLINE_V1,
        {
            "key": f"resident:{NUMBER}",
            "policy": "single",
            "due_at": (T0 + timedelta(hours=1)).isoformat(),
            # Split along its groups over consecutive values: only the whole-object walk finds it.
            "subject": {"type": "resident_card", "ids": dict(zip("abc", GROUPS, strict=True))},
            "audience": {"queue": "records", "note": f"個人番号 {NUMBER}"},
        },
    )


async def test_a_number_in_the_key_subject_or_audience_is_never_stored_or_emitted() -> None:
    memory = MemoryWatcher()
    deps = memory.deps(policies=POLICIES, clock=FakeClock(T0))
    clear = raw(CLEAR_DEADLINE_V1, {"key": f"resident:{NUMBER}", "reason": "done"})

    await handle_requests([parse_request(careless_schedule(), POLICIES)], deps)
    await handle_requests([parse_request(clear, POLICIES)], deps)

    (deadline,) = memory.deadlines.rows.values()
    assert deadline.key == f"resident:{REDACTION_MARKER}"
    assert not deadline.is_open  # the clear found it under the same redacted key
    stored = repr([deadline.key, dict(deadline.subject), dict(deadline.audience)])
    emitted = [e.event.model_dump_json() for e in memory.uow.published]
    assert memory.published_types() == [
        (f"resident:{REDACTION_MARKER}", "scheduled"),
        (f"resident:{REDACTION_MARKER}", "cleared"),
    ]
    for text in (stored, *emitted):
        assert NUMBER not in text
        assert not any(group in text for group in GROUPS)
        assert REDACTION_MARKER in text


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(alphabet="0123456789 -ー\u3000ab", max_size=20),
    after=st.text(alphabet="0123456789 -ー\u3000ab", max_size=20),
    grouped=st.booleans(),
)
def test_redacting_a_redacted_text_again_changes_nothing(
    before: str, after: str, grouped: bool
) -> None:
    spelled = " ".join(GROUPS) if grouped else NUMBER
    once, _ = redact_text(before + spelled + after)
    assert redact_text(once) == (once, 0)


_TEXTS = st.text(alphabet="abcXYZ019-: 個番号\u3000", max_size=14)


@settings(max_examples=150, deadline=None)
@given(
    ids=st.dictionaries(_TEXTS, _TEXTS, max_size=3),
    queue=st.none() | _TEXTS,
    extra=st.dictionaries(
        st.sampled_from(["note", "team"]), _TEXTS | st.integers() | st.none(), max_size=2
    ),
)
async def test_the_scheduled_event_is_the_one_validated_from_the_stored_values(
    ids: dict[str, str], queue: str | None, extra: dict[str, Any]
) -> None:
    # The handler builds it from the request's validated models when redacting the whole
    # objects found nothing more; it must be what validating the stored values gives.
    memory = MemoryWatcher()
    deps = memory.deps(policies=POLICIES, clock=FakeClock(T0))
    request = ScheduleDeadline(
        key="k",
        policy="single",
        due_at=T0 + timedelta(hours=1),
        subject=DeadlineSubject(type="t", ids=ids),
        audience=DeadlineAudience(queue=queue, **extra),
    )
    await handle_requests([Incoming(str(uuid.uuid4()), request, T0)], deps)

    (deadline,) = memory.deadlines.rows.values()
    (emitted,) = memory.uow.published
    ladder = deps.ladder(POLICIES["single"], deadline.due_at, deadline.starts_at)
    expected = scheduled_event(deadline, ladder, T0)
    assert emitted.event.data.model_dump() == expected.data.model_dump()
    assert emitted.event.model_dump_json(exclude={"id", "time"}) == expected.model_dump_json(
        exclude={"id", "time"}
    )
