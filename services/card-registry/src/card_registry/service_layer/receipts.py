"""`intake.receipts`: every accepted or quarantined receipt becomes a work item.

- The item lives in the receipt's owner queue; a duplicate adds nothing, a content conflict
  opens its triage item (`conflict:<work item id>`).
- Work arriving in a queue with no member orphans it (once until staffed again).
- A `record_update_required` notice holds the applicant's card (発行保留): the registry knows
  that card by its application id (申請書ID) until it is delivered.
- Gap events are not work for the registry.
"""

from __future__ import annotations

from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1, NoticeAcknowledged, ReceiptStatus
from mynaflow.storage.unit_of_work import UnitOfWork

from card_registry.domain import events, queues
from card_registry.domain.lifecycle import Card, CardAction, next_state
from card_registry.domain.work_items import (
    RECORD_UPDATE_REQUIRED,
    WorkItem,
    opens_work,
    work_item_from_receipt,
)
from card_registry.service_layer.commands import reexamine
from card_registry.service_layer.deps import RECEIPTS_CONSUMER, RegistryDeps
from card_registry.service_layer.effects import Effects
from card_registry.service_layer.ports import RegistryRepos

Uow = UnitOfWork[RegistryRepos]


async def handle_receipt(event: RawCloudEvent, deps: RegistryDeps) -> None:
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=RECEIPTS_CONSUMER):
            return
        effects = Effects(deps.clock.now())
        if event.type == NOTICE_ACKNOWLEDGED_V1:
            await open_work_item(uow, deps, effects, NoticeAcknowledged(**event.data))
        await effects.flush(uow, deps)
        await uow.commit()


async def open_work_item(
    uow: Uow, deps: RegistryDeps, effects: Effects, receipt: NoticeAcknowledged
) -> None:
    if not opens_work(receipt):
        return
    item = work_item_from_receipt(receipt)
    if not await uow.repos.work_items.add(item):
        return
    effects.emit(events.work_item_opened(item, effects.now))
    await report_orphaned_queue(uow, effects, item)
    if _holds_a_card(receipt):
        await hold_card(uow, effects, item)
        await reexamine(uow, deps, effects, f"card:{item.application_id}")
    await reexamine(uow, deps, effects, item.key)


async def report_orphaned_queue(uow: Uow, effects: Effects, item: WorkItem) -> None:
    change = queues.work_arrived(await uow.repos.queues.get(item.queue))
    if change.orphaned is None:
        return
    await uow.repos.queues.put(change.queue)
    open_items = await uow.repos.work_items.count_open(item.queue)
    effects.emit(
        events.queue_orphaned(
            change.queue, change.orphaned, open_items, item.opened_at, effects.now
        )
    )


def _holds_a_card(receipt: NoticeAcknowledged) -> bool:
    return (
        receipt.kind == RECORD_UPDATE_REQUIRED
        and receipt.status is ReceiptStatus.ACCEPTED
        and receipt.application_id is not None
        and receipt.resident_ref is not None
    )


async def hold_card(uow: Uow, effects: Effects, item: WorkItem) -> None:
    assert item.application_id is not None
    assert item.resident_id is not None
    if await uow.repos.cards.get(item.application_id) is not None:
        return
    resident = await uow.repos.residents.get(item.resident_id)
    card = Card(
        card_id=item.application_id,
        resident_id=item.resident_id,
        household_id=resident.household_id if resident else None,
        state=next_state(None, CardAction.HOLD),
        state_since=item.opened_at,
    )
    await uow.repos.cards.put(card)
    effects.emit(events.card_state_changed(card, effects.now))
