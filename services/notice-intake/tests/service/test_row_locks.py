"""The one-statement create-or-lock of a batch's progress rows, on the real schema: a new
partition's mark starts at -1, an existing one is returned as stored, and the row stays locked
for the rest of the transaction (a replica sharing the partition in a rebalance waits), as
`SELECT ... FOR UPDATE` did."""

from __future__ import annotations

import asyncpg
import pytest
from mynaflow_testing.harness.notice_intake import InProcessIntake
from notice_intake.adapters.repository.receipts import SqlConsumedPartitions
from notice_intake.adapters.repository.sequences import SqlSequences

pytestmark = pytest.mark.service

TOPIC = "test.jlis.notices.raw"


async def test_marks_start_at_minus_one_and_come_back_as_stored(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as conn, conn.transaction():
        partitions = SqlConsumedPartitions(conn)
        assert await partitions.lock([(TOPIC, 1), (TOPIC, 0), (TOPIC, 1)]) == {
            (TOPIC, 0): -1,
            (TOPIC, 1): -1,
        }
        await partitions.advance({(TOPIC, 0): 41})
    async with pool.acquire() as conn, conn.transaction():
        assert await SqlConsumedPartitions(conn).lock([(TOPIC, 0), (TOPIC, 1)]) == {
            (TOPIC, 0): 41,
            (TOPIC, 1): -1,
        }


async def test_a_locked_mark_makes_another_transaction_wait(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as holder, holder.transaction():
        await SqlConsumedPartitions(holder).lock([(TOPIC, 3)])
        async with pool.acquire() as other, other.transaction():
            await other.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await SqlConsumedPartitions(other).lock([(TOPIC, 3)])


async def test_a_municipality_head_starts_at_its_first_number_and_is_locked(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as conn, conn.transaction():
        states = await SqlSequences(conn).lock([("141046", 7), ("141046", 9)])
        assert (states["141046"].low, states["141046"].high) == (7, 7)
        async with pool.acquire() as other, other.transaction():
            await other.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await SqlSequences(other).lock([("141046", 8)])
