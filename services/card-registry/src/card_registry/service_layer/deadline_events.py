"""`deadlines.events`: what the registry does when one of its deadlines is breached.

- `chip-rewrite:<card>`: the case lapses and the card expires (`chip_rewrite_overdue`), at the
  due time, unless it was verified. The watcher fires a long-past breach once on catch-up.
- `surface-chip:<card>`: `surface-chip-mismatch` (Case 2) unless the chip was rewritten that
  JST day; also when the card has expired since.
- `card-pickup:<card>`: after the re-notice period, the card is destroyed.
Other deadlines (notice SLAs) and other stages are for the notifier, not the registry. Each
check reads the current state, so a breach that races a clear changes nothing.
"""

from __future__ import annotations

from dataclasses import replace

from mynaflow.contracts.deadlines import DEADLINE_BREACHED_V1, DeadlineEvent
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.registry import CardState
from mynaflow.storage.unit_of_work import UnitOfWork

from card_registry.domain import events
from card_registry.domain.lifecycle import Card, CardAction, move
from card_registry.domain.move_in import CaseStatus, is_surface_chip_mismatch, lapse
from card_registry.service_layer.deps import DEADLINES_CONSUMER, RegistryDeps
from card_registry.service_layer.effects import Effects
from card_registry.service_layer.history import received
from card_registry.service_layer.ports import RegistryRepos

Uow = UnitOfWork[RegistryRepos]
CHIP_REWRITE_OVERDUE = "chip_rewrite_overdue"
PICKUP_PERIOD_ENDED = "pickup_period_ended"


async def handle_deadline_event(event: RawCloudEvent, deps: RegistryDeps) -> None:
    if event.type != DEADLINE_BREACHED_V1:
        return  # reminders and the rest: nothing to change, nothing to claim
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=DEADLINES_CONSUMER):
            return
        effects = Effects(deps.clock.now())
        await apply_breach(uow, effects, event.id, DeadlineEvent(**event.data))
        await effects.flush(uow, deps)
        await uow.commit()


async def apply_breach(uow: Uow, effects: Effects, event_id: str, breach: DeadlineEvent) -> None:
    kind, _, card_id = breach.key.partition(":")
    rule = BREACH_RULES.get(kind)
    if rule is None:
        return
    card = await uow.repos.cards.get(card_id)
    if card is None:
        return
    effects.record(received("card", card_id, f"{kind}-breached", event_id, effects.now))
    await rule(uow, effects, card, breach)


async def expire_unverified_card(
    uow: Uow, effects: Effects, card: Card, breach: DeadlineEvent
) -> None:
    case = card.case
    if case is None or case.status is not CaseStatus.OPEN:
        return
    updated = replace(card, case=lapse(case, breach.due_at, CHIP_REWRITE_OVERDUE))
    if card.state is CardState.HANDED_OVER:
        updated = move(updated, CardAction.EXPIRE, breach.due_at)
        effects.emit(events.card_state_changed(updated, effects.now, reason=CHIP_REWRITE_OVERDUE))
    await uow.repos.cards.put(updated)


async def report_surface_chip_mismatch(
    uow: Uow, effects: Effects, card: Card, breach: DeadlineEvent
) -> None:
    if card.case is None or not is_surface_chip_mismatch(card.case):
        return
    updated = replace(card, case=replace(card.case, mismatch_reported=True))
    await uow.repos.cards.put(updated)
    effects.emit(events.surface_chip_mismatch(updated, effects.now, breach.audience.queue))


async def destroy_uncollected_card(
    uow: Uow, effects: Effects, card: Card, breach: DeadlineEvent
) -> None:
    if card.state is not CardState.PICKUP_RE_NOTICE_SENT:
        return  # after the first notice the breach asks staff for the re-notice
    updated = move(card, CardAction.DESTROY, breach.due_at)
    await uow.repos.cards.put(updated)
    effects.emit(events.card_state_changed(updated, effects.now, reason=PICKUP_PERIOD_ENDED))


BREACH_RULES = {
    "chip-rewrite": expire_unverified_card,
    "surface-chip": report_surface_chip_mismatch,
    "card-pickup": destroy_uncollected_card,
}
