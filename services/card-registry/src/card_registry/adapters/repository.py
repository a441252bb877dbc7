"""card-registry's repositories on PostgreSQL: SQL next to the call that runs it.

Every repository works on the unit of work's connection (`make_repos(conn)`), so each call
joins its transaction. The JSON codecs of `mynaflow.storage.pool` turn jsonb into dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from mynaflow.contracts.registry import CardState

from card_registry.domain.lifecycle import Card
from card_registry.domain.move_in import CaseStatus, MoveInCase
from card_registry.domain.queues import Queue
from card_registry.domain.residents import Resident
from card_registry.domain.work_items import WorkItem
from card_registry.service_layer.ports import HistoryEntry, PendingCommand, RegistryRepos

if TYPE_CHECKING:
    import asyncpg
    from mynaflow.storage.pool import DbConnection

_CASE_INSTANTS = ("surface_printed_at", "rewritten_at", "verified_at", "lapsed_at")


def case_to_doc(case: MoveInCase) -> dict[str, Any]:
    doc = asdict(case)
    doc["notified_on"] = case.notified_on.isoformat()
    doc["status"] = case.status.value
    for name in _CASE_INSTANTS:
        value = getattr(case, name)
        doc[name] = value.isoformat() if value is not None else None
    return doc


def case_from_doc(doc: dict[str, Any]) -> MoveInCase:
    fields = dict(doc)
    fields["notified_on"] = date.fromisoformat(doc["notified_on"])
    fields["status"] = CaseStatus(doc["status"])
    for name in _CASE_INSTANTS:
        fields[name] = datetime.fromisoformat(doc[name]) if doc.get(name) else None
    return MoveInCase(**fields)


class PostgresResidents:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def get(self, resident_id: str) -> Resident | None:
        row = await self._conn.fetchrow(
            """SELECT resident_id, household_id, name, address, birth_date, email, phone,
                      postal_code, name_kana, moved_in_on, moved_out_on
               FROM residents WHERE resident_id = $1""",
            resident_id,
        )
        return Resident(**dict(row)) if row is not None else None

    async def put(self, resident: Resident) -> None:
        await self._conn.execute(
            """INSERT INTO residents (resident_id, household_id, name, address, birth_date,
                   email, phone, postal_code, name_kana, moved_in_on, moved_out_on)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (resident_id) DO UPDATE SET
                   household_id = EXCLUDED.household_id, name = EXCLUDED.name,
                   address = EXCLUDED.address, birth_date = EXCLUDED.birth_date,
                   email = EXCLUDED.email, phone = EXCLUDED.phone,
                   postal_code = EXCLUDED.postal_code, name_kana = EXCLUDED.name_kana,
                   moved_in_on = EXCLUDED.moved_in_on, moved_out_on = EXCLUDED.moved_out_on,
                   updated_at = now()""",
            *asdict(resident).values(),
        )


_CARD_COLUMNS = """card_id, resident_id, household_id, state, state_since, previous_state,
    application_date, issued_on, card_valid_until, certificate_valid_until, move_in_case"""


def card_from_record(row: asyncpg.Record) -> Card:
    fields = dict(row)
    fields["state"] = CardState(row["state"])
    fields["previous_state"] = CardState(row["previous_state"]) if row["previous_state"] else None
    case = fields.pop("move_in_case")
    return Card(**fields, case=case_from_doc(case) if case is not None else None)


class PostgresCards:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def get(self, card_id: str) -> Card | None:
        # FOR UPDATE throughout: a command (keyed by card) and a breach (keyed by deadline) of
        # one card arrive on different partitions, and must not both act on the old state.
        row = await self._conn.fetchrow(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE card_id = $1 FOR UPDATE", card_id
        )
        return card_from_record(row) if row is not None else None

    async def of_resident(self, resident_id: str) -> list[Card]:
        rows = await self._conn.fetch(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE resident_id = $1 ORDER BY card_id FOR UPDATE",
            resident_id,
        )
        return [card_from_record(row) for row in rows]

    async def put(self, card: Card) -> None:
        case = card.case
        await self._conn.execute(
            """INSERT INTO cards (card_id, resident_id, household_id, state, state_since,
                   previous_state, application_date, issued_on, card_valid_until,
                   certificate_valid_until, move_in_case, case_status, case_due_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (card_id) DO UPDATE SET
                   resident_id = EXCLUDED.resident_id, household_id = EXCLUDED.household_id,
                   state = EXCLUDED.state, state_since = EXCLUDED.state_since,
                   previous_state = EXCLUDED.previous_state,
                   application_date = EXCLUDED.application_date,
                   issued_on = EXCLUDED.issued_on, card_valid_until = EXCLUDED.card_valid_until,
                   certificate_valid_until = EXCLUDED.certificate_valid_until,
                   move_in_case = EXCLUDED.move_in_case, case_status = EXCLUDED.case_status,
                   case_due_at = EXCLUDED.case_due_at, updated_at = now()""",
            card.card_id,
            card.resident_id,
            card.household_id,
            card.state.value,
            card.state_since,
            card.previous_state.value if card.previous_state else None,
            card.application_date,
            card.issued_on,
            card.card_valid_until,
            card.certificate_valid_until,
            case_to_doc(case) if case is not None else None,
            case.status.value if case is not None else None,
            case.due_at if case is not None else None,
        )


_ITEM_COLUMNS = """key, notice_id, receipt_id, kind, queue, status, resident_id, application_id,
    opened_at, sla_due_on, assignee, resolved_at, resolved_by, resolution, note"""
# The INSERT takes them in the columns' order (a WorkItem lists its contract facts first).
_ITEM_FIELDS = [column.strip() for column in _ITEM_COLUMNS.split(",")]


class PostgresWorkItems:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def get(self, key: str) -> WorkItem | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ITEM_COLUMNS} FROM work_items WHERE key = $1 FOR UPDATE", key
        )
        return WorkItem(**dict(row)) if row is not None else None

    async def add(self, item: WorkItem) -> bool:
        inserted = await self._conn.fetchval(
            f"""INSERT INTO work_items ({_ITEM_COLUMNS}, due_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                ON CONFLICT (key) DO NOTHING RETURNING true""",
            *(getattr(item, field) for field in _ITEM_FIELDS),
            item.due_at,
        )
        return bool(inserted)

    async def put(self, item: WorkItem) -> None:
        await self._conn.execute(
            """UPDATE work_items SET assignee = $2, resolved_at = $3, resolved_by = $4,
                   resolution = $5, note = $6
               WHERE key = $1""",
            item.key,
            item.assignee,
            item.resolved_at,
            item.resolved_by,
            item.resolution,
            item.note,
        )

    async def count_open(self, queue: str) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM work_items WHERE queue = $1 AND resolved_at IS NULL", queue
        )
        return int(count)


class PostgresQueues:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def get(self, name: str) -> Queue:
        # FOR UPDATE: two joins or leaves of one queue must not both see the old membership.
        row = await self._conn.fetchrow(
            "SELECT members, orphaned FROM queues WHERE name = $1 FOR UPDATE", name
        )
        if row is None:
            return Queue(name)
        return Queue(name, tuple(row["members"]), row["orphaned"])

    async def put(self, queue: Queue) -> None:
        await self._conn.execute(
            """INSERT INTO queues (name, members, orphaned) VALUES ($1, $2, $3)
               ON CONFLICT (name) DO UPDATE SET members = EXCLUDED.members,
                   orphaned = EXCLUDED.orphaned, updated_at = now()""",
            queue.name,
            list(queue.members),
            queue.orphaned,
        )


class PostgresStaff:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def is_known(self, staff_id: str) -> bool:
        found = await self._conn.fetchval("SELECT true FROM staff WHERE staff_id = $1", staff_id)
        return bool(found)

    async def record_join(self, staff_id: str, at: datetime) -> None:
        await self._conn.execute(
            """INSERT INTO staff (staff_id, first_joined_at) VALUES ($1, $2)
               ON CONFLICT (staff_id) DO UPDATE
                   SET first_joined_at = least(staff.first_joined_at, EXCLUDED.first_joined_at)""",
            staff_id,
            at,
        )


_PENDING_COLUMNS = "command_id, command_type, payload, waiting_for, first_seen_at, expires_at"


class PostgresPendingCommands:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def add(self, command: PendingCommand) -> None:
        await self._conn.execute(
            f"""INSERT INTO pending_commands ({_PENDING_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (command_id) DO UPDATE SET waiting_for = EXCLUDED.waiting_for""",
            *asdict(command).values(),
        )

    async def waiting_for(self, reference: str) -> list[PendingCommand]:
        rows = await self._conn.fetch(
            f"""SELECT {_PENDING_COLUMNS} FROM pending_commands WHERE waiting_for = $1
                ORDER BY first_seen_at, command_id""",
            reference,
        )
        return [PendingCommand(**dict(row)) for row in rows]

    async def take_batch(self, limit: int) -> list[PendingCommand]:
        rows = await self._conn.fetch(
            f"""SELECT {_PENDING_COLUMNS} FROM pending_commands
                ORDER BY expires_at, command_id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
        return [PendingCommand(**dict(row)) for row in rows]

    async def remove(self, command_id: str) -> bool:
        removed = await self._conn.fetchval(
            "DELETE FROM pending_commands WHERE command_id = $1 RETURNING true", command_id
        )
        return bool(removed)


class PostgresHistory:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def add(self, entries: Sequence[HistoryEntry]) -> None:
        await self._conn.executemany(
            """INSERT INTO history (entity_type, entity_id, action, outcome, event_id,
                   recorded_at, staff_id, performed_at, detail)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [tuple(asdict(entry).values()) for entry in entries],
        )


def make_repos(conn: DbConnection) -> RegistryRepos:
    return RegistryRepos(
        residents=PostgresResidents(conn),
        cards=PostgresCards(conn),
        work_items=PostgresWorkItems(conn),
        queues=PostgresQueues(conn),
        staff=PostgresStaff(conn),
        pending=PostgresPendingCommands(conn),
        history=PostgresHistory(conn),
    )
