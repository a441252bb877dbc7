"""The one-statement create-or-lock of a batch's progress rows, on the real schema: a new
partition's mark starts at -1, an existing one is returned as it was before the batch and raised
to the batch's highest offset (never lowered), and the row stays locked for the rest of the
transaction (a replica sharing the partition in a rebalance waits), as `SELECT ... FOR UPDATE`
did."""

from __future__ import annotations

import asyncpg
import pytest
from mynaflow_testing.harness.notice_intake import InProcessIntake
from notice_intake.adapters.repository.receipts import SqlConsumedPartitions
from notice_intake.adapters.repository.sequences import SqlSequences

pytestmark = pytest.mark.service

TOPIC = "test.jlis.notices.raw"


async def _marks(pool: asyncpg.Pool[asyncpg.Record]) -> dict[tuple[str, int], int]:
    rows = await pool.fetch("SELECT topic, partition, last_offset FROM consumed_partitions")
    return {(row["topic"], row["partition"]): row["last_offset"] for row in rows}


async def test_marks_start_at_minus_one_come_back_as_before_and_never_go_down(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as conn, conn.transaction():
        partitions = SqlConsumedPartitions(conn)
        assert await partitions.lock_and_advance({(TOPIC, 1): 7, (TOPIC, 0): 41}) == {
            (TOPIC, 0): -1,
            (TOPIC, 1): -1,
        }
    async with pool.acquire() as conn, conn.transaction():
        # A batch behind the mark (a redelivery) leaves it; one past it raises it.
        assert await SqlConsumedPartitions(conn).lock_and_advance(
            {(TOPIC, 0): 30, (TOPIC, 1): 9}
        ) == {(TOPIC, 0): 41, (TOPIC, 1): 7}
    assert await _marks(pool) == {(TOPIC, 0): 41, (TOPIC, 1): 9}


async def test_a_rolled_back_batch_leaves_the_mark_where_it_was(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as conn, conn.transaction():
        await SqlConsumedPartitions(conn).lock_and_advance({(TOPIC, 2): 5})
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await SqlConsumedPartitions(conn).lock_and_advance({(TOPIC, 2): 99})
        await transaction.rollback()
    async with pool.acquire() as conn, conn.transaction():
        assert await SqlConsumedPartitions(conn).lock_and_advance({(TOPIC, 2): 6}) == {
            (TOPIC, 2): 5
        }


async def test_a_locked_mark_makes_another_transaction_wait(
    running_intake: InProcessIntake,
) -> None:
    pool = running_intake.context.pool
    async with pool.acquire() as holder, holder.transaction():
        await SqlConsumedPartitions(holder).lock_and_advance({(TOPIC, 3): 0})
        async with pool.acquire() as other, other.transaction():
            await other.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await SqlConsumedPartitions(other).lock_and_advance({(TOPIC, 3): 1})


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
