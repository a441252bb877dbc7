"""Webhooks retried with backoff (3 failures, then once); always failing ends `dead` with
`delivery-failed` and a desk manager alert; 48 breaches within a minute give one aggregated
escalation per manager."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mynaflow.contracts.notifier import DELIVERY_FAILED_V1
from mynaflow_testing.kafka_helpers import consume_until, produce
from mynaflow_testing.waiting import wait_for
from notifier.settings import NotifierSettings

from .conftest import (
    HOOKED,
    ISSUANCE_EMAIL,
    MANAGER,
    MANAGER_EMAIL,
    HttpReceiver,
    MakeSettings,
    SmtpCatcher,
)
from .events import breach, command_rejected, encoded
from .test_email_delivery import deliveries

pytestmark = pytest.mark.service


@pytest.fixture
def flaky_receiver(receiver: HttpReceiver) -> HttpReceiver:
    """The webhook receiver, answering its first three requests with 503."""
    receiver.fail_first = 3
    return receiver


async def reject_a_command_of(
    staff_id: str, settings: NotifierSettings, kafka_topics: dict[str, str]
) -> None:
    """Publish a rejected command of `staff_id` on registry.events, as card-registry would."""
    event = command_rejected(staff_id)
    await produce(settings, kafka_topics["registry.events"], [encoded(event)], key=event.subject)


async def test_a_webhook_failing_three_times_then_succeeding_delivers_once(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    flaky_receiver: HttpReceiver,
    kafka_topics: dict[str, str],
) -> None:
    settings = notifier_settings()
    service = await start_notifier(settings)
    await reject_a_command_of(HOOKED, settings, kafka_topics)

    (row,) = await wait_for(
        lambda: deliveries(service.url, recipient=HOOKED, status="sent"),
        what="the webhook delivered",
    )
    assert flaky_receiver.statuses == [503, 503, 503, 200]
    assert row["attempts"] == 4
    assert row["channel"] == "webhook"
    ids = {body["idempotency_id"] for body in flaky_receiver.requests}
    assert len(ids) == 1, "every retry carries the same idempotency id"
    assert "二人確認" in flaky_receiver.requests[-1]["text"]


async def test_a_webhook_that_always_fails_ends_dead_and_the_desk_manager_hears(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    receiver: HttpReceiver,
    smtp: SmtpCatcher,
    kafka_topics: dict[str, str],
) -> None:
    receiver.always_fail = True
    settings = notifier_settings(retry_max_attempts=3)
    service = await start_notifier(settings)
    await reject_a_command_of(HOOKED, settings, kafka_topics)

    await wait_for(
        lambda: deliveries(service.url, recipient=HOOKED, status="dead"), what="the webhook dead"
    )
    assert len(receiver.requests) == 3
    failed = await consume_until(
        settings,
        kafka_topics["notifier.deliveries"],
        lambda events: any(DELIVERY_FAILED_V1.encode() in e.value for e in events),
    )
    (failure,) = [json.loads(e.value) for e in failed if DELIVERY_FAILED_V1.encode() in e.value]
    assert failure["data"]["recipient_id"] == HOOKED
    assert failure["data"]["attempts"] == 3
    assert failure["data"]["error"] == "webhook_http_503"
    alert = await wait_for(lambda: _async(smtp.to(MANAGER_EMAIL)), what="the manager alert")
    assert [m["Subject"] for m in alert] == ["【警告】通知を送達できませんでした"]
    assert HOOKED in alert[0].get_body(("plain",)).get_content()


async def test_48_breaches_within_a_minute_give_one_escalation_per_manager(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,
    kafka_topics: dict[str, str],
) -> None:
    # Wide enough that a loaded CI machine still consumes all 48 inside one window.
    settings = notifier_settings(aggregation_window_s=10.0)
    service = await start_notifier(settings)
    events = [breach(f"notice:JLIS-2022-{n:06d}", queue="card-records") for n in range(30)]
    events += [breach(f"notice:JLIS-2022-{n:06d}", queue="card-issuance") for n in range(30, 48)]
    await produce(settings, kafka_topics["deadlines.events"], [encoded(e) for e in events])

    await wait_for(
        lambda: deliveries(service.url, status="sent"),
        until=lambda rows: len(rows) == 48,
        what="all 48 deliveries sent",
    )
    records = smtp.to(MANAGER_EMAIL)
    issuance = smtp.to(ISSUANCE_EMAIL)
    assert (len(records), len(issuance)) == (1, 1)
    assert "対象 30 件" in records[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "対象 18 件" in issuance[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert len(smtp.messages) == 2


async def _async(value: Any) -> Any:
    return value


async def test_a_restart_continues_the_retry_schedule_from_the_database(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    flaky_receiver: HttpReceiver,
    kafka_topics: dict[str, str],
) -> None:
    settings = notifier_settings(retry_first_delay_s=0.5, retry_max_delay_s=0.5)
    service = await start_notifier(settings)
    await reject_a_command_of(HOOKED, settings, kafka_topics)
    await wait_for(
        lambda: deliveries(service.url, recipient=HOOKED, status="retrying"),
        what="a first failed attempt recorded",
    )
    attempts_before = len(flaky_receiver.requests)
    assert await service.stop() == 0

    service = await start_notifier(settings)
    (row,) = await wait_for(
        lambda: deliveries(service.url, recipient=HOOKED, status="sent"),
        what="the webhook delivered after the restart",
    )
    assert flaky_receiver.statuses.count(200) == 1, "delivered exactly once"
    # Every attempt, before and after the restart, was counted in the database.
    assert row["attempts"] == len(flaky_receiver.requests) >= attempts_before + 1


async def test_a_poison_record_inside_a_backlog_of_breaches_is_dead_lettered_alone(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,  # noqa: ARG001 (the notifier's SMTP server must exist)
    kafka_topics: dict[str, str],
) -> None:
    # The backlog is there before the notifier starts, so it is read in batches: the poison
    # record makes its batch replay record by record, and no breach may record twice.
    events = [breach(f"notice:JLIS-2022-{n:06d}") for n in range(40)]
    values = [encoded(event) for event in events]
    values.insert(23, b"breach notice:JLIS-2022-000023 again")
    await produce(notifier_settings(), kafka_topics["deadlines.events"], values, key="one-key")
    service = await start_notifier(notifier_settings())

    rows = await wait_for(
        lambda: deliveries(service.url, recipient=MANAGER),
        until=lambda rows: len(rows) >= 40,
        what="a delivery recorded for every breach",
    )
    assert sorted(row["source_event_id"] for row in rows) == sorted(e.id for e in events)
    (dead,) = await consume_until(
        notifier_settings(), kafka_topics["notifier.dead-letter"], lambda records: len(records) >= 1
    )
    assert json.loads(dead.value)["data"]["reason"] == "bad_json"
