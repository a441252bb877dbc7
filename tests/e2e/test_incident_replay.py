"""End to end: the Naka Ward incident (docs/incident.md, docs/demo.md) through all four services
as real processes, on the real Kafka and PostgreSQL, with an aiosmtpd mail catcher.

One system per module (its own database and topic prefix, removed at the end) plays the demo's
scenario once, with every service restarted (SIGTERM, start again) one at a time at a different
point of it; the outcomes asserted are exactly those `make demo` reports without restarts. The
later tests feed new, uniquely named input into the same running system, so they do not depend
on each other.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from mynaflow.contracts import registry as r
from mynaflow.contracts.dead_letter import message_dead_lettered_type
from mynaflow.contracts.deadlines import (
    DEADLINE_BREACHED_V1,
    DEADLINE_CLEARED_V1,
    DEADLINE_SCHEDULED_V1,
    DEADLINE_STAGE_REACHED_V1,
    DeadlineSubject,
    ScheduleDeadline,
    schedule_request_event,
)
from mynaflow.contracts.envelope import encode_event
from mynaflow.contracts.topics import (
    DEADLINES_EVENTS,
    DEADLINES_REQUESTS,
    INTAKE_RECEIPTS,
    JLIS_NOTICES_RAW,
    NOTIFIER_COMMANDS,
    REGISTRY_COMMANDS,
    REGISTRY_EVENTS,
    RESIDENT_MOVES,
    TopicSpec,
    dead_letter_topic_for,
    topic_name,
)
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings, load_settings
from mynaflow_tools.demo import feed
from mynaflow_tools.demo.feed import console_script
from mynaflow_tools.demo.report import collect, read_mail
from mynaflow_tools.demo.run import DemoRun, demo_settings, get_json, play, start_demo, wait_until
from mynaflow_tools.demo.scenario import (
    CASE2_CARDS,
    GOOD_CARD,
    GOOD_RESIDENT,
    STAFF_A,
    WARD_CODE,
)
from mynaflow_tools.demo.system import remove

pytestmark = pytest.mark.e2e

ESCALATION_SUBJECT = "【超過】処理期限を過ぎた案件があります"
REJECTED_SUBJECT = "【差戻し】操作が受け付けられませんでした"


@dataclass
class Played:
    run: DemoRun
    report: dict[str, Any]

    @property
    def settings(self) -> MynaflowSettings:
        return self.run.settings

    def mails(self) -> list[tuple[str, str]]:
        return [
            (str(m["To"]), str(m["Subject"]))
            for path in sorted(self.run.system.mail_dir.glob("*.eml"))
            for m in [read_mail(path)]
        ]


@pytest_asyncio.fixture(scope="module")
async def played(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Played]:
    servers = load_settings(MynaflowSettings, kafka_bootstrap_servers=kafka_bootstrap)
    run_id = uuid.uuid4().hex[:8]
    system, settings = demo_settings(
        servers,
        tmp_path_factory.mktemp("incident"),
        database=f"mynaflow_e2e_{run_id}",
        topic_prefix=f"e2e{run_id}.",
    )
    try:
        run = await start_demo(system, settings, servers.database_url)
        await play(run, restart_each_service=True)
        yield Played(run, await collect(run))
    finally:
        await remove(system, servers.database_url, settings)


# --- the scenario ------------------------------------------------------------------------------
async def test_every_incident_outcome_is_exact_although_each_service_was_restarted(
    played: Played,
) -> None:
    report, scenario = played.report, played.run.scenario
    receipts = report["receipts"]
    assert {x["notice_id"] for x in receipts} == {n["notice_id"] for n in scenario.notices}
    assert Counter((x["status"], x["queue"]) for x in receipts) == Counter(
        {
            ("accepted", "card-records"): 48,
            ("accepted", "card-applications"): 10,
            ("accepted", "card-issuance"): 10,
        }
    )
    assert [o["queue"] for o in report["queue_orphaned"]] == ["card-records"]
    assert {o["notice_id"] for o in report["overdue"]} == set(scenario.case1_notice_ids)
    assert min(o["age_days"] for o in report["overdue"]) > 365
    assert {(m["card_id"], m["printed_on"]) for m in report["surface_chip_mismatch"]} == {
        (card, "2022-03-15") for card in CASE2_CARDS
    }
    assert sorted(report["chip_rewrite_breached"], key=lambda b: b["key"]) == [
        {"key": f"chip-rewrite:{card}", "due_on": "2022-06-13"} for card in sorted(CASE2_CARDS)
    ]
    assert {(e["card_id"], e["reason"]) for e in report["card_expired"]} == {
        (card, "chip_rewrite_overdue") for card in CASE2_CARDS
    }
    letters = {(x["template"], x["letters"]) for x in report["letters"]}
    assert letters == {("application_defect", 10), ("card_expired", 2), ("apology", 48)}
    assert report["incident_query"]["cases"] == 48
    assert report["incident_query"]["letters"] == 48


async def test_backdated_breaches_reach_each_manager_as_one_aggregated_escalation(
    played: Played,
) -> None:
    """48 breaches from 2022-2023 caught up at once: one email each, not 48 (nor 96)."""
    folded = {
        (e["recipient"], e["events"])
        for e in played.report["escalations"]
        if e["template"] == "manager_escalation" and e["status"] == "sent"
    }
    # Desk manager of card-records: the 48 breaches; of card-counter: Case 2's 4 stages; the
    # section chief: the 48 escalate stages and Case 2's 2 section_chief and 2 escalate stages.
    assert folded == {("M-RECORDS", 48), ("M-ISSUANCE", 4), ("C-KOSEKI", 52)}
    mails = Counter(to for to, subject in played.mails() if subject == ESCALATION_SUBJECT)
    # The 48 catch-up breaches arrive within seconds: one email. Case 2's stages come from the
    # move-in and the surface print, fed at other moments (here with restarts in between), so
    # they may open a second window (AGGREGATION_WINDOW_S=20) but never more.
    assert mails["records-manager@ward.example.jp"] == 1
    assert mails["issuance-manager@ward.example.jp"] in (1, 2)
    assert mails["koseki-chief@ward.example.jp"] in (1, 2)
    assert set(mails) == {
        "records-manager@ward.example.jp",
        "issuance-manager@ward.example.jp",
        "koseki-chief@ward.example.jp",
    }
    orphan_alerts = Counter(
        e["recipient"]
        for e in played.report["escalations"]
        if e["template"] == "orphaned_queue_alert"
    )
    assert orphan_alerts == Counter({"M-RECORDS": 1, "C-KOSEKI": 1})


async def test_the_digest_lists_the_backlog_on_a_business_day(played: Played) -> None:
    digest = played.report["digest"]
    if not BusinessCalendar().is_business_day(datetime.now(UTC).astimezone(JST).date()):
        assert digest is None  # digest-due is only emitted on business days
        return
    assert digest is not None
    assert "card-records: 未処理 48 件 / 期限超過 48 件" in digest["text"]


async def test_a_move_in_done_right_has_no_mismatch_and_no_reminder_after_verification(
    played: Played,
) -> None:
    registry = await played.run.registry_events()
    verified = played.run.events_of(registry, r.CHIP_REWRITE_VERIFIED_V1)
    assert [e["data"]["card_id"] for e in verified] == [GOOD_CARD]
    mismatched = {
        e["data"]["card_id"] for e in played.run.events_of(registry, r.SURFACE_CHIP_MISMATCH_V1)
    }
    assert GOOD_CARD not in mismatched
    deadlines = await feed.read_topic(played.settings, DEADLINES_EVENTS)
    good_keys = {f"chip-rewrite:{GOOD_CARD}", f"surface-chip:{GOOD_CARD}"}
    mine = [e for e in deadlines if e.get("data", {}).get("key") in good_keys]
    cleared = {
        (e["data"]["key"], e["data"]["met"]) for e in mine if e["type"] == DEADLINE_CLEARED_V1
    }
    assert cleared == {(key, True) for key in good_keys}
    fired = [e for e in mine if e["type"] in (DEADLINE_STAGE_REACHED_V1, DEADLINE_BREACHED_V1)]
    assert fired == []
    resident = await get_json(
        played.run.system.url("notifier"), "/deliveries", recipient=GOOD_RESIDENT
    )
    assert resident["deliveries"] == []


async def test_a_four_eyes_rejection_reaches_the_staff_member(played: Played) -> None:
    (rejected,) = played.report["four_eyes_rejected"]
    assert (rejected["staff_id"], rejected["card_id"], rejected["reason"]) == (
        STAFF_A,
        GOOD_CARD,
        "four_eyes_same_staff",
    )
    to_a = [subject for to, subject in played.mails() if to == "s-counter-a@ward.example.jp"]
    assert to_a.count(REJECTED_SUBJECT) == 1


# --- a notice's whole life ---------------------------------------------------------------------
def notice_due_on_the_next_business_day_or_today() -> tuple[dict[str, Any], str]:
    """A `card_delivered` notice (5 business days) issued so that it is due on the first
    business day on or after today: its reminder stages are already past, its breach is not."""
    calendar = BusinessCalendar()
    due = calendar.business_day_on_or_after(datetime.now(UTC).astimezone(JST).date())
    issued = calendar.subtract_business_days(due, 5)
    notice_id = f"JLIS-LIFE-{uuid.uuid4().hex[:6]}"
    notice = {
        "notice_id": notice_id,
        "kind": "card_delivered",
        "municipality_code": WARD_CODE,
        "issued_at": datetime.combine(issued, time(10, 0), JST).isoformat(),
        "resident_ref": "R-N-CAR-01",
    }
    return notice, due.isoformat()


async def test_a_notice_lives_from_raw_to_cleared_and_no_breach_follows(played: Played) -> None:
    notice, due_on = notice_due_on_the_next_business_day_or_today()
    key = f"notice:{notice['notice_id']}"
    await produce(played.settings, JLIS_NOTICES_RAW, [(notice["notice_id"], json.dumps(notice))])

    receipts = await wait_until(
        played.run.receipts,
        lambda got: any(e["data"]["notice_id"] == notice["notice_id"] for e in got),
        what="the receipt",
    )
    (receipt,) = [e["data"] for e in receipts if e["data"]["notice_id"] == notice["notice_id"]]
    assert (receipt["status"], receipt["owner_queue"], receipt["sla_due_on"]) == (
        "accepted",
        "card-issuance",
        due_on,
    )
    await wait_until(
        played.run.registry_events,
        lambda es: any(
            e["data"].get("notice_id") == notice["notice_id"]
            for e in played.run.events_of(es, r.WORK_ITEM_OPENED_V1)
        ),
        what="the work item",
    )
    stages = await wait_until(
        lambda: deadline_events_for(played, key),
        lambda es: any(e["type"] == DEADLINE_STAGE_REACHED_V1 for e in es),
        what="an SLA reminder stage",
    )
    assert {e["data"]["role"] for e in stages if e["type"] == DEADLINE_STAGE_REACHED_V1} == {
        "queue"
    }

    answers = await feed.send_commands(
        played.settings,
        [
            r.AssignNotice(staff_id="S-ISSUANCE-1", notice_id=notice["notice_id"]),
            r.ResolveNotice(
                staff_id="S-ISSUANCE-1", notice_id=notice["notice_id"], resolution="record_updated"
            ),
        ],
    )
    assert {a["type"] for a in answers.values()} == {r.COMMAND_ACCEPTED_V1}
    events = await wait_until(
        lambda: deadline_events_for(played, key),
        lambda es: any(e["type"] == DEADLINE_CLEARED_V1 for e in es),
        what="the cleared deadline",
    )
    (cleared,) = [e["data"] for e in events if e["type"] == DEADLINE_CLEARED_V1]
    assert (cleared["met"], cleared["reason"]) == (True, "notice_resolved")
    assert [e for e in events if e["type"] == DEADLINE_BREACHED_V1] == []
    pending = await get_json(
        played.run.system.url("deadline-watcher"), "/deadlines", due_within="30d"
    )
    assert key not in {d["key"] for d in pending["deadlines"]}


async def deadline_events_for(played: Played, key: str) -> list[dict[str, Any]]:
    events = await feed.read_topic(played.settings, DEADLINES_EVENTS)
    return [e for e in events if e.get("data", {}).get("key") == key]


# --- poison ------------------------------------------------------------------------------------
# Each input topic and the services that consume it (docs/architecture.md).
CONSUMERS: dict[TopicSpec, tuple[str, ...]] = {
    RESIDENT_MOVES: ("card-registry", "notifier"),
    REGISTRY_COMMANDS: ("card-registry",),
    INTAKE_RECEIPTS: ("card-registry", "notifier"),
    DEADLINES_REQUESTS: ("deadline-watcher",),
    DEADLINES_EVENTS: ("card-registry", "notifier"),
    REGISTRY_EVENTS: ("notifier",),
    NOTIFIER_COMMANDS: ("notifier",),
}


async def produce(
    settings: MynaflowSettings, spec: TopicSpec, records: list[tuple[str, str | bytes]]
) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka_client_options(settings))
    await producer.start()
    try:
        for key, value in records:
            body = value.encode() if isinstance(value, str) else value
            await producer.send_and_wait(
                topic_name(spec, settings.topic_prefix), body, key=key.encode()
            )
    finally:
        await producer.stop()


async def dead_letters(settings: MynaflowSettings, service: str) -> list[dict[str, Any]]:
    events = await feed.read_topic(settings, dead_letter_topic_for(service))
    return [e["data"] for e in events if e.get("type") == message_dead_lettered_type(service)]


async def dead_letters_from(
    settings: MynaflowSettings, service: str, key: str
) -> list[dict[str, Any]]:
    """Until the service dead-lettered the record with `key` from each topic it consumes."""
    expected = {
        topic_name(spec, settings.topic_prefix) for spec, by in CONSUMERS.items() if service in by
    }

    async def keyed() -> list[dict[str, Any]]:
        return [d for d in await dead_letters(settings, service) if d["key"] == key]

    def from_each(found: list[dict[str, Any]]) -> bool:
        return {d["source_topic"] for d in found} == expected

    return await wait_until(keyed, from_each, what=f"{service}'s dead letters")


async def test_a_poison_message_in_every_input_topic_is_dead_lettered_and_the_flow_goes_on(
    played: Played,
) -> None:
    settings, run_key = played.settings, f"poison-{uuid.uuid4().hex[:6]}"
    for spec in CONSUMERS:
        await produce(settings, spec, [(run_key, b"{not json")])
    await produce(settings, JLIS_NOTICES_RAW, [(run_key, b"{not json")])

    for service in sorted({s for services in CONSUMERS.values() for s in services}):
        found = await dead_letters_from(settings, service, run_key)
        assert all(d["reason"] == "bad_json" for d in found), found

    # notice-intake quarantines and receipts what does not parse, with the reason.
    # Its receipt is relayed from the outbox after the dead letters above, so wait for it.
    def quarantined_of(receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e["data"] for e in receipts if e["data"]["status"] == "quarantined"]

    receipts = await wait_until(
        played.run.receipts,
        lambda found: bool(quarantined_of(found)),
        what="notice-intake's quarantine receipt",
    )
    quarantined = quarantined_of(receipts)
    assert [[reason["code"] for reason in q["reasons"]] for q in quarantined] == [["invalid_json"]]

    # The flow goes on: a valid notice after the poison is receipted and opens its work item.
    notice, _ = notice_due_on_the_next_business_day_or_today()
    await produce(settings, JLIS_NOTICES_RAW, [(notice["notice_id"], json.dumps(notice))])
    await wait_until(
        played.run.registry_events,
        lambda es: any(
            e["data"].get("notice_id") == notice["notice_id"]
            for e in played.run.events_of(es, r.WORK_ITEM_OPENED_V1)
        ),
        what="the next notice's work item",
    )


# --- dead letters: fix, replay, processed ------------------------------------------------------
def cli(played: Played, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("mynaflow"), *args],
        env=played.run.system.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_fixed_dead_letter_is_replayed_once_and_processed(played: Played) -> None:
    """A schedule naming a policy the watcher lacks is dead-lettered; once the policy is
    configured (and the watcher restarted), the replay is scheduled; a second replay is refused."""
    settings, policy = played.settings, f"demo_fixable_{uuid.uuid4().hex[:6]}"
    key = f"replay:{policy}"
    request = ScheduleDeadline(
        key=key,
        policy=policy,
        due_on=date(2030, 1, 31),
        subject=DeadlineSubject(type="demo", ids={"case": policy}),
        audience={"queue": "card-records"},
    )
    event = schedule_request_event(request, source="e2e")
    await produce(settings, DEADLINES_REQUESTS, [(key, encode_event(event))])
    (dead,) = await wait_until(
        lambda: keyed_dead_letters(settings, "deadline-watcher", key),
        lambda found: len(found) == 1,
        what="the unknown policy's dead letter",
    )
    assert dead["reason"] == "unknown_policy"
    listed = json.loads(
        cli(played, "dead-letters", "list", "--service", "deadline-watcher", "--json").stdout
    )
    (row,) = [r for r in listed["dead_letters"] if r["key"] == key]
    assert (row["reason"], row["replayed"], row["source_topic"]) == (
        "unknown_policy",
        False,
        topic_name(DEADLINES_REQUESTS, settings.topic_prefix),
    )

    watcher = played.run.system.processes["deadline-watcher"]
    watcher.env["DEADLINE_POLICIES"] = json.dumps(
        {policy: {"stages": [{"name": "breach", "role": "desk_manager"}]}}
    )
    await played.run.system.restart("deadline-watcher")
    first = cli(played, "dead-letters", "replay", row["id"], "--json")
    assert first.returncode == 0, first.stderr
    assert [o["outcome"] for o in json.loads(first.stdout)["replays"]] == ["replayed"]
    events = await wait_until(
        lambda: deadline_events_for(played, key),
        lambda es: any(e["type"] == DEADLINE_SCHEDULED_V1 for e in es),
        what="the replayed request scheduled",
    )
    assert [e["data"]["policy"] for e in events if e["type"] == DEADLINE_SCHEDULED_V1] == [policy]

    second = cli(played, "dead-letters", "replay", row["id"], "--json")
    assert second.returncode == 3
    assert [o["outcome"] for o in json.loads(second.stdout)["replays"]] == ["refused"]
    listed = json.loads(
        cli(played, "dead-letters", "list", "--service", "deadline-watcher", "--json").stdout
    )
    assert [r["replayed"] for r in listed["dead_letters"] if r["key"] == key] == [True]


async def keyed_dead_letters(
    settings: MynaflowSettings, service: str, key: str
) -> list[dict[str, Any]]:
    return [d for d in await dead_letters(settings, service) if d["key"] == key]
