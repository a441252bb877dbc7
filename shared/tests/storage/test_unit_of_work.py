"""`PostgresUnitOfWork` against the real PostgreSQL: what commits, what rolls back, and the order
in which emitted events reach the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from mynaflow.contracts.envelope import CloudEvent, decode_event, make_event
from mynaflow.storage.pool import PooledConnection
from mynaflow.storage.unit_of_work import PostgresUnitOfWork, UnitOfWorkError
from pydantic import BaseModel

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection

pytestmark = pytest.mark.service


class Note(BaseModel):
    text: str


@dataclass
class NotesRepository:
    """A one-table repository on the unit's connection, as a service's adapters would write it."""

    conn: DbConnection

    async def add(self, text: str) -> None:
        await self.conn.execute("INSERT INTO notes (text) VALUES ($1)", text)


def note_event(text: str) -> CloudEvent[Any]:
    return make_event(source="test", event_type="jp.mynaflow.test.note.v1", data=Note(text=text))


@pytest.fixture
async def units(
    platform_pool: asyncpg.Pool[asyncpg.Record],
) -> PostgresUnitOfWork[NotesRepository]:
    await platform_pool.execute("CREATE TABLE notes (text text NOT NULL)")
    return PostgresUnitOfWork(platform_pool, NotesRepository)


async def stored(pool: asyncpg.Pool[asyncpg.Record]) -> tuple[list[str], list[tuple[str, str]]]:
    """The notes table, and (topic, note text) of every outbox row in id order."""
    notes = [row["text"] for row in await pool.fetch("SELECT text FROM notes ORDER BY text")]
    rows = await pool.fetch("SELECT topic, payload FROM outbox ORDER BY id")
    outbox = [(row["topic"], decode_event(row["payload"]).data["text"]) for row in rows]
    return notes, outbox


async def test_a_commit_keeps_the_rows_and_the_emitted_events(
    units: PostgresUnitOfWork[NotesRepository], platform_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    async with units as uow:
        await uow.repos.add("a")
        uow.emit("notes", "k", note_event("a"))
        await uow.commit()
    assert await stored(platform_pool) == (["a"], [("notes", "a")])


async def test_an_exception_rolls_back_rows_and_events(
    units: PostgresUnitOfWork[NotesRepository], platform_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    async def failing_handler() -> None:
        async with units as uow:
            await uow.repos.add("a")
            uow.emit("notes", "k", note_event("a"))
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_handler()
    assert await stored(platform_pool) == ([], [])


async def test_leaving_without_commit_rolls_back(
    units: PostgresUnitOfWork[NotesRepository], platform_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    async with units as uow:
        await uow.repos.add("a")
        uow.emit("notes", "k", note_event("a"))
    assert await stored(platform_pool) == ([], [])
    assert platform_pool.get_size() - platform_pool.get_idle_size() == 0  # connection returned


async def test_outbox_rows_keep_the_emitted_order_across_topics(
    units: PostgresUnitOfWork[NotesRepository], platform_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    emitted = [("x", "1"), ("x", "2"), ("y", "3"), ("x", "4"), ("y", "5"), ("y", "6")]
    async with units as uow:
        for topic, text in emitted:
            uow.emit(topic, text, note_event(text))
        await uow.commit()
    assert (await stored(platform_pool))[1] == emitted


async def test_an_inbox_id_is_claimed_once_across_units_and_within_one(
    units: PostgresUnitOfWork[NotesRepository],
) -> None:
    event_id, other = uuid.uuid4(), uuid.uuid4()
    async with units as uow:
        assert await uow.claim(event_id) is True
        assert await uow.claim(event_id) is False
        await uow.commit()
    async with units as uow:
        assert await uow.claim(event_id) is False
        assert await uow.claim(event_id, consumer="another") is True
        assert await uow.claim_many([event_id, other, other]) == [False, True, False]
        await uow.commit()


async def test_a_claim_that_rolls_back_can_be_claimed_again(
    units: PostgresUnitOfWork[NotesRepository],
) -> None:
    event_id = uuid.uuid4()
    async with units as uow:
        assert await uow.claim(event_id) is True
    async with units as uow:
        assert await uow.claim_many([event_id]) == [True]


async def test_commit_twice_or_outside_the_block_is_refused(
    units: PostgresUnitOfWork[NotesRepository],
) -> None:
    with pytest.raises(UnitOfWorkError):
        await units.commit()
    async with units as uow:
        await uow.commit()
        with pytest.raises(UnitOfWorkError):
            await uow.commit()
    with pytest.raises(UnitOfWorkError):
        _ = units.repos


# --- the session's reset travels with COMMIT / ROLLBACK (`PooledConnection`) -----------------


@pytest.fixture
async def one_connection_units(
    fresh_schema: str, pg_pool_factory: Any
) -> tuple[PostgresUnitOfWork[NotesRepository], asyncpg.Pool[asyncpg.Record]]:
    """Units on a pool of exactly one connection, so each unit gets the one the last left."""
    pool = await pg_pool_factory(fresh_schema, min_size=1, max_size=1)
    await pool.execute("CREATE TABLE notes (text text NOT NULL)")
    return PostgresUnitOfWork(pool, NotesRepository), pool


async def _session_leftovers(pool: asyncpg.Pool[asyncpg.Record]) -> tuple[str, int]:
    """The session's application_name and the advisory locks it holds, as the next user sees."""
    async with pool.acquire() as conn:
        name = await conn.fetchval("SHOW application_name")
        locks = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    return name, locks


