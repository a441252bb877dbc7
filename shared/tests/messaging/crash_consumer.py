"""A consumer process that `test_broker_crash.py` kills with SIGKILL, again and again.

It applies numbered events effectively once: each delivery is logged (outside any transaction),
and the event is applied in one transaction with its inbox claim, so a redelivery changes nothing.
Configured by the environment: the usual settings, `CRASH_TEST_SCHEMA`, and optionally
`CRASH_AFTER_APPLIED=<n>`: once n events are applied, the process kills itself with SIGKILL right
after its transaction commits and before the offset is committed, the worst moment to crash.
"""

# FastStream's subscriber objects are untyped callables; decorating a handler with one is the
# test's way to register it, so mypy may not insist on typed decorators here.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import asyncio
import os
import signal

from mynaflow.contracts.topics import REGISTRY_COMMANDS
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.inbox import claim_inbox
from mynaflow.messaging.reliable_consume import reliable_subscriber
from mynaflow.settings import MynaflowSettings, load_settings
from mynaflow.storage.pool import create_pool
from pydantic import BaseModel

SERVICE = "card-registry"


class NumberedEvent(BaseModel):
    id: str
    n: int


async def main() -> None:
    settings = load_settings(MynaflowSettings)
    pool = await create_pool(settings.database_url, schema=os.environ["CRASH_TEST_SCHEMA"])
    broker = make_broker(settings, service=SERVICE)
    sink = DeadLetterSink(pool, service=SERVICE, topic_prefix=settings.topic_prefix)
    crash_after = int(os.environ.get("CRASH_AFTER_APPLIED", "0"))

    # Static membership: the restarted process takes its predecessor's partitions at once
    # instead of waiting for the killed member's session to expire.
    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id="crash",
        dead_letter=sink,
        group_instance_id="crash-consumer",
        session_timeout_ms=6000,
    )
    async def apply(event: NumberedEvent) -> None:
        await pool.execute("INSERT INTO deliveries (event_id) VALUES ($1)", event.id)
        async with pool.acquire() as conn, conn.transaction():
            if await claim_inbox(conn, event.id, consumer="crash-test"):
                await conn.execute(
                    "INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, event.n
                )
        if crash_after and await pool.fetchval("SELECT count(*) FROM applied") >= crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    await broker.start()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main())
