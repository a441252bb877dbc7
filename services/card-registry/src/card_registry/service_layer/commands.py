"""Staff commands (`registry.commands`): judged as of `performed_at`, answered exactly once.

Invariants:
- Every command ends in exactly one `command-accepted` or `command-rejected` (under the
  command's subject, with its id), except while it is parked (below). A rejected command
  changes nothing: its rules run before any write, on a child of the unit's effects.
- A command naming a staff member, card, notice or resident not seen yet is parked in the
  `pending_commands` table (never an in-memory timer). It is judged again when that thing
  arrives, and by the periodic sweep; once `unknown_wait` (60 s) has passed since it first
  arrived it is rejected as `unknown_staff` / `unknown_card` / `unknown_notice` /
  `unknown_resident`.
- A command is applied at most once: its event id is claimed in the inbox when it first arrives,
  and a parked command leaves the table in the same transaction that settles it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from mynaflow.contracts import registry as contract
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.registry import (
    AssignNotice,
    CardCommand,
    CardState,
    RecordCardDelivered,
    RegistryCommand,
    RejectionReason,
    ResolveNotice,
    WorkItemCommand,
)
from mynaflow.domain.personal_number import redact_text
from mynaflow.domain.time import to_jst_date
from mynaflow.storage.unit_of_work import UnitOfWork
from pydantic import ValidationError

from card_registry.domain import deadline_requests as deadlines
from card_registry.domain import events, move_in, queues, work_items
from card_registry.domain.lifecycle import Card, CardAction, move, next_state
from card_registry.domain.rejections import Rejected
from card_registry.domain.validity import card_valid_until, certificate_valid_until
from card_registry.service_layer.deps import COMMANDS_CONSUMER, RegistryDeps
from card_registry.service_layer.effects import Effects
from card_registry.service_layer.ports import PendingCommand, RegistryRepos

CommandT = TypeVar("CommandT", bound=RegistryCommand)
Uow = UnitOfWork[RegistryRepos]


@dataclass(frozen=True)
class Judging:
    """One command being judged: the unit, its effects, and the command as performed."""

    uow: Uow
    deps: RegistryDeps
    effects: Effects
    command: RegistryCommand
    command_id: str
    command_type: str
    performed_at: datetime

    @property
    def repos(self) -> RegistryRepos:
        return self.uow.repos

    def typed(self, model: type[CommandT]) -> CommandT:
        """The command as its model (APPLIERS pairs each type with its model)."""
        if not isinstance(self.command, model):
            raise TypeError(f"{self.command_type} is not a {model.__name__}")
        return self.command


async def handle_command(event: RawCloudEvent, deps: RegistryDeps) -> None:
    """The subscriber's handler: claim, judge, flush, commit."""
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=COMMANDS_CONSUMER):
            return
        effects = Effects(deps.clock.now())
        await judge(uow, deps, effects, event, first_seen_at=effects.now)
        await effects.flush(uow, deps)
        await uow.commit()


async def judge(
    uow: Uow, deps: RegistryDeps, effects: Effects, event: RawCloudEvent, first_seen_at: datetime
) -> bool:
    """Apply or reject the command (True), or park it until what it names arrives (False)."""
    command = _parse(event, effects)
    if command is None:
        return True
    performed_at = command.performed_at or event.time
    judging = Judging(uow, deps, effects, command, event.id, event.type, performed_at)
    missing = await find_missing(judging)
    if missing is not None:
        return await _park_or_reject(judging, event, first_seen_at, *missing)
    await _apply(judging)
    return True


def _parse(event: RawCloudEvent, effects: Effects) -> RegistryCommand | None:
    """The command model, or None after answering an unreadable command with a rejection."""
    model = contract.COMMAND_MODELS.get(event.type)
    problem = f"unknown command type {event.type}"
    if model is not None:
        try:
            return model.model_validate(event.data)
        except ValidationError as error:
            problem = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
    staff_id = str(event.data.get("staff_id") or "")
    message, _count = redact_text(problem)
    effects.emit(
        events.unreadable_command_rejected(
            event.id, event.type, event.subject, staff_id, event.time, message, effects.now
        )
    )
    return None


