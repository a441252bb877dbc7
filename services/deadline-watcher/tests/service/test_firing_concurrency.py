"""The firing transaction against the real PostgreSQL, two replicas racing in one event loop
(separate pools): every stage decided once, one outbox event per fired stage; a clear that
commits first stops the stage."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from deadline_watcher.app import bootstrap, definition
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.entrypoints.subscribers import parse_request
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.firing import fire_due
from deadline_watcher.service_layer.requests import handle_requests
from deadline_watcher.settings import DeadlineWatcherSettings
from mynaflow.contracts.deadlines import ClearDeadline, clear_request_event, schedule_request_event
from mynaflow.contracts.envelope import CloudEvent, decode_event, encode_event
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, apply_migrations
from mynaflow.storage.pool import create_pool
from mynaflow_testing.context import storage_context
from mynaflow_testing.harness.deadline_watcher import MIGRATIONS, request
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

POLICIES = load_policies(
    json.dumps(
        {
            "pair": {
                "stages": [
                    {"name": "reminder", "offset": "-1s", "role": "assignee"},
                    {"name": "breach", "role": "desk_manager"},
                ]
            }
        }
    )
)


@pytest_asyncio.fixture
async def pools(database_url: str) -> AsyncIterator[list[asyncpg.Pool[asyncpg.Record]]]:
    schema = f"dwf_{uuid.uuid4().hex[:8]}"
    made = [await create_pool(database_url, schema=schema, max_size=4) for _ in range(2)]
    await apply_migrations(made[0], schema=schema, directories=[PLATFORM_MIGRATIONS, MIGRATIONS])
    try:
        yield made
    finally:
        await made[0].execute(f'DROP SCHEMA "{schema}" CASCADE')
        for pool in made:
            await pool.close()


def replica(pool: asyncpg.Pool[asyncpg.Record], name: str) -> WatcherDeps:
    context = storage_context(definition(), DeadlineWatcherSettings(topic_prefix=""), pool)
    return bootstrap(
        context, policies=POLICIES, wake_channel="test_wake", instance=name, claim_batch=50
    )


async def apply(deps: WatcherDeps, events: list[CloudEvent[Any]]) -> None:
    """What the subscriber does with a batch: parse each request, then handle them together."""
    raw = [decode_event(encode_event(event)) for event in events]
    await handle_requests([parse_request(event, deps.policies) for event in raw], deps)


async def schedule(deps: WatcherDeps, keys: list[str], due_at: datetime) -> None:
    events = [schedule_request_event(request(k, "pair", due_at=due_at), source="t") for k in keys]
    await apply(deps, events)


async def passed(instant: datetime) -> None:
    async def now() -> datetime:
        return datetime.now(UTC)

    await wait_for(now, until=lambda t: t > instant, timeout=30, what=f"time past {instant}")


async def test_two_replicas_racing_decide_every_stage_once(
    pools: list[asyncpg.Pool[asyncpg.Record]],
) -> None:
    first, second = replica(pools[0], "one"), replica(pools[1], "two")
    due = datetime.now(UTC) + timedelta(seconds=3)
    keys = [f"k{i}" for i in range(2000)]
    for start in range(0, len(keys), 500):
        await schedule(first, keys[start : start + 500], due)
    await passed(due)

    async def drain(deps: WatcherDeps) -> int:
        total = 0
        while claimed := await fire_due(deps):
            total += claimed
        return total

    claimed = await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    assert sum(claimed) == len(keys)  # each deadline claimed by exactly one replica

    pool = pools[0]
    ledger = await pool.fetch("SELECT decided_by, count(*) AS n FROM stage_firings GROUP BY 1")
    assert sum(row["n"] for row in ledger) == 2 * len(keys)
    assert {row["decided_by"] for row in ledger} == {"one", "two"}
    kinds = await pool.fetch(
        """
        SELECT convert_from(payload, 'UTF8')::jsonb ->> 'type' AS type, count(*) AS n
        FROM outbox GROUP BY 1
        """
    )
    assert {row["type"]: row["n"] for row in kinds} == {
        "jp.mynaflow.deadline.scheduled.v1": len(keys),
        "jp.mynaflow.deadline.stage-reached.v1": len(keys),
        "jp.mynaflow.deadline.breached.v1": len(keys),
    }
    identities = await pool.fetchval(
        """
        SELECT count(DISTINCT (convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'key',
                               convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'stage'))
        FROM outbox WHERE convert_from(payload, 'UTF8')::jsonb ->> 'type' <> $1
        """,
        "jp.mynaflow.deadline.scheduled.v1",
    )
    assert identities == 2 * len(keys)


async def test_a_clear_committed_before_the_stage_is_claimed_stops_it(
    pools: list[asyncpg.Pool[asyncpg.Record]],
) -> None:
    deps = replica(pools[0], "one")
    due = datetime.now(UTC) + timedelta(seconds=2)
    await schedule(deps, ["cleared-first", "kept"], due)
    await passed(due)  # both stages are due now, nobody has claimed them yet
    clear = clear_request_event(ClearDeadline(key="cleared-first", reason="done"), source="t")
    await apply(deps, [clear])
    while await fire_due(deps):
        pass
    rows = await pools[0].fetch("SELECT key, stage, status FROM stage_firings ORDER BY key, stage")
    decided = [(r["key"], r["stage"], r["status"]) for r in rows]
    # The clear came after the due time without a breach emitted: the breach is a fact (late or
    # not), the reminder never fires.
    assert ("cleared-first", "reminder", "fired") not in decided
    assert ("cleared-first", "breach", "fired") in decided
    assert ("kept", "reminder", "fired") in decided
    assert ("kept", "breach", "fired") in decided
