"""notice-intake's repositories in memory (see `notice_intake.adapters.repository`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from mynaflow.contracts.jlis import QuarantineReason
from mynaflow.storage.unit_of_work import Emitted
from notice_intake.adapters.repository import IntakeRepos
from notice_intake.adapters.repository.receipts import DuplicateCount, ReceiptRow, TriageItemRow
from notice_intake.adapters.repository.reports import Row
from notice_intake.adapters.repository.sequences import MunicipalityGap
from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.domain.progress import Coordinates, PartitionKey
from notice_intake.domain.receipts import OriginalReceipt
from notice_intake.domain.sequence_gaps import Gap, MunicipalitySequence

from mynaflow_testing.uow import FakeUnitOfWork


@dataclass
class MemoryPartitions:
    last_offsets: dict[PartitionKey, int] = field(default_factory=dict)

    async def lock_and_advance(
        self, highest: Mapping[PartitionKey, int]
    ) -> dict[PartitionKey, int]:
        before = {key: self.last_offsets.get(key, -1) for key in sorted(highest)}
        for key, offset in highest.items():
            self.last_offsets[key] = max(before[key], offset)
        return before


@dataclass
class MemoryReceipts:
    """Receipts keyed by notice id (unique), like the table; `refuse` plays a database that
    rejects a row's data (e.g. `asyncpg.DataError`)."""

    stored: list[ReceiptRow] = field(default_factory=list)
    duplicates: dict[UUID, DuplicateCount] = field(default_factory=dict)
    triage: dict[UUID, TriageItemRow] = field(default_factory=dict)
    refuse: Callable[[ReceiptRow], BaseException | None] = lambda _row: None

    async def insert(self, rows: Sequence[ReceiptRow]) -> set[UUID]:
        inserted: set[UUID] = set()
        for row in rows:
            if (error := self.refuse(row)) is not None:
                raise error
            known = {r.receipt.notice_id for r in self.stored if r.receipt.notice_id is not None}
            if row.receipt.notice_id is None or row.receipt.notice_id not in known:
                self.stored.append(row)
                inserted.add(row.receipt.receipt_id)
        return inserted

    async def originals_for(self, notice_ids: Iterable[str]) -> dict[str, OriginalReceipt]:
        wanted = set(notice_ids)
        return {
            row.receipt.notice_id: _original(row)
            for row in self.stored
            if row.receipt.notice_id in wanted and row.receipt.notice_id is not None
        }

    async def unreadable_payloads_at(
        self, coordinates: Iterable[Coordinates]
    ) -> dict[Coordinates, set[bytes]]:
        wanted = set(coordinates)
        found: dict[Coordinates, set[bytes]] = {}
        for row in self.stored:
            at = (row.message.topic, row.message.partition, row.message.offset)
            if at in wanted and row.receipt.notice_id is None and row.raw_payload is not None:
                found.setdefault(at, set()).add(row.raw_payload)
        return found

    async def count_duplicates(self, counts: Sequence[DuplicateCount]) -> None:
        for count in counts:
            previous = self.duplicates.get(count.receipt_id)
            if previous is not None:
                count = DuplicateCount(
                    count.receipt_id,
                    previous.duplicates + count.duplicates,
                    previous.conflicts + count.conflicts,
                    max(previous.last_at, count.last_at),
                )
            self.duplicates[count.receipt_id] = count

    async def insert_triage_items(self, items: Sequence[TriageItemRow]) -> None:
        for item in items:
            assert item.receipt.work_item_id is not None, "a triage item has a work item id"
            self.triage.setdefault(item.receipt.work_item_id, item)


def _original(row: ReceiptRow) -> OriginalReceipt:
    r = row.receipt
    assert r.notice_id is not None
    return OriginalReceipt(
        receipt_id=r.receipt_id,
        notice_id=r.notice_id,
        status=r.status,
        owner_queue=r.owner_queue,
        sla_due_on=r.sla_due_on,
        received_at=r.received_at,
        content_hash=row.content_hash,
    )