async def _apply(judging: Judging) -> None:
    child = judging.effects.child()
    try:
        await APPLIERS[judging.command_type](replace(judging, effects=child))
    except Rejected as rejected:
        _reject(judging, rejected.reason, rejected.message)
        return
    judging.effects.emit(
        events.command_accepted(
            judging.command_id,
            judging.command_type,
            judging.command,
            judging.performed_at,
            judging.effects.now,
        )
    )
    judging.effects.merge(child)


def _reject(judging: Judging, reason: RejectionReason, message: str) -> None:
    judging.effects.emit(
        events.command_rejected(
            judging.command_id,
            judging.command_type,
            judging.command,
            judging.performed_at,
            reason,
            message,
            judging.effects.now,
        )
    )


# --- what a command names, and waiting for it --------------------------------------------------
async def find_missing(judging: Judging) -> tuple[str, RejectionReason] | None:
    """The first thing the command names that the registry has not seen, with its reason."""
    repos, command = judging.repos, judging.command
    if judging.command_type != contract.STAFF_JOINED_QUEUE_V1:
        for staff_id in _staff_named(command):
            if not await repos.staff.is_known(staff_id):
                return f"staff:{staff_id}", RejectionReason.UNKNOWN_STAFF
    if isinstance(command, WorkItemCommand):
        key = command.item_key()
        if await repos.work_items.get(key) is None:
            return key, RejectionReason.UNKNOWN_NOTICE
    if isinstance(command, RecordCardDelivered):
        return await _missing_resident(repos, command.resident_id)
    if isinstance(command, CardCommand):
        card = await repos.cards.get(command.card_id)
        if card is None:
            return f"card:{command.card_id}", RejectionReason.UNKNOWN_CARD
        if judging.command_type == contract.RECORD_CARD_HANDOVER_V1:
            return await _missing_resident(repos, card.resident_id)
    return None


def _staff_named(command: RegistryCommand) -> list[str]:
    if isinstance(command, AssignNotice) and command.assignee is not None:
        return [command.staff_id, command.assignee]
    return [command.staff_id]


async def _missing_resident(
    repos: RegistryRepos, resident_id: str
) -> tuple[str, RejectionReason] | None:
    if await repos.residents.get(resident_id) is None:
        return f"resident:{resident_id}", RejectionReason.UNKNOWN_RESIDENT
    return None


async def _park_or_reject(
    judging: Judging,
    event: RawCloudEvent,
    first_seen_at: datetime,
    reference: str,
    reason: RejectionReason,
) -> bool:
    expires_at = first_seen_at + judging.deps.unknown_wait
    if judging.effects.now < expires_at:
        payload = event.model_dump(mode="json")
        parked = PendingCommand(event.id, event.type, payload, reference, first_seen_at, expires_at)
        await judging.repos.pending.add(parked)
        return False
    waited = int(judging.deps.unknown_wait.total_seconds())
    _reject(judging, reason, f"{reference} is not known to the registry (waited {waited} s)")
    return True


async def reexamine(uow: Uow, deps: RegistryDeps, effects: Effects, reference: str) -> None:
    """Judge again every command parked for `reference`, which has just arrived."""
    for parked in await uow.repos.pending.waiting_for(reference):
        await rejudge(uow, deps, effects, parked)


async def rejudge(uow: Uow, deps: RegistryDeps, effects: Effects, parked: PendingCommand) -> None:
    # Removed first: if another unit settled it meanwhile, there is nothing to remove, and it
    # must not be applied a second time.
    if not await uow.repos.pending.remove(parked.command_id):
        return
    event = RawCloudEvent.model_validate(parked.payload)
    await judge(uow, deps, effects, event, parked.first_seen_at)


async def sweep_pending(deps: RegistryDeps) -> int:
    """One pass of the periodic task: judge parked commands again (expired ones are rejected)."""
    async with deps.uow() as uow:
        effects = Effects(deps.clock.now())
        batch = await uow.repos.pending.take_batch(deps.pending_batch)
        for parked in batch:
            await rejudge(uow, deps, effects, parked)
        await effects.flush(uow, deps)
        await uow.commit()
    return len(batch)


