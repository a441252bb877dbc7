"""Events held until their recipient is in the directory: retried, then dead-lettered.

Topics are not ordered against each other: a deadline stage for a resident can arrive before
the resident's move-in. Such an event waits in `held_events` (durably: a restart keeps it), is
tried again with backoff, and is dead-lettered with reason `unknown_recipient` once `hold_for`
has passed since it was first received.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from mynaflow.contracts.envelope import decode_event

from notifier.domain.records import HeldEvent
from notifier.service_layer.consume import apply_event
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import RecipientNotYetKnown

log = logging.getLogger(__name__)

UNKNOWN_RECIPIENT = "unknown_recipient"
MAX_RETRY_GAP = timedelta(seconds=30)


async def retry_next_held(deps: NotifierDeps) -> bool:
    """Try the soonest due held event once; False when none is due."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        held = await uow.repos.claim_held(now)
        if held is None:
            return False
        try:
            await apply_event(uow, decode_event(held.payload), deps, now)
        except RecipientNotYetKnown as unknown:
            await _still_unknown(uow.repos, held, unknown.missing, now)
        else:
            await uow.repos.release_held(held.event_id)
        await uow.commit()
    return True


async def _still_unknown(
    repos: NotifierRepos, held: HeldEvent, missing: str, now: datetime
) -> None:
    if now >= held.give_up_at:
        waited = (now - held.first_received_at).total_seconds()
        await repos.dead_letter_held(
            held, UNKNOWN_RECIPIENT, f"{missing} not in the directory after {waited:.0f}s"
        )
        await repos.release_held(held.event_id)
        log.warning(
            "held event dead-lettered: recipient never appeared",
            extra={"event_id": held.event_id, "missing": missing},
        )
        return
    attempts = held.attempts + 1
    gap = min(timedelta(seconds=1 << min(attempts, 5)), MAX_RETRY_GAP)
    retry_at = min(now + gap, held.give_up_at)
    await repos.hold(replace(held, missing=missing, retry_at=retry_at, attempts=attempts))


async def seconds_until_next_held(deps: NotifierDeps, cap_s: float) -> float:
    async with deps.uow() as uow:
        due = await uow.repos.next_held_at()
    if due is None:
        return cap_s
    return max(0.0, min(cap_s, (due - deps.clock.now()).total_seconds()))