@dataclass
class MemorySequences:
    """Heads and gaps per municipality; `lock` hands out copies, `save` writes them back."""

    states: dict[str, MunicipalitySequence] = field(default_factory=dict)

    async def lock(self, numbers: Sequence[tuple[str, int]]) -> dict[str, MunicipalitySequence]:
        for code, number in numbers:
            self.states.setdefault(code, MunicipalitySequence(code, number, number))
        codes = {code for code, _ in numbers}
        return {code: _copy(self.states[code]) for code in sorted(codes)}

    async def save(
        self,
        before: Mapping[str, Mapping[UUID, Gap]],
        states: Mapping[str, MunicipalitySequence],
    ) -> None:
        for code, state in states.items():
            dropped = set(before.get(code, {})) - set(state.gaps)
            # The SQL deletes only unreported gaps: a reported one must be closed, not dropped.
            assert all(before[code][gap_id].reported_at is None for gap_id in dropped)
            self.states[code] = _copy(state)

    async def claim_due_gaps(
        self, due_before: datetime, reported_at: datetime
    ) -> list[MunicipalityGap]:
        claimed: list[MunicipalityGap] = []
        for code, state in sorted(self.states.items()):
            for gap in state.open_gaps():
                if gap.reported_at is None and gap.first_seen_missing_at <= due_before:
                    state.put(replace(gap, reported_at=reported_at))
                    claimed.append(MunicipalityGap(code, state.gaps[gap.gap_id]))
        return sorted(claimed, key=lambda g: (g.gap.first_seen_missing_at, g.gap.first_missing))


def _copy(state: MunicipalitySequence) -> MunicipalitySequence:
    return MunicipalitySequence(state.municipality_code, state.low, state.high, dict(state.gaps))


@dataclass
class DeadLetter:
    message: RawNoticeMessage
    reason: QuarantineReason
    service: str
    prefix: str


@dataclass
class MemoryDeadLetters:
    recorded: dict[tuple[str, int, int], DeadLetter] = field(default_factory=dict)

    async def record_unreadable(
        self, message: RawNoticeMessage, reason: QuarantineReason, *, service: str, prefix: str
    ) -> None:
        coordinates = (message.topic, message.partition, message.offset)
        self.recorded.setdefault(coordinates, DeadLetter(message, reason, service, prefix))


@dataclass
class MemoryIntakeReads:
    """The gap watcher's read; the `/stats` reads are covered by the service tests."""

    sequences: MemorySequences

    async def next_unreported_gap_seen_at(self) -> datetime | None:
        unreported = [
            gap.first_seen_missing_at
            for state in self.sequences.states.values()
            for gap in state.open_gaps()
            if gap.reported_at is None
        ]
        return min(unreported, default=None)

    async def receipt_counts(self, unreadable_kind: str) -> list[Row]:
        raise _stats_not_in_memory(f"receipt_counts({unreadable_kind!r})")

    async def open_gaps(self, limit: int) -> list[Row]:
        raise _stats_not_in_memory(f"open_gaps({limit})")

    async def open_gap_count(self) -> int:
        raise _stats_not_in_memory("open_gap_count()")

    async def oldest_receipt(self) -> Row | None:
        raise _stats_not_in_memory("oldest_receipt()")


def _stats_not_in_memory(read: str) -> AssertionError:
    return AssertionError(f"{read} is not kept in memory: /stats is tested against PostgreSQL")


@dataclass
class MemoryIntake:
    """All of notice-intake's in-memory state, and a fake unit of work over it."""

    partitions: MemoryPartitions = field(default_factory=MemoryPartitions)
    receipts: MemoryReceipts = field(default_factory=MemoryReceipts)
    sequences: MemorySequences = field(default_factory=MemorySequences)
    dead_letters: MemoryDeadLetters = field(default_factory=MemoryDeadLetters)
    uow: FakeUnitOfWork[IntakeRepos] = field(init=False)
    reads: MemoryIntakeReads = field(init=False)

    def __post_init__(self) -> None:
        repos = IntakeRepos(self.partitions, self.receipts, self.sequences, self.dead_letters)
        self.uow = FakeUnitOfWork(repos, rollback_repos=True)
        self.reads = MemoryIntakeReads(self.sequences)

    def published_on(self, topic: str) -> list[Emitted]:
        return [e for e in self.uow.published if e.topic == topic]
