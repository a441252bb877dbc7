"""Receipts, triage items and per-partition progress: SQL on the unit of work's connection.

The protocols are what the service layer sees; the classes are their PostgreSQL versions (unit
tests use in-memory ones).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from mynaflow.contracts.intake import NoticeAcknowledged, ReceiptStatus

from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.domain.progress import Coordinates, PartitionKey
from notice_intake.domain.receipts import OriginalReceipt

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


@dataclass(frozen=True)
class ReceiptRow:
    """A receipt to store, with what the event does not carry (hash, redacted raw bytes)."""

    receipt: NoticeAcknowledged
    content_hash: str | None
    raw_payload: bytes | None
    message: RawNoticeMessage


def _insert_order(row: ReceiptRow) -> tuple[str, str, int, int]:
    m = row.message
    return (row.receipt.notice_id or "", m.topic, m.partition, m.offset)


def _receipt_values(row: ReceiptRow) -> tuple[Any, ...]:
    r = row.receipt
    return (
        r.receipt_id,
        r.notice_id,
        r.status.value,
        r.kind,
        r.municipality_code,
        r.issued_at,
        r.application_id,
        r.resident_ref,
        r.sequence,
        None if r.details is None else json.dumps(r.details),
        r.owner_queue,
        r.received_at,
        r.sla_due_on,
        json.dumps([reason.model_dump(mode="json") for reason in r.reasons]),
        row.content_hash,
        row.raw_payload,
        row.message.topic,
        row.message.partition,
        row.message.offset,
    )


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows of equal length as one list per column (for `unnest`)."""
    return [list(column) for column in zip(*rows, strict=True)]


@dataclass(frozen=True)
class DuplicateCount:
    receipt_id: UUID
    duplicates: int
    conflicts: int
    last_at: datetime


def sorted_by_id(counts: Sequence[DuplicateCount]) -> list[DuplicateCount]:
    # A stable lock order: two replicas updating the same receipts never deadlock.
    return sorted(counts, key=lambda c: str(c.receipt_id))


@dataclass(frozen=True)
class TriageItemRow:
    receipt: NoticeAcknowledged
    content_hash: str | None
    raw_payload: bytes
    message: RawNoticeMessage
    created_at: datetime


def _triage_values(item: TriageItemRow) -> tuple[Any, ...]:
    r = item.receipt
    return (
        r.work_item_id,
        r.receipt_id,
        r.notice_id,
        r.reasons[0].code if r.reasons else "content_conflict",
        r.owner_queue,
        r.sla_due_on,
        item.content_hash,
        item.raw_payload,
        [reason.model_dump(mode="json") for reason in r.reasons],
        item.message.topic,
        item.message.partition,
        item.message.offset,
        item.created_at,
    )


class ConsumedPartitions(Protocol):
    async def lock_and_advance(
        self, highest: Mapping[PartitionKey, int]
    ) -> dict[PartitionKey, int]:
        """Row-lock each partition's mark (the highest applied offset, -1 if none), raise it to
        the offset given (a mark never moves down), and return each mark as it was before."""
        ...


class Receipts(Protocol):
    async def insert(self, rows: Sequence[ReceiptRow]) -> set[UUID]:
        """Store first receipts; a notice id or coordinates already stored are left alone.
        Returns the receipt ids actually stored."""
        ...

    async def originals_for(self, notice_ids: Iterable[str]) -> dict[str, OriginalReceipt]: ...

    async def unreadable_payloads_at(
        self, coordinates: Iterable[Coordinates]
    ) -> dict[Coordinates, set[bytes]]:
        """The redacted bytes of receipts stored without a notice id at these coordinates."""
        ...

    async def count_duplicates(self, counts: Sequence[DuplicateCount]) -> None: ...

    async def insert_triage_items(self, items: Sequence[TriageItemRow]) -> None: ...


