"""Case 1 end to end: a J-LIS notice nobody processed becomes a breached deadline that the
operator sees with `mynaflow deadlines --breached`, and a clear stops its ladder.

notice-intake and deadline-watcher run in this process (their own schemas, one topic prefix)
against the real Kafka and PostgreSQL: intake receipts the notices and requests the `notice_sla`
deadline; the watcher fires it; the clear is what card-registry sends when the notice is
resolved.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from mynaflow.contracts.topics import JLIS_NOTICES_RAW, topic_name
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import (
    Deployment,
    delete_topics,
    deployment_settings,
    of_type,
    stage_events,
)
from mynaflow_testing.harness.notice_intake import produce_raw, start_in_process
from mynaflow_testing.waiting import wait_for
from mynaflow_tools.cli.main import build_app
from notice_intake.settings import NoticeIntakeSettings
from typer.testing import CliRunner

pytestmark = pytest.mark.e2e


def raw_notice(notice_id: str, issued_at: str) -> tuple[bytes, bytes]:
    notice = {
        "notice_id": notice_id,
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": issued_at,
    }
    return notice_id.encode(), json.dumps(notice).encode()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["deadlines", *args])
    return result.exit_code, result.output


async def test_an_unprocessed_notice_breaches_is_listed_and_a_clear_stops_it(
    kafka_settings: MynaflowSettings, database_url: str
) -> None:
    run = uuid.uuid4().hex[:6]
    old, fresh = f"JLIS-2022-{run}", f"JLIS-NOW-{run}"
    intake = await start_in_process(
        NoticeIntakeSettings(
            **(kafka_settings.model_dump() | {"database_url": database_url, "http_port": 0})
        ),
        schema=f"e2e_intake_{run}",
    )
    deployment = Deployment(
        deployment_settings(kafka_settings, database_url, catchup_settle_s=1.0),
        f"e2e_watcher_{run}",
    )
    try:
        watcher = await deployment.start_watcher()
        raw_topic = topic_name(JLIS_NOTICES_RAW, kafka_settings.topic_prefix)
        now_jst = datetime.now(UTC).isoformat()
        await produce_raw(
            kafka_settings,
            raw_topic,
            [raw_notice(old, "2022-03-10T10:00:00+09:00"), raw_notice(fresh, now_jst)],
        )
        old_key, fresh_key = f"notice:{old}", f"notice:{fresh}"
        events = await deployment.events_until(
            lambda es: (
                bool(of_type(es, "breached", old_key)) and bool(of_type(es, "scheduled", fresh_key))
            ),
            timeout_s=90,
        )
        # Issued Thursday 2022-03-10 with 3 business days: due at the end of 2022-03-15.
        (scheduled,) = of_type(events, "scheduled", old_key)
        assert datetime.fromisoformat(scheduled["data"]["due_at"]) == datetime(
            2022, 3, 15, 14, 59, 59, 999_999, tzinfo=UTC
        )
        assert scheduled["data"]["audience"]["queue"]
        fired = stage_events(events, old_key)
        assert [(e["data"]["stage"], e["data"]["late"]) for e in fired] == [
            ("breach", True),
            ("escalate", True),
        ]
        assert of_type(events, "breached", fresh_key) == []

        code, output = await asyncio.to_thread(cli, "--breached", "--json", "--url", watcher.url)
        assert code == 0, output
        assert [d["key"] for d in json.loads(output)["deadlines"]] == [old_key]

        await deployment.clear(old_key, reason="notice_resolved")
        events = await deployment.events_until(lambda es: bool(of_type(es, "cleared", old_key)))
        assert of_type(events, "cleared", old_key)[0]["data"]["met"] is False

        async def still_listed() -> list[str]:
            _, output = await asyncio.to_thread(cli, "--breached", "--json", "--url", watcher.url)
            return [d["key"] for d in json.loads(output)["deadlines"]]

        await wait_for(still_listed, until=lambda keys: keys == [], what="cleared notice gone")
        code, output = await asyncio.to_thread(
            cli, "--due-within", "30d", "--json", "--url", watcher.url
        )
        keys = [d["key"] for d in json.loads(output)["deadlines"]]
        assert fresh_key in keys
        assert old_key not in keys
    finally:
        await intake.stop()
        await deployment.close()
        await delete_topics(kafka_settings.kafka_bootstrap_servers, kafka_settings.topic_prefix)
