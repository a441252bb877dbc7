"""Run a service in this event loop, as `run_service` runs it but stopped by the test.

Every service's tests start their service through `start_service`, so "started" means the same
everywhere: storage, Kafka, subscribers and the HTTP server are up (the runner's `started`
callback), or the start-up failed and the test fails with the exit code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from mynaflow.runtime.definition import ServiceContext, ServiceDefinition
from mynaflow.runtime.runner import ServiceRunner, serve
from mynaflow.settings import MynaflowSettings

SettingsT = TypeVar("SettingsT", bound=MynaflowSettings)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


@dataclass
class RunningService(Generic[SettingsT]):
    """One running service (one replica): its runner, and the event that stops it."""

    runner: ServiceRunner[SettingsT]
    stop_event: asyncio.Event
    task: asyncio.Task[int]

    @property
    def settings(self) -> SettingsT:
        return self.runner.settings

    @property
    def context(self) -> ServiceContext[SettingsT]:
        """What the service was built from (its pool, producer, settings); set once it runs."""
        assert self.runner.context is not None, "a running service has its context"
        return self.runner.context

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runner.http_port}"

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Stop as SIGTERM would (drain, commit, flush); the exit code."""
        self.stop_event.set()
        return await asyncio.wait_for(self.task, timeout_s)


async def start_service(
    definition: ServiceDefinition[SettingsT],
    settings: SettingsT,
    *,
    schema: str | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> RunningService[SettingsT]:
    """Start `definition` (on `schema`, when given) and return once it runs; fail loudly if not."""
    if schema is not None:
        definition = replace(definition, schema=schema)
    stop_event = asyncio.Event()
    started: asyncio.Future[ServiceRunner[SettingsT]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(definition, settings, stop_event=stop_event, started=started.set_result)
    )
    waiting: set[asyncio.Future[Any]] = {started, task}
    await asyncio.wait(waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        stop_event.set()
        exit_code = await asyncio.wait_for(task, STOP_TIMEOUT_S)
        raise AssertionError(
            f"{definition.name} did not start within {timeout_s}s (exit code {exit_code})"
        )
    return RunningService(started.result(), stop_event, task)
