"""Residents: a household's letters about the same deadline become one PDF letter; an event
whose resident is not in the directory yet is held, then applied (or dead-lettered after the
hold); a resident who moved out gets no letter (`undeliverable_moved`)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mynaflow_testing.kafka_helpers import consume_until, produce
from mynaflow_testing.waiting import wait_for
from pypdf import PdfReader

from .conftest import HttpReceiver, MakeSettings, SmtpCatcher
from .events import encoded, moved_in, moved_out, resident_stage
from .test_email_delivery import deliveries

pytestmark = pytest.mark.service


async def test_a_household_gets_one_letter_even_when_the_stage_came_before_the_move_in(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,
    kafka_topics: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = notifier_settings(aggregation_window_s=6.0)
    service = await start_notifier(settings)
    # The deadline topic runs ahead of the resident topic: the stages arrive first.
    stages = [resident_stage("R-1", "C-1"), resident_stage("R-2", "C-2")]
    await produce(settings, kafka_topics["deadlines.events"], [encoded(e) for e in stages])
    moves = [
        moved_in("R-1", "H-1", "髙橋 﨑子", email="r1@example.test", card_id="C-1"),
        moved_in("R-2", "H-1", "髙橋 一郎", card_id="C-2"),
    ]
    await produce(settings, kafka_topics["resident.moves"], [encoded(e) for e in moves])

    sent = await wait_for(
        lambda: deliveries(service.url, status="sent"),
        until=lambda rows: len(rows) == 3,
        what="two letter deliveries and one email sent",
    )
    assert sorted((r["recipient_id"], r["channel"]) for r in sent) == [
        ("R-1", "email"),
        ("R-1", "letter"),
        ("R-2", "letter"),
    ]
    pdfs = sorted((tmp_path / "letters").rglob("*.pdf"))
    assert len(pdfs) == 1, "one letter to the household"
    text = PdfReader(pdfs[0]).pages[0].extract_text()
    assert "髙橋 﨑子" in text
    assert "髙橋 一郎" in text
    assert "令和4年6月13日" in text
    rows = list(csv.DictReader((pdfs[0].parent / "manifest.csv").open(encoding="utf-8")))
    assert [(r["household_id"], r["resident_ids"], r["manual"]) for r in rows] == [
        ("H-1", "R-1 R-2", "no")
    ]
    (email,) = smtp.to("r1@example.test")
    assert email["Subject"] == "マイナンバーカードの継続利用手続のお願い"
    # Residents by id only: no name, address or email in any log record or on the topic.
    personal = ("髙橋", "r1@example.test", "山下町")
    # At the service's log level; `mail.log` is the test's own SMTP server, not the notifier.
    logged = [f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name != "mail.log"]
    assert any(r.name.startswith("notifier.") for r in caplog.records), "the notifier logged"
    assert not [line for line in logged if any(p in line for p in personal)]
    on_topic = await consume_until(
        settings, kafka_topics["notifier.deliveries"], lambda events: len(events) >= 6
    )
    assert not [e for e in on_topic if any(p.encode() in e.value for p in personal)]


async def test_a_resident_who_never_appears_is_dead_lettered_after_the_hold(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    kafka_topics: dict[str, str],
) -> None:
    settings = notifier_settings(unknown_recipient_hold_s=2.0)
    service = await start_notifier(settings)
    stage = resident_stage("R-404", "C-404")
    later = resident_stage("R-5", "C-5")
    await produce(settings, kafka_topics["deadlines.events"], [encoded(stage)], key="k")
    # Same key, so the same partition: the held event must not hold this one up.
    await produce(
        settings, kafka_topics["resident.moves"], [encoded(moved_in("R-5", "H-5", "佐藤 花子"))]
    )
    await produce(settings, kafka_topics["deadlines.events"], [encoded(later)], key="k")
    await wait_for(
        lambda: deliveries(service.url, recipient="R-5", status="sent"),
        what="the later event on the same partition delivered",
    )
    dead = await consume_until(
        settings,
        kafka_topics["notifier.dead-letter"],
        lambda events: len(events) >= 1,
        timeout_s=30,
    )
    (letter,) = [json.loads(e.value)["data"] for e in dead]
    assert letter["reason"] == "unknown_recipient"
    assert "R-404" in letter["error"]
    assert await deliveries(service.url, recipient="R-404") == []


async def test_a_resident_who_moved_out_gets_no_letter(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    kafka_topics: dict[str, str],
    tmp_path: Path,
) -> None:
    settings = notifier_settings(aggregation_window_s=0.5)
    service = await start_notifier(settings)
    moves = [moved_in("R-7", "H-7", "鈴木 次郎", card_id="C-7"), moved_out("R-7", "H-7")]
    await produce(settings, kafka_topics["resident.moves"], [encoded(e) for e in moves], key="R-7")
    # Whatever the order the two topics are read in, the letter is checked at send time.
    stage = resident_stage("R-7", "C-7")
    await produce(settings, kafka_topics["deadlines.events"], [encoded(stage)])
    (row,) = await wait_for(
        lambda: deliveries(service.url, recipient="R-7", status="undeliverable_moved"),
        what="the letter recorded undeliverable_moved",
    )
    assert row["channel"] == "letter"
    assert list((tmp_path / "letters").rglob("*.pdf")) == []


async def test_a_resident_with_a_phone_gets_an_sms_through_the_gateway(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    receiver: HttpReceiver,
    kafka_topics: dict[str, str],
) -> None:
    settings = notifier_settings(sms_gateway_url=receiver.url)
    service = await start_notifier(settings)
    move = moved_in("R-8", "H-8", "山田 三郎", phone="090-0000-0008", card_id="C-8")
    await produce(settings, kafka_topics["resident.moves"], [encoded(move)])
    await produce(
        settings, kafka_topics["deadlines.events"], [encoded(resident_stage("R-8", "C-8"))]
    )

    await wait_for(
        lambda: deliveries(service.url, recipient="R-8", status="sent"),
        until=lambda rows: {r["channel"] for r in rows} == {"letter", "sms"},
        what="the letter and the SMS sent",
    )
    (sms,) = receiver.requests
    assert sms["to"] == "090-0000-0008"
    assert sms["template"] == "chip_rewrite_reminder"
    assert "令和4年6月13日" in sms["text"]
    logged = await consume_until(
        settings, kafka_topics["notifier.deliveries"], lambda events: len(events) >= 4
    )
    assert not any(b"090-0000-0008" in e.value for e in logged), "no phone on the delivery log"
