"""Handlers against the real PostgreSQL on a fake clock: the silent-watcher alert fires once per
outage; the daily digest groups by queue, for each manager their own queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from mynaflow.contracts import deadlines
from mynaflow.contracts.envelope import RawCloudEvent, make_event
from mynaflow.domain.clock import FakeClock
from mynaflow.runtime.definition import migrations_dir_for
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, apply_migrations
from mynaflow_testing.context import storage_context
from mynaflow_testing.fixture_types import Pool, PoolFactory
from notifier import app
from notifier.adapters.repository import SqlRepository
from notifier.domain.records import Delivery
from notifier.service_layer.consume import handle_event
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.watch import check_watcher

from .conftest import ISSUANCE_MANAGER, MANAGER, MakeSettings

pytestmark = pytest.mark.service

START = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.fixture
async def notifier_pool(fresh_schema: str, pg_pool_factory: PoolFactory) -> Pool:
    pool = await pg_pool_factory(fresh_schema)
    await apply_migrations(
        pool,
        schema=fresh_schema,
        directories=[PLATFORM_MIGRATIONS, migrations_dir_for(app.__file__)],
    )
    return pool


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def deps(
    notifier_settings: MakeSettings,
    notifier_pool: asyncpg.Pool[asyncpg.Record],
    fresh_schema: str,
    clock: FakeClock,
) -> NotifierDeps:
    context = storage_context(
        app.definition(), notifier_settings(), notifier_pool, schema=fresh_schema
    )
    return app.bootstrap(context, clock=clock, senders={})


async def all_deliveries(pool: asyncpg.Pool[asyncpg.Record]) -> list[Delivery]:
    async with pool.acquire() as conn:
        return await SqlRepository(conn).query_deliveries(None, None, 1000)


def heartbeat(at: datetime) -> RawCloudEvent:
    data = deadlines.Heartbeat(instance="w:1:a", fired_at=at, pending_deadlines=1)
    event = make_event(
        source="deadline-watcher", event_type=deadlines.DEADLINE_HEARTBEAT_V1, data=data
    )
    return RawCloudEvent.model_validate(event.model_dump(mode="json"))


async def test_the_silent_watcher_alert_fires_once_per_outage(
    deps: NotifierDeps, clock: FakeClock, notifier_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    await handle_event(heartbeat(START), None, deps)
    await check_watcher(deps)
    clock.advance(timedelta(minutes=9, seconds=59))
    await check_watcher(deps)
    assert await all_deliveries(notifier_pool) == []

    clock.advance(timedelta(seconds=1))
    await check_watcher(deps)
    first = await all_deliveries(notifier_pool)
    assert {(d.recipient_id, d.template) for d in first} == {
        (MANAGER, "watcher_silent_alert"),
        (ISSUANCE_MANAGER, "watcher_silent_alert"),
    }
    clock.advance(timedelta(hours=3))
    await check_watcher(deps)
    assert len(await all_deliveries(notifier_pool)) == len(first), "once per outage"

    # The watcher comes back, then stops again: a second outage, a second alert.
    await handle_event(heartbeat(clock.now()), None, deps)
    clock.advance(timedelta(minutes=5))
    await check_watcher(deps)
    assert len(await all_deliveries(notifier_pool)) == len(first)
    clock.advance(timedelta(minutes=5))
    await check_watcher(deps)
    assert len(await all_deliveries(notifier_pool)) == 2 * len(first)


def deadline_event(event_type: str, key: str, queue: str, due: datetime) -> RawCloudEvent:
    data = deadlines.DeadlineEvent(
        key=key,
        policy="notice_sla",
        stage="breach" if event_type == deadlines.DEADLINE_BREACHED_V1 else None,
        role="desk_manager" if event_type == deadlines.DEADLINE_BREACHED_V1 else None,
        due_at=due,
        fired_at=START,
        subject=deadlines.DeadlineSubject(type="notice", ids={"notice_id": key}),
        audience=deadlines.DeadlineAudience(queue=queue),
        starts_at=due - timedelta(days=5),
    )
    event = make_event(source="deadline-watcher", event_type=event_type, data=data, subject=key)
    return RawCloudEvent.model_validate(event.model_dump(mode="json"))


async def test_the_digest_groups_by_queue_for_each_manager(
    deps: NotifierDeps, notifier_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    day = timedelta(days=1)
    seen = [
        deadline_event(deadlines.DEADLINE_SCHEDULED_V1, "notice:A", "card-records", START + day),
        deadline_event(deadlines.DEADLINE_SCHEDULED_V1, "notice:B", "card-records", START - day),
        deadline_event(deadlines.DEADLINE_BREACHED_V1, "notice:B", "card-records", START - day),
        deadline_event(deadlines.DEADLINE_SCHEDULED_V1, "notice:C", "card-issuance", START + day),
        deadline_event(deadlines.DEADLINE_SCHEDULED_V1, "notice:D", "card-issuance", START - day),
        deadline_event(deadlines.DEADLINE_CLEARED_V1, "notice:D", "card-issuance", START - day),
    ]
    for event in seen:
        await handle_event(event, None, deps)
    digest = deadlines.DigestDue(
        digest_on=START.date(), fired_at=START, at=START, overdue_count=1, overdue=[]
    )
    due = make_event(
        source="deadline-watcher", event_type=deadlines.DEADLINE_DIGEST_DUE_V1, data=digest
    )
    await handle_event(RawCloudEvent.model_validate(due.model_dump(mode="json")), None, deps)

    rows = [d for d in await all_deliveries(notifier_pool) if d.template == "manager_digest"]
    by_manager = {d.recipient_id: d.item for d in rows}
    assert by_manager[MANAGER]["queues"] == [
        {"queue": "card-records", "open": 2, "overdue": 1, "oldest_days": 6}
    ]
    assert [b["label"] for b in by_manager[MANAGER]["breached"]] == ["notice:B"]
    assert by_manager[ISSUANCE_MANAGER]["queues"] == [
        {"queue": "card-issuance", "open": 1, "overdue": 0, "oldest_days": 4}
    ]
    # The section chief of both queues gets both lines, in one digest.
    assert [q["queue"] for q in by_manager["C-KOSEKI"]["queues"]] == [
        "card-issuance",
        "card-records",
    ]
