"""Services as real processes: their console scripts, started with an environment, killed or
stopped by the test.

What a deployment runs is the console script (`notice-intake`, `deadline-watcher`, ...), so
tests that inject process faults (SIGKILL, SIGTERM) run exactly that, not an in-process copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mynaflow_testing.ports import free_port
from mynaflow_testing.waiting import wait_for


def console_script(name: str) -> str:
    """The path of a workspace console script: beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"console script {name!r} is not installed (uv sync --all-packages)")
    return found


@dataclass
class ServiceProcess:
    """One service replica as a real process, its output appended to `log_path`."""

    script: str
    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            # The workspace's own console script, found beside this interpreter.
            self.process = subprocess.Popen(  # noqa: S603
                [console_script(self.script)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until `/readyz` answers 200; fails with the log's tail if the process exits first."""

        async def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.script} exited early:\n{self.log_tail()}")
            return await self.answers("/readyz")

        await wait_for(ready, timeout=timeout_s, interval=0.2, what=f"{self.script} /readyz")

    async def start_ready(self, timeout_s: float = 90.0) -> None:
        self.start()
        await self.wait_ready(timeout_s)

    async def answers(self, path: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(f"{self.url}{path}")).status_code == 200
        except httpx.HTTPError:
            return False

    async def get_json(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{self.url}{path}")
            response.raise_for_status()
            return response.json()

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def terminate(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, then the exit code (the process must exit within `timeout_s`)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, timeout_s)

    def ensure_stopped(self) -> None:
        """For clean-up: whatever state the test left it in, the process is gone after this."""
        if self.running:
            self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def service_process(
    script: str,
    *,
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
) -> ServiceProcess:
    """A replica of `script` on its own free HTTP port, not started yet."""
    port = free_port()
    env = dict(os.environ) | {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_PREFIX": topic_prefix,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    return ServiceProcess(script, env | dict(extra_env or {}), log_path, port)


@dataclass
class Fleet:
    """The processes one test launched, each logging to its own file in `folder`; the fixture
    that owns it kills whatever is still running at the end."""

    folder: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    def launch(
        self,
        script: str,
        *,
        name: str | None = None,
        database_url: str,
        kafka_bootstrap: str,
        topic_prefix: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> ServiceProcess:
        process = service_process(
            script,
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=topic_prefix,
            log_path=self.folder / f"{name or script}.log",
            extra_env=extra_env,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.ensure_stopped()