# --- the rules of each command -----------------------------------------------------------------
async def assign_notice(judging: Judging) -> None:
    command = judging.typed(AssignNotice)
    item = await judging.repos.work_items.get(command.item_key())
    assert item is not None  # find_missing checked
    updated = work_items.assign(item, command.assignee or command.staff_id)
    await judging.repos.work_items.put(updated)
    now = judging.effects.now
    judging.effects.emit(
        events.notice_assigned(updated, command.staff_id, judging.performed_at, now)
    )


async def resolve_notice(judging: Judging) -> None:
    command = judging.typed(ResolveNotice)
    item = await judging.repos.work_items.get(command.item_key())
    assert item is not None
    updated = work_items.resolve(
        item, command.staff_id, judging.performed_at, command.resolution, command.note
    )
    await judging.repos.work_items.put(updated)
    judging.effects.emit(events.notice_resolved(updated, judging.effects.now))
    judging.effects.request(deadlines.clear(item.key, "notice_resolved", judging.performed_at))


async def _card(judging: Judging) -> Card:
    card = await judging.repos.cards.get(judging.typed(CardCommand).card_id)
    assert card is not None
    return card


async def record_surface_print(judging: Judging) -> None:
    card = await _card(judging)
    staff, at = judging.command.staff_id, judging.performed_at
    updated = replace(card, case=move_in.record_surface_print(card.case, staff, at))
    await judging.repos.cards.put(updated)
    queue = judging.deps.card_queue
    judging.effects.request(deadlines.schedule_surface_chip(updated, staff, at, queue))


async def record_chip_rewrite(judging: Judging) -> None:
    card = await _card(judging)
    staff, at = judging.command.staff_id, judging.performed_at
    updated = replace(card, case=move_in.record_chip_rewrite(card.case, staff, at))
    await judging.repos.cards.put(updated)
    key = deadlines.surface_chip_key(card.card_id)
    judging.effects.request(deadlines.clear(key, "chip_rewritten", at))


async def verify_chip_rewrite(judging: Judging) -> None:
    """The four-eyes step. A verification performed before the card expired (recorded after)
    completes the case and gives the card back the state it had."""
    card = await _card(judging)
    staff, at = judging.command.staff_id, judging.performed_at
    case = move_in.verify_chip_rewrite(card.case, staff, at)
    updated = replace(card, case=case)
    if card.state is CardState.EXPIRED and card.previous_state and at < card.state_since:
        updated = replace(updated, state=card.previous_state, previous_state=card.state)
    await judging.repos.cards.put(updated)
    judging.effects.emit(events.chip_rewrite_verified(updated, judging.effects.now))
    key = deadlines.chip_rewrite_key(card.card_id)
    judging.effects.request(deadlines.clear(key, "chip_rewrite_verified", at))


async def record_card_delivered(judging: Judging) -> None:
    command = judging.typed(RecordCardDelivered)
    resident = await judging.repos.residents.get(command.resident_id)
    assert resident is not None
    known = await judging.repos.cards.get(command.card_id)
    previous = known.state if known else None
    delivered = Card(
        card_id=command.card_id,
        resident_id=resident.resident_id,
        household_id=resident.household_id,
        state=next_state(previous, CardAction.DELIVER),
        state_since=judging.performed_at,
        previous_state=previous,
        application_date=command.application_date,
        issued_on=command.issued_on,
    )
    await judging.repos.cards.put(delivered)
    now = judging.effects.now
    judging.effects.emit(events.card_state_changed(delivered, now, by=command.staff_id))
    reference = f"card:{command.card_id}"
    await reexamine(judging.uow, judging.deps, judging.effects, reference)


