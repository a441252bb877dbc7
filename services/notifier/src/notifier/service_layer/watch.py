"""The silent-watcher check: no deadline-watcher heartbeat for `silence` alerts the desk
managers, once per outage (`domain.watcher_silence`).

The alert's source id is derived from the outage (the last heartbeat before it), so replicas
checking at once record it once (idempotency key), and a restart does not alert again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from mynaflow.domain.time import JST
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.domain.watcher_silence import HeartbeatState, after_alert, next_check_at, should_alert
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.planning import Source, plan_for
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import staff

log = logging.getLogger(__name__)

WATCHER_SILENT = "watcher-silent"


async def check_watcher(deps: NotifierDeps) -> float:
    """Alert if the watcher has gone silent; seconds until the next check is worth doing."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        state = await uow.repos.heartbeat()
        if state is None:
            # Nothing heard yet: the watch starts now, so a watcher that never comes is noticed.
            state = HeartbeatState(now)
            await uow.repos.save_heartbeat(state)
        elif should_alert(state, now, deps.silence):
            await _alert(uow, state, deps)
            state = after_alert(state)
            await uow.repos.save_heartbeat(state)
        await uow.commit()
    wait = (next_check_at(state, deps.silence) - now).total_seconds()
    return max(1.0, min(wait, deps.silence.total_seconds()))


async def _alert(uow: UnitOfWork[NotifierRepos], state: HeartbeatState, deps: NotifierDeps) -> None:
    now = deps.clock.now()
    item = {
        "silent_minutes": int(deps.silence / timedelta(minutes=1)),
        "last_seen": state.last_seen_at.astimezone(JST).strftime("%Y-%m-%d %H:%M JST"),
    }
    source = Source(f"{WATCHER_SILENT}:{state.last_seen_at.isoformat()}", WATCHER_SILENT, item)
    for manager in deps.staff.all_desk_managers():
        await plan_for(
            uow, source, "watcher_silent_alert", staff(manager, deps), deps, now, aggregate=False
        )
    log.warning("deadline-watcher is silent; desk managers alerted", extra=item)
