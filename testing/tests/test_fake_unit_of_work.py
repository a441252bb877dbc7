"""`FakeUnitOfWork` keeps the invariants of the real unit (see
shared/tests/storage/test_unit_of_work.py for PostgreSQL): publish only on commit, in order; an
inbox id claimed once; repositories put back on rollback when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from mynaflow.contracts.envelope import CloudEvent, make_event
from mynaflow.storage.unit_of_work import UnitOfWorkError
from mynaflow_testing.uow import FakeUnitOfWork
from pydantic import BaseModel

pytestmark = pytest.mark.unit


class Note(BaseModel):
    text: str


@dataclass
class Notes:
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Repos:
    notes: Notes


def note(text: str) -> CloudEvent[Any]:
    return make_event(source="test", event_type="jp.mynaflow.test.note.v1", data=Note(text=text))


async def test_events_are_published_on_commit_only_in_emission_order() -> None:
    uow = FakeUnitOfWork(Repos(Notes()))
    async with uow:
        uow.emit("x", "a", note("1"))
    assert (uow.published, uow.rollbacks) == ([], 1)
    async with uow:
        uow.emit("x", "a", note("2"))
        uow.emit("y", "b", note("3"))
        await uow.commit()
    assert [(e.topic, e.key, e.event.data.text) for e in uow.published] == [
        ("x", "a", "2"),
        ("y", "b", "3"),
    ]


async def test_an_inbox_id_is_claimed_once_and_a_rolled_back_claim_is_free_again() -> None:
    uow = FakeUnitOfWork(Repos(Notes()))
    async with uow:
        assert await uow.claim("e1") is True
    async with uow:
        assert await uow.claim_many(["e1", "e2", "e2"]) == [True, True, False]
        await uow.commit()
    async with uow:
        assert await uow.claim("e1") is False
        assert await uow.claim("e1", consumer="other") is True


async def test_repositories_are_put_back_on_rollback_when_asked() -> None:
    kept = FakeUnitOfWork(Repos(Notes()))
    restored = FakeUnitOfWork(Repos(Notes()), rollback_repos=True)
    for uow in (kept, restored):
        async with uow:
            uow.repos.notes.texts.append("written")
    assert kept.repos.notes.texts == ["written"]  # the default: a fake cannot undo
    assert restored.repos.notes.texts == []


async def test_commit_outside_the_block_or_twice_is_refused() -> None:
    uow = FakeUnitOfWork(Repos(Notes()))
    with pytest.raises(UnitOfWorkError):
        await uow.commit()
    async with uow:
        await uow.commit()
        with pytest.raises(UnitOfWorkError):
            await uow.commit()
