"""`make demo`: the incident replayed through the four services, step by step.

Every wait is on a condition read from a service's HTTP endpoint or a topic, with a timeout;
nothing sleeps a fixed time. The watcher starts with its digest time at the end of the day, so
no digest goes out before the backlog exists; once the Case 1 breaches are in it is restarted
with the digest time at midnight, which sends today's digest at once (docs/deadline-watcher.md,
"Digest and heartbeat": after downtime today's digest is sent late) - on a business day.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from mynaflow.contracts import registry as r
from mynaflow.contracts.deadlines import DEADLINE_DIGEST_DUE_V1
from mynaflow.contracts.topics import DEADLINES_EVENTS, INTAKE_RECEIPTS, REGISTRY_EVENTS
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST
from mynaflow.messaging.topics_admin import consumer_group_lag, group_id_for
from mynaflow.settings import MynaflowSettings

from mynaflow_tools.demo import feed
from mynaflow_tools.demo.scenario import Scenario, build_scenario, final_commands
from mynaflow_tools.demo.system import (
    DEMO_DATABASE,
    DEMO_TOPIC_PREFIX,
    SERVICES,
    DemoSystem,
    database_url_for,
    prepare,
)

T = TypeVar("T")
NOTICE_ACKNOWLEDGED = "jp.mynaflow.intake.notice-acknowledged.v1"
NO_DIGEST_YET = "23:59:59"
DIGEST_AT_ONCE = "00:00:00"
# Deliveries that are finished one way or another; anything else is still on its way.
FINAL_STATUSES = {"sent", "dead", "undeliverable_moved"}


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    what: str,
    timeout_s: float = 180.0,
) -> T:
    """Probe until the condition holds; fail naming what was awaited and the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}; last seen: {value!r:.500}")
        await asyncio.sleep(0.5)


