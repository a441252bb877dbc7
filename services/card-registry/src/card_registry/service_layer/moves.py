"""`resident.moves`: residents, and the move-in case of every resident who has a card.

- A move-in with a card (presented or not) opens a case and always requests
  `chip-rewrite:<card_id>` (policy `chip_rewrite_90d`), even when it is past due already: the
  watcher's breach is what expires the card.
- A move-out before the case is complete lapses it: the card expires
  (`moved_out_before_rewrite`) and the chip-rewrite deadline is cleared. The same-day
  `surface-chip:` deadline is left alone, so a Case 2 mismatch is still reported.
- Whatever arrives here may be what a parked command was waiting for: those are judged again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mynaflow.contracts import resident as contract
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.registry import CardState
from mynaflow.contracts.resident import ResidentMovedIn, ResidentMovedOut, ResidentUpserted
from mynaflow.domain.time import start_of_jst_day
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.storage.unit_of_work import UnitOfWork

from card_registry.domain import deadline_requests as deadlines
from card_registry.domain import events
from card_registry.domain.lifecycle import Card, CardAction, move
from card_registry.domain.move_in import CaseStatus, MoveInCase, lapse
from card_registry.domain.residents import moved_out, resident_from
from card_registry.service_layer.commands import reexamine
from card_registry.service_layer.deps import MOVES_CONSUMER, RegistryDeps
from card_registry.service_layer.effects import Effects
from card_registry.service_layer.history import received
from card_registry.service_layer.ports import RegistryRepos

Uow = UnitOfWork[RegistryRepos]
MOVED_OUT_BEFORE_REWRITE = "moved_out_before_rewrite"


async def handle_move(event: RawCloudEvent, deps: RegistryDeps) -> None:
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=MOVES_CONSUMER):
            return
        effects = Effects(deps.clock.now())
        await apply_move(uow, deps, effects, event)
        await effects.flush(uow, deps)
        await uow.commit()


async def apply_move(uow: Uow, deps: RegistryDeps, effects: Effects, event: RawCloudEvent) -> None:
    if event.type == contract.MOVED_IN_V1:
        await resident_moved_in(uow, deps, effects, event.id, ResidentMovedIn(**event.data))
    elif event.type == contract.MOVED_OUT_V1:
        await resident_moved_out(uow, effects, event.id, ResidentMovedOut(**event.data))
    elif event.type in (contract.REGISTERED_V1, contract.CHANGED_V1):
        await resident_upserted(uow, deps, effects, event.id, ResidentUpserted(**event.data))
    else:
        raise PoisonMessage("unknown_event_type", event.type)


async def resident_upserted(
    uow: Uow, deps: RegistryDeps, effects: Effects, event_id: str, data: ResidentUpserted
) -> None:
    known = await uow.repos.residents.get(data.resident_id)
    await uow.repos.residents.put(resident_from(data, known))
    effects.record(
        received("resident", data.resident_id, "resident-updated", event_id, effects.now)
    )
    await reexamine(uow, deps, effects, f"resident:{data.resident_id}")


async def resident_moved_in(
    uow: Uow, deps: RegistryDeps, effects: Effects, event_id: str, data: ResidentMovedIn
) -> None:
    known = await uow.repos.residents.get(data.resident_id)
    await uow.repos.residents.put(resident_from(data, known))
    detail = {"notified_on": data.notified_on.isoformat(), "card_id": data.card_id}
    effects.record(
        received("resident", data.resident_id, "moved-in", event_id, effects.now, detail=detail)
    )
    if data.card_id is not None:
        await open_move_in_case(uow, deps, effects, event_id, data, data.card_id)
    await reexamine(uow, deps, effects, f"resident:{data.resident_id}")
    if data.card_id is not None:
        await reexamine(uow, deps, effects, f"card:{data.card_id}")


async def open_move_in_case(
    uow: Uow,
    deps: RegistryDeps,
    effects: Effects,
    event_id: str,
    data: ResidentMovedIn,
    card_id: str,
) -> None:
    """A new case on the card (a card not seen before is in its holder's hands)."""
    case = MoveInCase(notified_on=data.notified_on)
    known = await uow.repos.cards.get(card_id)
    if known is None:
        since = start_of_jst_day(data.moved_in_on)
        card = Card(card_id, data.resident_id, data.household_id, CardState.HANDED_OVER, since)
    else:
        card = known
    card = replace(card, resident_id=data.resident_id, household_id=data.household_id, case=case)
    await uow.repos.cards.put(card)
    effects.request(deadlines.schedule_chip_rewrite(card, data.notified_on, deps.card_queue))
    detail = {"notified_on": data.notified_on.isoformat(), "due_at": case.due_at.isoformat()}
    effects.record(
        received("card", card_id, "move-in-case-opened", event_id, effects.now, detail=detail)
    )


async def resident_moved_out(
    uow: Uow, effects: Effects, event_id: str, data: ResidentMovedOut
) -> None:
    known = await uow.repos.residents.get(data.resident_id)
    if known is not None:
        await uow.repos.residents.put(moved_out(known, data))
    effects.record(received("resident", data.resident_id, "moved-out", event_id, effects.now))
    at = start_of_jst_day(data.moved_out_on)
    for card in await uow.repos.cards.of_resident(data.resident_id):
        if card.case is not None and card.case.status is CaseStatus.OPEN:
            await lapse_on_move_out(uow, effects, card, card.case, at)


async def lapse_on_move_out(
    uow: Uow, effects: Effects, card: Card, case: MoveInCase, at: datetime
) -> None:
    updated = replace(card, case=lapse(case, at, MOVED_OUT_BEFORE_REWRITE))
    if card.state is CardState.HANDED_OVER:
        updated = move(updated, CardAction.EXPIRE, at)
        effects.emit(
            events.card_state_changed(updated, effects.now, reason=MOVED_OUT_BEFORE_REWRITE)
        )
    await uow.repos.cards.put(updated)
    key = deadlines.chip_rewrite_key(card.card_id)
    effects.request(deadlines.clear(key, MOVED_OUT_BEFORE_REWRITE, at))
