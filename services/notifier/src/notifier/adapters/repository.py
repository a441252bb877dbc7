"""SQL repositories of the notifier (asyncpg, plain SQL next to its call), and `make_repos`.

Every method runs on the unit of work's connection, inside its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from mynaflow.messaging.dead_letter import record_dead_letter

from notifier.domain.digest import TrackedDeadline
from notifier.domain.records import ApologyBatch, Delivery, HeldEvent, Message, Resident
from notifier.domain.watcher_silence import HeartbeatState

if TYPE_CHECKING:
    import asyncpg
    from mynaflow.storage.pool import DbConnection

SERVICE = "notifier"


def _message(row: asyncpg.Record) -> Message:
    return Message(**dict(row))


def _delivery(row: asyncpg.Record) -> Delivery:
    values = dict(row)
    values.pop("updated_at", None)
    return Delivery(**values)


class SqlRepository:
    """The notifier's tables, one connection, one transaction."""

    def __init__(self, conn: DbConnection, topic_prefix: str = "") -> None:
        self.conn = conn
        self.topic_prefix = topic_prefix

    # --- residents ---------------------------------------------------------------------------
    async def upsert_resident(self, resident: Resident, at: datetime) -> None:
        await self.conn.execute(
            """
            INSERT INTO residents (resident_id, household_id, name, name_kana, postal_code,
                                   address, email, phone, moved_out_on, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (resident_id) DO UPDATE SET
                household_id = EXCLUDED.household_id,
                name = COALESCE(EXCLUDED.name, residents.name),
                name_kana = COALESCE(EXCLUDED.name_kana, residents.name_kana),
                postal_code = COALESCE(EXCLUDED.postal_code, residents.postal_code),
                address = COALESCE(EXCLUDED.address, residents.address),
                email = EXCLUDED.email,
                phone = EXCLUDED.phone,
                moved_out_on = EXCLUDED.moved_out_on,
                updated_at = EXCLUDED.updated_at
            """,
            resident.resident_id,
            resident.household_id,
            resident.name,
            resident.name_kana,
            resident.postal_code,
            resident.address,
            resident.email,
            resident.phone,
            resident.moved_out_on,
            at,
        )

    async def mark_moved_out(
        self, resident_id: str, household_id: str, on: date, at: datetime
    ) -> None:
        await self.conn.execute(
            """
            INSERT INTO residents (resident_id, household_id, moved_out_on, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (resident_id) DO UPDATE SET moved_out_on = $3, updated_at = $4
            """,
            resident_id,
            household_id,
            on,
            at,
        )

    async def residents(self, resident_ids: Iterable[str]) -> dict[str, Resident]:
        rows = await self.conn.fetch(
            """
            SELECT resident_id, household_id, name, name_kana, postal_code, address, email,
                   phone, moved_out_on
            FROM residents WHERE resident_id = ANY($1::text[])
            """,
            list(resident_ids),
        )
        return {row["resident_id"]: Resident(**dict(row)) for row in rows}

    # --- queue members and assignees ---------------------------------------------------------
    async def replace_members(self, queue: str, members: Sequence[str]) -> None:
        await self.conn.execute(
            "INSERT INTO membership_known (queue) VALUES ($1) ON CONFLICT DO NOTHING", queue
        )
        await self.conn.execute("DELETE FROM queue_members WHERE queue = $1", queue)
        await self.conn.executemany(
            "INSERT INTO queue_members (queue, staff_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(queue, member) for member in members],
        )

    async def members(self, queue: str) -> list[str] | None:
        """The queue's current members; None when the registry never reported them."""
        known = await self.conn.fetchval(
            "SELECT true FROM membership_known WHERE queue = $1", queue
        )
        if not known:
            return None
        rows = await self.conn.fetch(
            "SELECT staff_id FROM queue_members WHERE queue = $1 ORDER BY staff_id", queue
        )
        return [row["staff_id"] for row in rows]

    async def known_queues(self) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT queue FROM queue_members UNION SELECT DISTINCT queue"
            " FROM tracked_deadlines WHERE queue IS NOT NULL"
        )
        return [row["queue"] for row in rows]

    async def set_assignee(self, work_item_id: str, queue: str, assignee: str) -> None:
        await self.conn.execute(
            """
            INSERT INTO assignees (work_item_id, queue, assignee) VALUES ($1, $2, $3)
            ON CONFLICT (work_item_id) DO UPDATE SET queue = $2, assignee = $3
            """,
            work_item_id,
            queue,
            assignee,
        )

    async def assignee_of(self, work_item_id: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT assignee FROM assignees WHERE work_item_id = $1", work_item_id
        )
        return value

    # --- messages and deliveries -------------------------------------------------------------
    async def insert_delivery(self, delivery: Delivery, at: datetime) -> bool:
        """False when its idempotency key is known: that delivery exists, nothing to do."""
        inserted = await self.conn.fetchval(
            """
            INSERT INTO deliveries (delivery_id, idempotency_key, source_event_id, source_type,
                recipient_kind, recipient_id, channel, template, message_id, status, attempts,
                item, batch_id, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING true
            """,
            delivery.delivery_id,
            delivery.idempotency_key,
            delivery.source_event_id,
            delivery.source_type,
            delivery.recipient_kind,
            delivery.recipient_id,
            delivery.channel,
            delivery.template,
            delivery.message_id,
            delivery.status,
            delivery.attempts,
            delivery.item,
            delivery.batch_id,
            at,
        )
        return bool(inserted)

    async def delivery_exists(self, idempotency_key: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM deliveries WHERE idempotency_key = $1", idempotency_key
            )
        )

    async def open_bucket(self, aggregation_key: str) -> Message | None:
        row = await self.conn.fetchrow(
            """
            SELECT * FROM messages
            WHERE aggregation_key = $1 AND status IN ('pending', 'retrying')
            FOR UPDATE
            """,
            aggregation_key,
        )
        return None if row is None else _message(row)

    async def save_message(self, message: Message) -> None:
        values = asdict(message)
        columns = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "message_id")
        await self.conn.execute(
            f"INSERT INTO messages ({', '.join(columns)}) VALUES ({placeholders})"
            f" ON CONFLICT (message_id) DO UPDATE SET {updates}",
            *values.values(),
        )

    async def claim_due_message(self, now: datetime) -> Message | None:
        """The soonest due message no other replica is sending (row lock until commit)."""
        row = await self.conn.fetchrow(
            """
            SELECT * FROM messages
            WHERE status IN ('pending', 'retrying') AND send_after <= $1
            ORDER BY send_after
            LIMIT 1
            FOR UPDATE SKIP LOCKED
            """,
            now,
        )
        return None if row is None else _message(row)

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(send_after) FROM messages WHERE status IN ('pending', 'retrying')"
        )
        return value

    async def deliveries_of(self, message_id: UUID) -> list[Delivery]:
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE message_id = $1 ORDER BY created_at, delivery_id",
            message_id,
        )
        return [_delivery(row) for row in rows]

    async def set_delivery_status(
        self, delivery_ids: Sequence[UUID], status: str, attempts: int, at: datetime
    ) -> None:
        await self.conn.execute(
            """
            UPDATE deliveries SET status = $2, attempts = $3, updated_at = $4
            WHERE delivery_id = ANY($1::uuid[])
            """,
            list(delivery_ids),
            status,
            attempts,
            at,
        )

    async def query_deliveries(
        self, recipient_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        rows = await self.conn.fetch(
            """
            SELECT * FROM deliveries
            WHERE ($1::text IS NULL OR recipient_id = $1)
              AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at DESC, delivery_id
            LIMIT $3
            """,
            recipient_id,
            status,
            limit,
        )
        return [_delivery(row) for row in rows]

    # --- held events -------------------------------------------------------------------------
    async def hold(self, held: HeldEvent) -> None:
        await self.conn.execute(
            """
            INSERT INTO held_events (event_id, source_topic, source_partition, source_offset,
                kafka_key, payload, missing, first_received_at, give_up_at, retry_at, attempts)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (event_id) DO UPDATE SET
                missing = EXCLUDED.missing, retry_at = EXCLUDED.retry_at,
                attempts = EXCLUDED.attempts
            """,
            *asdict(held).values(),
        )

    async def claim_held(self, now: datetime) -> HeldEvent | None:
        row = await self.conn.fetchrow(
            """
            SELECT * FROM held_events WHERE retry_at <= $1
            ORDER BY retry_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """,
            now,
        )
        return None if row is None else HeldEvent(**dict(row))

    async def release_held(self, event_id: str) -> None:
        await self.conn.execute("DELETE FROM held_events WHERE event_id = $1", event_id)

    async def next_held_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval("SELECT min(retry_at) FROM held_events")
        return value

    async def dead_letter_held(self, held: HeldEvent, reason: str, error: str) -> None:
        await record_dead_letter(
            self.conn,
            service=SERVICE,
            source_topic=held.source_topic,
            partition=held.source_partition,
            offset=held.source_offset,
            key=held.kafka_key,
            payload=held.payload,
            reason=reason,
            error=error,
            topic_prefix=self.topic_prefix,
        )

    # --- the heartbeat watch -----------------------------------------------------------------
    async def heartbeat(self) -> HeartbeatState | None:
        row = await self.conn.fetchrow(
            "SELECT last_seen_at, alerted_for FROM heartbeat_watch FOR UPDATE"
        )
        return None if row is None else HeartbeatState(row["last_seen_at"], row["alerted_for"])

    async def save_heartbeat(self, state: HeartbeatState) -> None:
        await self.conn.execute(
            """
            INSERT INTO heartbeat_watch (id, last_seen_at, alerted_for) VALUES (true, $1, $2)
            ON CONFLICT (id) DO UPDATE SET last_seen_at = $1, alerted_for = $2
            """,
            state.last_seen_at,
            state.alerted_for,
        )

    # --- deadlines seen, for the digest ------------------------------------------------------
    async def track_deadline(
        self, deadline: TrackedDeadline, policy: str, subject: Mapping[str, Any], at: datetime
    ) -> None:
        await self.conn.execute(
            """
            INSERT INTO tracked_deadlines (key, policy, queue, due_at, starts_at, breached, open,
                                           subject, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8)
            ON CONFLICT (key) DO UPDATE SET
                policy = $2, queue = $3, due_at = $4, starts_at = $5,
                breached = tracked_deadlines.breached OR $6, open = true, subject = $7,
                updated_at = $8
            """,
            deadline.key,
            policy,
            deadline.queue,
            deadline.due_at,
            deadline.starts_at,
            deadline.breached,
            dict(subject),
            at,
        )

    async def close_deadline(self, key: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE tracked_deadlines SET open = false, updated_at = $2 WHERE key = $1", key, at
        )

    async def open_deadlines(self) -> list[TrackedDeadline]:
        rows = await self.conn.fetch(
            """
            SELECT key, queue, due_at, starts_at, breached FROM tracked_deadlines
            WHERE open ORDER BY due_at
            """
        )
        return [TrackedDeadline(**dict(row)) for row in rows]

    # --- apology batches ---------------------------------------------------------------------
    async def batch(self, batch_id: str) -> ApologyBatch | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM apology_batches WHERE batch_id = $1 FOR UPDATE", batch_id
        )
        return None if row is None else ApologyBatch(**dict(row))

    async def save_batch(self, batch: ApologyBatch) -> None:
        values = asdict(batch)
        values["cases"] = json.loads(json.dumps(values["cases"], default=str))
        columns = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "batch_id")
        await self.conn.execute(
            f"INSERT INTO apology_batches ({', '.join(columns)}) VALUES ({placeholders})"
            f" ON CONFLICT (batch_id) DO UPDATE SET {updates}",
            *values.values(),
        )

    async def batch_open_letters(self, batch_id: str) -> int:
        value: int = await self.conn.fetchval(
            """
            SELECT count(*) FROM messages
            WHERE batch_id = $1 AND status IN ('pending', 'retrying')
            """,
            batch_id,
        )
        return value


def make_repos_for(topic_prefix: str) -> Any:
    """`make_repos(conn)` for `PostgresUnitOfWork`, bound to the deployment's topic prefix."""

    def make_repos(conn: DbConnection) -> SqlRepository:
        return SqlRepository(conn, topic_prefix)

    return make_repos
