"""Requests that can never be applied are dead-lettered with a reason; the partition moves on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from mynaflow.contracts.deadlines import DeadlineAudience, DeadlineSubject, ScheduleDeadline
from mynaflow.contracts.topics import dead_letter_topic_for, topic_name
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request
from mynaflow_testing.kafka_helpers import consume_until

pytestmark = pytest.mark.service


async def test_an_unknown_policy_is_dead_lettered_with_a_reason_and_the_rest_applies(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(hours=1)
    await deployment.schedule(
        request("ok1", "one_stage", due_at=due),
        request("bad", "no_such_policy", due_at=due),
        request("ok2", "one_stage", due_at=due),
    )
    await deployment.send_raw(b"not json at all", key="garbage")
    dead_topic = topic_name(
        dead_letter_topic_for("deadline-watcher"), deployment.settings.topic_prefix
    )
    records = await consume_until(deployment.settings, dead_topic, lambda rs: len(rs) >= 2)
    reasons = sorted(json.loads(r.value)["data"]["reason"] for r in records)
    assert reasons == ["bad_json", "unknown_policy"]
    events = await deployment.events_until(lambda es: len(of_type(es, "scheduled")) == 2)
    assert {e["data"]["key"] for e in of_type(events, "scheduled")} == {"ok1", "ok2"}
    pool = await deployment.pool()
    assert await pool.fetchval("SELECT count(*) FROM deadlines") == 2
    stored = await pool.fetchval("SELECT reason FROM dead_letters WHERE key = 'bad'")
    assert stored == "unknown_policy"


async def test_an_individual_number_sent_by_mistake_never_reaches_a_topic_or_the_tables(
    deployment: Deployment,
) -> None:
    first11 = "12345678901"
    number = first11 + str(personal_number_check_digit(first11))  # computed, never committed
    await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=4)
    careless = ScheduleDeadline(
        key=f"resident:{number}",
        policy="one_stage",
        due_at=due,
        subject=DeadlineSubject(type="resident_card", ids={"resident": number}),
        audience=DeadlineAudience(queue="records", note=f"個人番号 {number}"),
    )
    await deployment.schedule(careless)
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached")))
    assert len(of_type(events, "stage-reached")) == 1
    assert number not in json.dumps(events, ensure_ascii=False)
    pool = await deployment.pool()
    stored = await pool.fetch("SELECT key, subject::text, audience::text FROM deadlines")
    assert number not in repr([dict(row) for row in stored])
    assert await pool.fetchval("SELECT count(*) FROM deadlines") == 1
