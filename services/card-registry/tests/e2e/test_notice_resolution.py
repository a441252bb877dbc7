"""A J-LIS notice is resolved end to end, so its SLA deadline stops.

notice-intake, card-registry and deadline-watcher run in this process (their own schemas, one
topic prefix) on the real Kafka and PostgreSQL: intake receipts a 2022 notice and schedules its
`notice_sla` deadline; the registry opens the work item (its queue orphaned: nobody is in it);
a staff member joins and resolves it, backdated to before the due day; the watcher clears the
deadline and counts it as met, because the clear carries `resolved_at` = `performed_at`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.topics import JLIS_NOTICES_RAW, topic_name
from mynaflow.domain.time import JST
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.card_registry import of_type, registry_settings, start_registry
from mynaflow_testing.harness.deadline_watcher import Deployment, deployment_settings
from mynaflow_testing.harness.deadline_watcher import of_type as deadline_events
from mynaflow_testing.harness.notice_intake import intake_settings, produce_raw, start_in_process

pytestmark = pytest.mark.e2e


async def test_a_resolved_notice_clears_its_sla_deadline_as_of_when_it_was_done(
    kafka_settings: MynaflowSettings, database_url: str
) -> None:
    run = uuid.uuid4().hex[:6]
    notice_id = f"JLIS-2022-{run}"
    intake = await start_in_process(
        intake_settings(kafka_settings, database_url),
        schema=f"e2e_intake_{run}",
    )
    watcher = Deployment(
        deployment_settings(kafka_settings, database_url, catchup_settle_s=1.0),
        f"e2e_watcher_{run}",
    )
    registry = await start_registry(registry_settings(kafka_settings, database_url))
    try:
        await watcher.start_watcher()
        notice = {
            "notice_id": notice_id,
            "kind": "record_update_required",
            "municipality_code": "141046",
            "issued_at": "2022-03-10T10:00:00+09:00",
            "resident_ref": "R-000731",
        }
        raw_topic = topic_name(JLIS_NOTICES_RAW, kafka_settings.topic_prefix)
        await produce_raw(
            kafka_settings, raw_topic, [(notice_id.encode(), json.dumps(notice).encode())]
        )
        key = f"notice:{notice_id}"
        events = await registry.events_until(lambda es: bool(of_type(es, "work-item-opened", key)))
        (opened,) = of_type(events, "work-item-opened", key)
        queue = opened["data"]["queue"]
        (orphaned,) = of_type(events, "queue-orphaned")
        assert orphaned["data"]["queue"] == queue

        join = r.command_event(r.StaffJoinedQueue(staff_id="S-1", queue=queue))
        resolved_at = datetime(2022, 3, 14, 16, 0, tzinfo=JST)
        resolve = r.command_event(
            r.ResolveNotice(
                staff_id="S-1",
                notice_id=notice_id,
                resolution="record_updated",
                performed_at=resolved_at,
            )
        )
        await registry.commands(join)
        assert (await registry.answer_to(join))["type"] == r.COMMAND_ACCEPTED_V1
        await registry.commands(resolve)
        assert (await registry.answer_to(resolve))["type"] == r.COMMAND_ACCEPTED_V1

        deadlines = await watcher.events_until(
            lambda es: bool(deadline_events(es, "cleared", key)), timeout_s=90
        )
        (cleared,) = deadline_events(deadlines, "cleared", key)
        assert (cleared["data"]["met"], cleared["data"]["reason"]) == (True, "notice_resolved")
        backlog = await registry.get("/backlog")
        assert [item["work_item_id"] for item in backlog] == []
    finally:
        await registry.close()
        await watcher.close()
        await intake.stop()