async def get_json(url: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{url}{path}", params=params, headers={"X-Staff-Id": "demo"})
        response.raise_for_status()
        return response.json()


@dataclass
class DemoRun:
    """One run: the system, the scenario, what each step answered, and how long it took."""

    system: DemoSystem
    settings: MynaflowSettings
    scenario: Scenario
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    apology: dict[str, Any] = field(default_factory=dict)
    cases_file: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def events_of(self, events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
        return [e for e in events if e.get("type") == event_type]

    async def registry_events(self) -> list[dict[str, Any]]:
        return await feed.read_topic(self.settings, REGISTRY_EVENTS)

    async def receipts(self) -> list[dict[str, Any]]:
        events = await feed.read_topic(self.settings, INTAKE_RECEIPTS)
        return self.events_of(events, NOTICE_ACKNOWLEDGED)


def demo_settings(
    settings: MynaflowSettings,
    folder: Path,
    *,
    database: str = DEMO_DATABASE,
    topic_prefix: str = DEMO_TOPIC_PREFIX,
) -> tuple[DemoSystem, MynaflowSettings]:
    """The demo's system beside `settings`' servers; tests pass a database and prefix of theirs."""
    demo_url = database_url_for(settings.database_url, database)
    system = DemoSystem(folder, demo_url, settings.kafka_bootstrap_servers, topic_prefix)
    demo = settings.model_copy(update={"topic_prefix": topic_prefix})
    return system, demo


async def start_demo(
    system: DemoSystem, settings: MynaflowSettings, admin_url: str, now: datetime | None = None
) -> DemoRun:
    """From scratch: the database, topics and folder made again, the processes ready."""
    run = DemoRun(system, settings, build_scenario(now or datetime.now(UTC)))
    await timed(run, "prepare", prepare(system, admin_url, settings))
    system.plan({"deadline-watcher": {"DIGEST_TIME": NO_DIGEST_YET}})
    await timed(run, "start services", system.start())
    return run


async def play(run: DemoRun, *, restart_each_service: bool = False) -> None:
    """Every step until every outcome is in. With `restart_each_service`, each of the four is
    stopped (SIGTERM) and started again at a different point of the scenario."""
    restarts = list(SERVICES) if restart_each_service else []
    await timed(run, "feed scenario", feed_scenario(run, restarts))
    await timed(run, "case outcomes", wait_for_outcomes(run))
    await timed(run, "digest", send_digest_now(run))
    await timed(run, "apology letters", apology_letters(run))
    await timed(run, "notifier settled", wait_for_notifier(run))


async def run_demo(
    settings: MynaflowSettings,
    folder: Path,
    collect: Callable[[DemoRun], Awaitable[dict[str, Any]]],
) -> DemoRun:
    """Prepare, start, play, collect the report; the system is stopped in every case."""
    system, demo = demo_settings(settings, folder)
    try:
        run = await start_demo(system, demo, settings.database_url)
        await play(run)
        run.report = await collect(run)
    finally:
        await system.stop()
    return run


async def run_and_collect(settings: MynaflowSettings, folder: Path) -> dict[str, Any]:
    """The whole demo, and its report collected while the services still answer."""
    from mynaflow_tools.demo.report import collect  # the report reads this module's run

    started = time.monotonic()
    run = await run_demo(settings, folder, collect)
    run.report["timings_s"]["total"] = round(time.monotonic() - started, 1)
    return run.report


async def timed(run: DemoRun, step: str, work: Awaitable[T]) -> T:
    started = time.monotonic()
    try:
        result = await work
    except TimeoutError as error:  # asyncio.timeout's error has no message of its own
        raise TimeoutError(f"step {step!r}: {error or 'timed out'}") from error
    run.timings[step] = round(time.monotonic() - started, 1)
    return result


async def feed_scenario(run: DemoRun, restarts: list[str]) -> None:
    scenario, settings = run.scenario, run.settings
    await feed.publish_moves(settings, scenario.moves)
    await restart_next(run, restarts)
    await answered(run, scenario.setup_commands, expect=r.COMMAND_ACCEPTED_V1)
    notices = feed.write_notice_file(run.system.folder / "jlis-notices.jsonl", scenario.notices)
    await asyncio.to_thread(feed.run_cli, run.system.cli_env(), "notices", "import", str(notices))
    await restart_next(run, restarts)
    await wait_until(
        run.receipts,
        lambda got: len({e["data"]["notice_id"] for e in got}) == scenario.notice_count,
        what=f"{scenario.notice_count} receipts",
    )
    await restart_next(run, restarts)
    await answered(run, scenario.work_commands, expect=r.COMMAND_ACCEPTED_V1)
    await restart_next(run, restarts)
    run.rejected = list((await feed.send_commands(settings, scenario.rejected_commands)).values())
    await answered(run, final_commands(), expect=r.COMMAND_ACCEPTED_V1)


async def restart_next(run: DemoRun, restarts: list[str]) -> None:
    if restarts:
        await run.system.restart(restarts.pop(0))


async def answered(run: DemoRun, commands: list[r.RegistryCommand], *, expect: str) -> None:
    answers = await feed.send_commands(run.settings, commands)
    unexpected = [a for a in answers.values() if a["type"] != expect]
    if unexpected:
        raise RuntimeError(f"commands not {expect}: {[a['data'] for a in unexpected]}")
    run.answers.update(answers)


async def wait_for_outcomes(run: DemoRun) -> None:
    """Case 1 overdue in the backlog; Case 2 flagged and expired; the normal work resolved."""
    url = run.system.url("card-registry")
    await wait_until(
        lambda: get_json(url, "/backlog", overdue="true"),
        lambda items: len(items) == len(run.scenario.case1_notice_ids),
        what="the 48 Case 1 notices overdue in the backlog",
    )
    expected = {
        r.CARD_EXPIRED_V1: 2,
        r.SURFACE_CHIP_MISMATCH_V1: 2,
        r.NOTICE_RESOLVED_V1: len(run.scenario.normal_notice_ids),
        r.CHIP_REWRITE_VERIFIED_V1: 1,
    }

    def complete(events: list[dict[str, Any]]) -> bool:
        return all(len(run.events_of(events, t)) == n for t, n in expected.items())

    await wait_until(run.registry_events, complete, what=f"registry events {expected}")


def digest_expected(now: datetime) -> bool:
    """`digest-due` is emitted on business days only (the ward's calendar)."""
    return BusinessCalendar().is_business_day(now.astimezone(JST).date())


async def send_digest_now(run: DemoRun) -> None:
    watcher = run.system.processes["deadline-watcher"]
    watcher.env["DIGEST_TIME"] = DIGEST_AT_ONCE
    await run.system.restart("deadline-watcher")
    if digest_expected(datetime.now(UTC)):
        await wait_until(
            lambda: feed.read_topic(run.settings, DEADLINES_EVENTS),
            lambda events: bool(run.events_of(events, DEADLINE_DIGEST_DUE_V1)),
            what="today's digest-due",
        )


async def apology_letters(run: DemoRun) -> None:
    """The one incident command, then bulk apology letters released by a second person."""
    env = run.system.cli_env()
    cases = await asyncio.to_thread(
        feed.run_cli, env, "cases", "like", "--kind", "record_update_required", "--overdue"
    )
    run.cases_file = run.system.folder / "cases-like-A.json"
    run.cases_file.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    drafted = await asyncio.to_thread(
        feed.run_cli,
        env,
        *("letters", "apology", "--cases-from", str(run.cases_file)),
        *("--staff", "M-RECORDS", "--batch", "apology-demo"),
    )
    completed = await asyncio.to_thread(
        feed.run_cli, env, "letters", "approve", drafted["batch_id"], "--staff", "C-KOSEKI"
    )
    run.apology = {"cases": len(cases.get("cases", [])), "drafted": drafted, "completed": completed}


async def notifier_state(run: DemoRun) -> tuple[int, list[dict[str, Any]]]:
    group = group_id_for("notifier", run.settings.topic_prefix)
    lag = await consumer_group_lag(run.settings, group)
    deliveries = await get_json(run.system.url("notifier"), "/deliveries", limit="10000")
    return sum(sum(p.values()) for p in lag.values()), deliveries["deliveries"]


async def wait_for_notifier(run: DemoRun) -> None:
    """Everything consumed, every delivery finished (aggregated buckets included), and the
    digest delivered (on a business day: `digest-due` is only emitted on one)."""

    def settled(state: tuple[int, list[dict[str, Any]]]) -> bool:
        lag, deliveries = state
        return lag == 0 and all(d["status"] in FINAL_STATUSES for d in deliveries)

    await wait_until(
        lambda: notifier_state(run),
        settled,
        what="the notifier to deliver everything",
        timeout_s=run.system.aggregation_window_s + 180,
    )
