"""Case 1 end to end: 48 J-LIS notices from 2022 that nobody processed reach the desk manager
as ONE escalation email listing 48 notices (and the section chief as one), not 48 emails.

notice-intake, deadline-watcher and the notifier run in this process (their own schemas, one
topic prefix) against the real Kafka and PostgreSQL, with a real SMTP server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from mynaflow.contracts.topics import JLIS_NOTICES_RAW, topic_name
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import Deployment, deployment_settings
from mynaflow_testing.harness.notice_intake import intake_settings, produce_raw, start_in_process
from mynaflow_testing.waiting import wait_for

from .conftest import CHIEF_EMAIL, MANAGER_EMAIL, MakeSettings, SmtpCatcher
from .test_email_delivery import deliveries

pytestmark = pytest.mark.e2e

NOTICES = 48


def raw_notice(notice_id: str) -> tuple[bytes, bytes]:
    notice = {
        "notice_id": notice_id,
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2022-03-10T10:00:00+09:00",
    }
    return notice_id.encode(), json.dumps(notice).encode()


async def test_a_2022_backlog_of_48_notices_gives_the_desk_manager_one_escalation(
    kafka_settings: MynaflowSettings,
    database_url: str,
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,
) -> None:
    run = uuid.uuid4().hex[:6]
    notifier = await start_notifier(notifier_settings(aggregation_window_s=20.0))
    intake = await start_in_process(
        intake_settings(kafka_settings, database_url),
        schema=f"e2e_intake_{run}",
    )
    deployment = Deployment(
        deployment_settings(kafka_settings, database_url, catchup_settle_s=1.0),
        f"e2e_watcher_{run}",
    )
    try:
        await deployment.start_watcher()
        notices = [raw_notice(f"JLIS-2022-{run}-{n:03d}") for n in range(NOTICES)]
        await produce_raw(
            kafka_settings, topic_name(JLIS_NOTICES_RAW, kafka_settings.topic_prefix), notices
        )
        # Breach (desk manager) and escalate (section chief) fire late for each notice.
        await wait_for(
            lambda: deliveries(notifier.url, status="sent"),
            until=lambda rows: len(rows) == 2 * NOTICES,
            timeout=120,
            what="every breach and escalation delivered",
        )
        (escalation,) = smtp.to(MANAGER_EMAIL)
        (chief,) = smtp.to(CHIEF_EMAIL)
        body = escalation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"対象 {NOTICES} 件" in body
        assert escalation["Subject"] == "【超過】処理期限を過ぎた案件があります"
        assert f"対象 {NOTICES} 件" in chief.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert len(smtp.messages) == 2
    finally:
        await intake.stop()
        await deployment.close()
