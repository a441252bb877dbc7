"""`PostgresUnitOfWork` against the real PostgreSQL: what commits, what rolls back, and the order
in which emitted events reach the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from mynaflow.contracts.envelope import CloudEvent, decode_event, make_event
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
