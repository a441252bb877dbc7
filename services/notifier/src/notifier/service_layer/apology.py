"""Bulk apology letters (お詫び文): drafted by one staff member, released by another.

- `send-apology` drafts a batch: the cases grouped by household (one letter each). Nothing is
  printed yet. A batch id seen before changes nothing.
- `approve-apology` releases it, unless the approver is the requester (two-person rule), the
  batch is unknown, or it was released before: each refusal is an event with its reason.
- Released letters are queued like any other delivery (one message per household, so one
  letter); when the last one is written, `apology-batch-completed` names the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.notifier import (
    APPROVE_APOLOGY_V1,
    SEND_APOLOGY_V1,
    ApproveApology,
    RefusalReason,
    SendApology,
)
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.adapters.letters import MANIFEST_NAME, manifest_summary
from notifier.domain.events import batch_completed, batch_drafted, batch_refused, batch_released
from notifier.domain.records import ApologyBatch
from notifier.service_layer.deps import COMMANDS_CONSUMER, NotifierDeps
from notifier.service_layer.planning import Source, plan_for
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import Recipient

log = logging.getLogger(__name__)

REFUSALS: dict[RefusalReason, str] = {
    "same_staff": "the requester cannot release their own batch (two-person rule)",
    "unknown_batch": "no drafted batch has this id",
    "already_released": "the batch was released before",
}


async def handle_command(event: RawCloudEvent, deps: NotifierDeps) -> None:
    now = deps.clock.now()
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=COMMANDS_CONSUMER):
            return
        if event.type == SEND_APOLOGY_V1:
            await draft(uow, SendApology.model_validate(event.data), deps, now)
        elif event.type == APPROVE_APOLOGY_V1:
            await approve(uow, ApproveApology.model_validate(event.data), deps, now)
        else:
            raise PoisonMessage("unknown_command_type", f"{event.type!r} is not a notifier command")
        await uow.commit()


def _household_of(case: dict[str, object]) -> str:
    return str(case.get("household_id") or case.get("resident_id"))


async def draft(
    uow: UnitOfWork[NotifierRepos], command: SendApology, deps: NotifierDeps, now: datetime
) -> None:
    if await uow.repos.batch(command.batch_id) is not None:
        log.info("apology batch drafted before; nothing to do", extra={"batch": command.batch_id})
        return
    cases = [case.model_dump(mode="json") for case in command.cases if case.resident_id]
    batch = ApologyBatch(
        batch_id=command.batch_id,
        requested_by=command.requested_by,
        status="draft",
        cases=cases,
        households=len({_household_of(case) for case in cases}),
        drafted_at=now,
    )
    await uow.repos.save_batch(batch)
    uow.emit(deps.deliveries_topic, batch.batch_id, batch_drafted(batch))


async def approve(
    uow: UnitOfWork[NotifierRepos], command: ApproveApology, deps: NotifierDeps, now: datetime
) -> None:
    batch = await uow.repos.batch(command.batch_id)
    refusal = _refusal(batch, command.staff_id)
    if refusal is not None or batch is None:
        reason: RefusalReason = refusal or "unknown_batch"
        event = batch_refused(command.batch_id, command.staff_id, reason, REFUSALS[reason], now)
        uow.emit(deps.deliveries_topic, command.batch_id, event)
        return
    released = replace(batch, status="released", released_by=command.staff_id, released_at=now)
    await uow.repos.save_batch(released)
    uow.emit(deps.deliveries_topic, batch.batch_id, batch_released(released))
    for case in released.cases:
        household = _household_of(case)
        recipient = Recipient("resident", str(case["resident_id"]), ("letter",), household)
        source = Source(f"apology:{batch.batch_id}", SEND_APOLOGY_V1, case)
        await plan_for(
            uow,
            source,
            "apology",
            recipient,
            deps,
            now,
            bucket=f"apology|{batch.batch_id}|{household}",
            batch_id=batch.batch_id,
        )


def _refusal(batch: ApologyBatch | None, staff_id: str) -> RefusalReason | None:
    if batch is None:
        return "unknown_batch"
    if batch.status != "draft":
        return "already_released"
    if batch.requested_by == staff_id:
        return "same_staff"
    return None


async def complete_if_done(
    uow: UnitOfWork[NotifierRepos], batch_id: str, deps: NotifierDeps, now: datetime
) -> None:
    """Once no letter of the batch is left to write: `apology-batch-completed`, once."""
    if await uow.repos.batch_open_letters(batch_id):
        return
    batch = await uow.repos.batch(batch_id)
    if batch is None or batch.status != "released":
        return
    letters, manual = manifest_summary(deps.letters_dir, batch_id)
    completed = replace(batch, status="completed", completed_at=now)
    await uow.repos.save_batch(completed)
    manifest = f"{batch_id}/{MANIFEST_NAME}"
    event = batch_completed(completed, letters=letters, manual=manual, manifest=manifest, at=now)
    uow.emit(deps.deliveries_topic, batch_id, event)