class SqlConsumedPartitions:
    """`consumed_partitions`: the highest applied offset of each partition."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def lock_and_advance(
        self, highest: Mapping[PartitionKey, int]
    ) -> dict[PartitionKey, int]:
        """Lock each partition's progress row (a replica that briefly shares the partition
        during a rebalance waits here), raise its mark, and return the marks from before."""
        keys = sorted(highest)
        # One round trip: a new partition's row is created at the offset given, with -1 before
        # it; an existing one is locked by the update (as `SELECT ... FOR UPDATE` would), its
        # mark raised, and the mark it had kept in `previous_offset` (every SET expression reads
        # the row as it was), which RETURNING can show. A racing replica's new row is updated the
        # same way once it commits, so its mark is what this one gets back. Rows are taken in
        # (topic, partition) order, so replicas lock them in one order.
        rows = await self._conn.fetch(
            """
            INSERT INTO consumed_partitions AS c (topic, partition, last_offset)
            SELECT topic, partition, highest
            FROM unnest($1::text[], $2::int[], $3::bigint[]) AS p(topic, partition, highest)
            ORDER BY topic, partition
            ON CONFLICT (topic, partition) DO UPDATE SET
                previous_offset = c.last_offset,
                last_offset = greatest(c.last_offset, excluded.last_offset),
                updated_at = CASE WHEN excluded.last_offset > c.last_offset
                                  THEN now() ELSE c.updated_at END
            RETURNING topic, partition, previous_offset
            """,
            [topic for topic, _ in keys],
            [partition for _, partition in keys],
            [highest[key] for key in keys],
        )
        return {(row["topic"], row["partition"]): row["previous_offset"] for row in rows}


class SqlReceipts:
    """`receipts` and `triage_items`."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def insert(self, rows: Sequence[ReceiptRow]) -> set[UUID]:
        """Store first receipts; a notice id or coordinates already stored are left alone.

        Returns the receipt ids stored. For a notice id whose row was not stored, whoever calls
        this reads back which receipt it has (`originals_for`): that is how a notice id raced by
        another replica becomes a duplicate.
        """
        if not rows:
            return set()
        values = [_receipt_values(row) for row in sorted(rows, key=_insert_order)]
        # One statement for the whole batch (rows in notice-id order, so two replicas inserting
        # overlapping ids lock them in one order): PostgreSQL plans and executes once instead of
        # once per receipt. JSON goes as text cast to jsonb, encoded as the connection's codec
        # does (`json.dumps`), because asyncpg reads a list inside a jsonb[] as an array level.
        stored = await self._conn.fetch(
            """
            INSERT INTO receipts (
                receipt_id, notice_id, status, kind, municipality_code, issued_at,
                application_id, resident_ref, sequence, details, owner_queue, received_at,
                sla_due_on, reasons, content_hash, raw_payload,
                source_topic, source_partition, source_offset
            )
            SELECT receipt_id, notice_id, status, kind, municipality_code, issued_at,
                   application_id, resident_ref, sequence, details::jsonb, owner_queue,
                   received_at, sla_due_on, reasons::jsonb, content_hash, raw_payload,
                   source_topic, source_partition, source_offset
            FROM unnest(
                $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[],
                $12::timestamptz[], $13::date[], $14::text[], $15::text[], $16::bytea[],
                $17::text[], $18::int[], $19::bigint[]
            ) WITH ORDINALITY AS r(
                receipt_id, notice_id, status, kind, municipality_code, issued_at,
                application_id, resident_ref, sequence, details, owner_queue, received_at,
                sla_due_on, reasons, content_hash, raw_payload,
                source_topic, source_partition, source_offset, position
            )
            ORDER BY position
            ON CONFLICT DO NOTHING
            RETURNING receipt_id
            """,
            *_columns(values),
        )
        return {row["receipt_id"] for row in stored}

    async def originals_for(self, notice_ids: Iterable[str]) -> dict[str, OriginalReceipt]:
        """The stored receipt of each notice id (including ones inserted in this transaction)."""
        rows = await self._conn.fetch(
            """
            SELECT receipt_id, notice_id, status, owner_queue, sla_due_on, received_at, content_hash
            FROM receipts WHERE notice_id = ANY($1::text[])
            """,
            sorted(set(notice_ids)),
        )
        return {
            row["notice_id"]: OriginalReceipt(
                receipt_id=row["receipt_id"],
                notice_id=row["notice_id"],
                status=ReceiptStatus(row["status"]),
                owner_queue=row["owner_queue"],
                sla_due_on=row["sla_due_on"],
                received_at=row["received_at"],
                content_hash=row["content_hash"],
            )
            for row in rows
        }

    async def unreadable_payloads_at(
        self, coordinates: Iterable[Coordinates]
    ) -> dict[Coordinates, set[bytes]]:
        wanted = sorted(set(coordinates))
        rows = await self._conn.fetch(
            """
            SELECT source_topic, source_partition, source_offset, raw_payload FROM receipts
            WHERE notice_id IS NULL AND raw_payload IS NOT NULL
              AND (source_topic, source_partition, source_offset)
                  IN (SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]))
            """,
            [topic for topic, _, _ in wanted],
            [partition for _, partition, _ in wanted],
            [offset for _, _, offset in wanted],
        )
        found: dict[Coordinates, set[bytes]] = {}
        for row in rows:
            at = (row["source_topic"], row["source_partition"], row["source_offset"])
            found.setdefault(at, set()).add(bytes(row["raw_payload"]))
        return found

    async def count_duplicates(self, counts: Sequence[DuplicateCount]) -> None:
        """A duplicate stores nothing new beyond these counters on the original receipt."""
        if not counts:
            return
        await self._conn.executemany(
            """
            UPDATE receipts
            SET duplicate_count = duplicate_count + $2,
                conflict_count = conflict_count + $3,
                last_duplicate_at = greatest(last_duplicate_at, $4)
            WHERE receipt_id = $1
            """,
            [(c.receipt_id, c.duplicates, c.conflicts, c.last_at) for c in sorted_by_id(counts)],
        )

    async def insert_triage_items(self, items: Sequence[TriageItemRow]) -> None:
        if not items:
            return
        await self._conn.executemany(
            """
            INSERT INTO triage_items (
                work_item_id, receipt_id, notice_id, reason, owner_queue, sla_due_on, content_hash,
                raw_payload, reasons, source_topic, source_partition, source_offset, created_at
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT DO NOTHING
            """,
            [_triage_values(item) for item in items],
        )
