"""The demo's own system: a database, a topic prefix and a folder of its own, and the four
services (plus a local mail catcher) as real processes.

Like `scripts/run_all.py`, each process runs in a session of its own and is stopped with one
SIGTERM (SIGKILL after a grace period); unlike it, each logs to a file, because the demo prints
a report, not interleaved logs. Everything the demo owns is deleted and made again at start, so
`make demo` twice gives the same report and never touches `make run`'s database or topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings

from mynaflow_tools.demo.feed import console_script
from mynaflow_tools.demo.scenario import DEMO_STAFF

DEMO_DATABASE = "mynaflow_demo"
DEMO_TOPIC_PREFIX = "demo."
SERVICES = ("notice-intake", "card-registry", "deadline-watcher", "notifier")
STOP_GRACE_S = 15.0
READY_TIMEOUT_S = 120.0
# The workspace's local SMTP catcher (aiosmtpd, a dev dependency), as `make run` uses it.
MAIL_CATCHER = Path(__file__).resolve().parents[4] / "scripts" / "mail_catcher.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url_for(database_url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def recreate_database(database_url: str, database: str) -> None:
    """Drop the demo's database (its connections too) and create it empty."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def delete_topics(settings: MynaflowSettings, prefix: str, timeout_s: float = 60.0) -> None:
    """Delete every topic under `prefix`, and wait until the broker no longer lists them
    (deletion is asynchronous: a service creating them too early would find them dying)."""
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        names = [n for n in await admin.list_topics() if n.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        async with asyncio.timeout(timeout_s):
            await _until_none_listed(admin, prefix)
    finally:
        await admin.close()


async def _until_none_listed(admin: AIOKafkaAdminClient, prefix: str) -> None:
    while True:
        if not any(name.startswith(prefix) for name in await admin.list_topics()):
            return
        await asyncio.sleep(0.5)


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 (the workspace's own scripts)
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    async def stop(self) -> int | None:
        """SIGTERM; SIGKILL to its session if it has not exited after the grace period."""
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.popen.wait, STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            return await asyncio.to_thread(self.popen.wait, 5)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class DemoSystem:
    """Where the demo keeps its data, and the processes it started."""

    folder: Path
    database_url: str
    kafka_bootstrap: str
    topic_prefix: str = DEMO_TOPIC_PREFIX
    aggregation_window_s: float = 20.0
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    smtp_port: int = 0

    @property
    def mail_dir(self) -> Path:
        return self.folder / "mail"

    @property
    def letters_dir(self) -> Path:
        return self.folder / "letters"

    @property
    def logs_dir(self) -> Path:
        return self.folder / "logs"

    def url(self, service: str) -> str:
        return self.processes[service].url

    def base_env(self) -> dict[str, str]:
        return dict(os.environ) | {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "TOPIC_PREFIX": self.topic_prefix,
            "PYTHONUNBUFFERED": "1",
        }

    def cli_env(self) -> dict[str, str]:
        """What the `mynaflow` CLI needs to talk to this system, not `make run`'s."""
        urls = {
            f"{service.upper().replace('-', '_')}_URL": process.url
            for service, process in self.processes.items()
            if service in SERVICES
        }
        return self.base_env() | urls

    def reset_folder(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        for folder in (self.mail_dir, self.letters_dir, self.logs_dir):
            folder.mkdir(parents=True)
        (self.folder / "staff.json").write_text(json.dumps(DEMO_STAFF, ensure_ascii=False))

    def plan(self, service_env: dict[str, dict[str, str]] | None = None) -> None:
        """Decide ports and environments; nothing starts yet."""
        self.smtp_port = free_port()
        catcher = [sys.executable, str(MAIL_CATCHER), "--port", str(self.smtp_port)]
        self._add("mail-catcher", [*catcher, "--dir", str(self.mail_dir)], {}, port=0)
        own = {
            "notifier": {
                "SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                "LETTERS_DIR": str(self.letters_dir),
                "STAFF_FILE": str(self.folder / "staff.json"),
                "AGGREGATION_WINDOW_S": str(self.aggregation_window_s),
            }
        }
        for service in SERVICES:
            env = own.get(service, {}) | (service_env or {}).get(service, {})
            self._add(service, [console_script(service)], env, port=free_port())

    def _add(self, name: str, argv: list[str], env: dict[str, str], *, port: int) -> None:
        full_env = self.base_env() | {"HTTP_PORT": str(port)} | self.extra_env | env
        log_path = self.logs_dir / f"{name}.log"
        self.processes[name] = Process(name, argv, full_env, log_path, port)

    async def start(self) -> None:
        for process in self.processes.values():
            process.start()
        await asyncio.gather(*(self.wait_ready(s) for s in SERVICES))

    async def wait_ready(self, service: str) -> None:
        process = self.processes[service]
        async with httpx.AsyncClient(timeout=2.0) as client:
            async with asyncio.timeout(READY_TIMEOUT_S):
                while True:
                    if process.exited() is not None:
                        raise RuntimeError(f"{service} exited early:\n{process.log_tail()}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{process.url}/readyz")).status_code == 200:
                            return
                    await asyncio.sleep(0.3)

    async def restart(self, service: str) -> None:
        """Stop one service (SIGTERM, drained) and start it again on the same port."""
        process = self.processes[service]
        await process.stop()
        process.start()
        await self.wait_ready(service)

    async def stop(self) -> dict[str, int | None]:
        codes = await asyncio.gather(*(p.stop() for p in self.processes.values()))
        return dict(zip(self.processes, codes, strict=True))


async def prepare(system: DemoSystem, admin_database_url: str, settings: MynaflowSettings) -> None:
    """Empty database, no topics under the prefix, an empty folder: a run from scratch."""
    await recreate_database(admin_database_url, urlsplit(system.database_url).path.lstrip("/"))
    await delete_topics(settings, system.topic_prefix)
    system.reset_folder()


async def remove(system: DemoSystem, admin_database_url: str, settings: MynaflowSettings) -> None:
    """Stop what still runs, then drop the database and delete the topics (tests clean up)."""
    await system.stop()
    conn = await asyncpg.connect(admin_database_url)
    try:
        database = urlsplit(system.database_url).path.lstrip("/")
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
    await delete_topics(settings, system.topic_prefix)