async def send_pickup_notice(judging: Judging) -> None:
    """The first notice starts the pickup period; the second (re-notice) extends it, and the
    card is destroyed when that ends (never sooner than a year after application)."""
    card = await _card(judging)
    at = judging.performed_at
    updated = move(card, CardAction.SEND_PICKUP_NOTICE, at)
    periods, on = judging.deps.pickup, to_jst_date(at)
    if updated.state is CardState.PICKUP_NOTICE_SENT:
        due_on = periods.after_notice(on)
    else:
        due_on = periods.after_re_notice(on, card.application_date)
    await judging.repos.cards.put(updated)
    queue = judging.deps.card_queue
    judging.effects.request(deadlines.schedule_card_pickup(updated, due_on, queue, at))
    now = judging.effects.now
    judging.effects.emit(events.card_state_changed(updated, now, by=judging.command.staff_id))


async def record_card_handover(judging: Judging) -> None:
    """Handed over: the validity ends are computed from the birth date, and renewal deadlines
    requested for the card and its certificate."""
    card = await _card(judging)
    at = judging.performed_at
    moved = move(card, CardAction.HAND_OVER, at)
    resident = await judging.repos.residents.get(card.resident_id)
    assert resident is not None
    if card.application_date is None or card.issued_on is None:
        raise Rejected(RejectionReason.INVALID_COMMAND, "the card's dates are not known")
    card_until = card_valid_until(resident.birth_date, card.application_date, card.issued_on)
    cert_until = certificate_valid_until(resident.birth_date, card.issued_on, card_until)
    updated = replace(moved, card_valid_until=card_until, certificate_valid_until=cert_until)
    await judging.repos.cards.put(updated)
    queue = judging.deps.card_queue
    judging.effects.request(
        deadlines.clear(deadlines.card_pickup_key(card.card_id), "card_handed_over", at),
        *deadlines.schedule_renewals(updated, queue, at),
    )
    now = judging.effects.now
    judging.effects.emit(events.card_state_changed(updated, now, by=judging.command.staff_id))


async def staff_joined_queue(judging: Judging) -> None:
    command = judging.typed(contract.StaffJoinedQueue)
    queue = await judging.repos.queues.get(command.queue)
    change = queues.join(queue, command.staff_id)
    await judging.repos.staff.record_join(command.staff_id, judging.performed_at)
    await judging.repos.queues.put(change.queue)
    at, now = judging.performed_at, judging.effects.now
    judging.effects.emit(
        events.queue_membership_changed(change.queue, command.staff_id, True, at, now)
    )
    if change.staffed:
        judging.effects.emit(events.queue_staffed(change.queue, at, now))
    reference = f"staff:{command.staff_id}"
    await reexamine(judging.uow, judging.deps, judging.effects, reference)


async def staff_left_queue(judging: Judging) -> None:
    command = judging.typed(contract.StaffLeftQueue)
    queue = await judging.repos.queues.get(command.queue)
    open_items = await judging.repos.work_items.count_open(command.queue)
    change = queues.leave(queue, command.staff_id, open_items)
    await judging.repos.queues.put(change.queue)
    at, now = judging.performed_at, judging.effects.now
    judging.effects.emit(
        events.queue_membership_changed(change.queue, command.staff_id, False, at, now)
    )
    if change.orphaned is not None:
        judging.effects.emit(
            events.queue_orphaned(change.queue, change.orphaned, open_items, at, now)
        )


APPLIERS: dict[str, Callable[[Judging], Awaitable[None]]] = {
    contract.ASSIGN_NOTICE_V1: assign_notice,
    contract.RESOLVE_NOTICE_V1: resolve_notice,
    contract.RECORD_SURFACE_PRINT_V1: record_surface_print,
    contract.RECORD_CHIP_REWRITE_V1: record_chip_rewrite,
    contract.VERIFY_CHIP_REWRITE_V1: verify_chip_rewrite,
    contract.RECORD_CARD_DELIVERED_V1: record_card_delivered,
    contract.SEND_PICKUP_NOTICE_V1: send_pickup_notice,
    contract.RECORD_CARD_HANDOVER_V1: record_card_handover,
    contract.STAFF_JOINED_QUEUE_V1: staff_joined_queue,
    contract.STAFF_LEFT_QUEUE_V1: staff_left_queue,
}
