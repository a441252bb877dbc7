"""Service tests of the inbox against the real PostgreSQL (the Kafka redelivery case is in
test_outbox.py: an event read twice from the topic is applied once)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from mynaflow.messaging.inbox import NotInTransactionError, claim_inbox, claim_inbox_many
from mynaflow_testing.fixture_types import Pool, PooledConnection
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service


async def claim(pool: Pool, event_id: str, consumer: str = "default") -> bool:
    async with pool.acquire() as conn, conn.transaction():
        return await claim_inbox(conn, event_id, consumer=consumer)


async def test_the_second_claim_of_an_event_is_refused(platform_pool: Pool) -> None:
    event_id = str(uuid.uuid4())

    assert [await claim(platform_pool, event_id) for _ in range(3)] == [True, False, False]


async def test_a_rolled_back_claim_leaves_the_event_to_be_applied_again(
    platform_pool: Pool,
) -> None:
    event_id = str(uuid.uuid4())
    with contextlib.suppress(RuntimeError):
        async with platform_pool.acquire() as conn, conn.transaction():
            assert await claim_inbox(conn, event_id)
            raise RuntimeError("the handler failed, so nothing it did may count")

    assert await claim(platform_pool, event_id) is True


async def test_each_consumer_has_its_own_claims(platform_pool: Pool) -> None:
    event_id = uuid.uuid4()

    claims = [await claim(platform_pool, str(event_id), consumer) for consumer in ("a", "b", "a")]

    assert claims == [True, True, False]


async def test_a_batch_claim_flags_only_the_first_copy_of_each_new_id(platform_pool: Pool) -> None:
    seen, new, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    await claim(platform_pool, seen)

    async with platform_pool.acquire() as conn, conn.transaction():
        # A relay's republish puts both copies of `new` in one batch: only one may be applied.
        claimed = await claim_inbox_many(conn, [seen, new, other, new, seen])

    assert claimed == [False, True, True, False, False]
    assert await claim(platform_pool, new) is False


async def test_a_claim_outside_a_transaction_is_refused(platform_pool: Pool) -> None:
    async with platform_pool.acquire() as conn:
        with pytest.raises(NotInTransactionError):
            await claim_inbox(conn, str(uuid.uuid4()))
        assert await conn.fetchval("SELECT count(*) FROM inbox") == 0


async def waiting_on_a_lock(pool: Pool, pid: int) -> bool:
    wait_type = await pool.fetchval(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
    )
    return bool(wait_type == "Lock")


async def test_a_concurrent_redelivery_waits_for_the_first_and_is_then_refused(
    platform_pool: Pool,
) -> None:
    event_id = str(uuid.uuid4())
    async with platform_pool.acquire() as first, platform_pool.acquire() as second:
        async with first.transaction():
            assert await claim_inbox(first, event_id)
            second_claim = asyncio.create_task(claim_in_transaction(second, event_id))
            await wait_for(
                lambda: waiting_on_a_lock(platform_pool, second.get_server_pid()),
                what="the second claim to wait for the first transaction",
            )
            assert not second_claim.done()
        # The first claim has committed, which releases (and refuses) the second one.
        assert await asyncio.wait_for(second_claim, timeout=10) is False


async def claim_in_transaction(conn: PooledConnection, event_id: str) -> bool:
    async with conn.transaction():
        return await claim_inbox(conn, event_id)
