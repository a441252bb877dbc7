"""Worker processes: one `notice-intake` using more than one core (`INTAKE_WORKERS`).

The process started as `notice-intake` (the parent) runs the whole service as always (HTTP,
its consumer, the outbox relay, the gap watcher) and starts `INTAKE_WORKERS - 1` workers: the
same service in child processes, in the same consumer group, so Kafka divides the partitions
of `jlis.notices.raw` among them. Nothing else has to be shared: every batch takes its
partitions' progress rows under a row lock (domain/progress.py), the relay's advisory lock lets
one process of the schema publish (the others wait as standbys), and the gap watcher claims with
`SKIP LOCKED`; that is what makes several replicas safe, and workers are replicas.

Crash-only supervision:
- a worker that exits while the parent is not stopping stops the parent with a failure (exit 1),
  so the container's supervisor restarts the whole set; the workers' notices are redelivered to
  the others meanwhile (at-least-once; the marks deduplicate);
- when the parent stops (SIGTERM), it sends SIGTERM to its workers at once, so they drain in
  parallel with it, and waits for them; a worker still there after its grace is killed;
- a worker asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), even by
  SIGKILL, then checks the parent is still the one that started it (it may have died before the
  request): no worker outlives its parent.
A worker's HTTP server listens on a free port of its own; `/metrics` of the parent's port shows
the parent's own consumption only (docs/notice-intake.md).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Set in a worker's environment to its parent's pid: a worker starts no workers of its own.
WORKER_OF_ENV = "NOTICE_INTAKE_WORKER_OF"
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def worker_parent_pid(environ: Mapping[str, str] = os.environ) -> int | None:
    """The pid of the parent this process is a worker of, or None for a parent."""
    value = environ.get(WORKER_OF_ENV)
    return int(value) if value else None


def die_with_parent(parent_pid: int) -> None:
    """Ask for SIGTERM when the parent dies; exit at once if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the request: nobody would tell us
        log.error("notice-intake worker's parent is gone; exiting", extra={"parent": parent_pid})
        sys.exit(1)


def worker_environment(parent_pid: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The parent's environment, for a worker: any free HTTP port, no workers of its own."""
    return dict(environ) | {WORKER_OF_ENV: str(parent_pid), "HTTP_PORT": "0", "INTAKE_WORKERS": "1"}


def worker_command(argv: list[str]) -> list[str]:
    """How a worker is started: the parent's console script when it was started as one (so a
    worker is named `notice-intake` in `ps` and in the load test's memory report), the module
    otherwise; always with this interpreter."""
    if argv and Path(argv[0]).name == "notice-intake":
        return [sys.executable, argv[0]]
    return [sys.executable, "-m", "notice_intake.main"]


async def start_worker() -> asyncio.subprocess.Process:
    """One worker, logging where the parent does."""
    command = worker_command(sys.argv)
    return await asyncio.create_subprocess_exec(*command, env=worker_environment(os.getpid()))


class WorkerFailedError(RuntimeError):
    """A worker exited while the parent was not stopping."""


async def supervise_workers(count: int, stopping: asyncio.Event, grace_s: float) -> None:
    """Run `count` workers until `stopping`; raise `WorkerFailedError` if one exits before."""
    workers = [await start_worker() for _ in range(count)]
    log.info("notice-intake workers started", extra={"workers": [w.pid for w in workers]})
    try:
        await _until_stopping_or_exit(workers, stopping)
    finally:
        await _stop_workers(workers, grace_s)


async def _until_stopping_or_exit(
    workers: list[asyncio.subprocess.Process], stopping: asyncio.Event
) -> None:
    watched = [asyncio.ensure_future(w.wait()) for w in workers]
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([stop, *watched], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (stop, *watched):
            future.cancel()
    if not stopping.is_set():
        codes = {w.pid: w.returncode for w in workers if w.returncode is not None}
        raise WorkerFailedError(f"notice-intake worker(s) exited: {codes}")


async def _stop_workers(workers: list[asyncio.subprocess.Process], grace_s: float) -> None:
    """SIGTERM every worker still running and wait up to `grace_s`; SIGKILL what is left.

    If this wait is itself cut short (the runner gives background tasks little time), the
    workers go on draining by themselves: they have their SIGTERM, and no worker outlives the
    parent's exit by more than its own grace.
    """
    running = [w for w in workers if w.returncode is None]
    for worker in running:
        worker.send_signal(signal.SIGTERM)
    if running:
        waits = [asyncio.ensure_future(w.wait()) for w in running]
        _, late = await asyncio.wait(waits, timeout=grace_s)
        for future in late:
            future.cancel()
    for worker in running:
        if worker.returncode is None:
            log.warning("notice-intake worker killed after its grace", extra={"pid": worker.pid})
            worker.kill()
            await worker.wait()
    log.info(
        "notice-intake workers stopped",
        extra={"exit_codes": {w.pid: w.returncode for w in workers}},
    )