async def _leave_session_state(conn: DbConnection) -> None:
    await conn.execute("SET application_name = 'left-behind'")
    await conn.execute("SELECT pg_advisory_lock(4242)")


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_a_unit_hands_back_a_reset_session_whether_it_commits_or_not(
    one_connection_units: tuple[PostgresUnitOfWork[NotesRepository], asyncpg.Pool[Any]],
    commit: bool,
) -> None:
    units, pool = one_connection_units
    async with units as uow:
        await _leave_session_state(uow.connection)
        await uow.repos.add("a")
        if commit:
            await uow.commit()
    assert await _session_leftovers(pool) == ("", 0)
    assert await pool.fetchval("SELECT count(*) FROM notes") == int(commit)


async def test_a_statement_after_the_commit_makes_the_pool_reset_the_session(
    one_connection_units: tuple[PostgresUnitOfWork[NotesRepository], asyncpg.Pool[Any]],
) -> None:
    units, pool = one_connection_units
    async with units as uow:
        await uow.commit()
        assert uow.connection.session_is_reset()  # type: ignore[union-attr]
        await _leave_session_state(uow.connection)  # outside the unit's transaction
        assert not uow.connection.session_is_reset()  # type: ignore[union-attr]
    assert await _session_leftovers(pool) == ("", 0)


async def test_a_committed_unit_spares_the_pools_reset_round_trip(
    one_connection_units: tuple[PostgresUnitOfWork[NotesRepository], asyncpg.Pool[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    units, pool = one_connection_units
    sent: list[str] = []
    execute = PooledConnection.execute

    async def recording_execute(self: PooledConnection, query: str, *args: Any, **kw: Any) -> str:
        sent.append(query.split(None, 1)[0].rstrip(";"))
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(PooledConnection, "execute", recording_execute)
    async with units as uow:
        await uow.repos.add("a")
        await uow.commit()
    async with pool.acquire() as conn:  # the release before this one was the unit's
        await conn.execute("SELECT 1")
    # BEGIN, the insert, COMMIT with the reset; no reset of its own at release. The plain
    # `acquire` above had none of that, so its release sends the reset query (SELECT ...).
    assert sent == ["BEGIN", "INSERT", "COMMIT", "SELECT", "SELECT"]
