"""`make images-smoke`: each service's image, run as built, against the local Kafka and PostgreSQL.

For every image `mynaflow/<service>:<version>` (built by `make images`):
- it answers `/readyz` within 60 s of its start;
- it processes one real message: a J-LIS notice is receipted (notice-intake), the notice's SLA
  deadline is scheduled (deadline-watcher), a staff command is answered (card-registry), and the
  sequence-gap alert is delivered by email and logged (notifier);
- SIGTERM makes it drain and exit 0 within 10 s.

The four run together, like a deployment, with `buildah run` (no engine needed) or `docker run`
when a Docker engine answers. They get a fresh database, a unique topic prefix, free HTTP ports
and an SMTP catcher; all of it is removed afterwards (docs/deployment.md, "Smoke test").

Usage: uv run python scripts/images_smoke.py   (make images-smoke)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from mynaflow.contracts.envelope import encode_event
from mynaflow.contracts.registry import StaffJoinedQueue, command_event
from mynaflow.settings import MynaflowSettings, load_settings
from mynaflow_testing.harness.deadline_watcher import delete_topics
from mynaflow_testing.kafka_helpers import consume_until, produce
from mynaflow_testing.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("notice-intake", "card-registry", "deadline-watcher", "notifier")
READY_LIMIT_S = 60.0
MESSAGE_LIMIT_S = 90.0
STOP_LIMIT_S = 10.0
# The image's virtualenv: the service's own process is the one that gets SIGTERM.
SERVICE_EXECUTABLE_PREFIX = b"/app/.venv/bin/"
MUNICIPALITY = "141046"  # 横浜市中区, a valid JIS X 0401 code

Records = list[Any]


def log(message: str) -> None:
    print(f"[images-smoke] {message}", flush=True)


def image_of(service: str) -> str:
    pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    return f"mynaflow/{service}:{pyproject['project']['version']}"


def docker_engine() -> bool:
    forced = os.environ.get("IMAGE_ENGINE")
    if forced:
        return forced == "docker"
    try:
        return subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


BUILDAH = ["buildah", "--storage-driver", os.environ.get("STORAGE_DRIVER", "vfs")]


@dataclass
class Container:
    service: str
    image: str
    env: dict[str, str]
    log_path: Path
    docker: bool
    name: str = field(default_factory=lambda: f"mynaflow-smoke-{uuid.uuid4().hex[:8]}")
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['HTTP_PORT']}"

    def start(self) -> None:
        envs = [arg for key, value in self.env.items() for arg in ("--env", f"{key}={value}")]
        if self.docker:
            # --init: tini as PID 1 passes SIGTERM on, as in docker-compose.yml.
            command = ["docker", "run", "--rm", "--init", "--network", "host"]
            command += ["--name", self.name, *envs, self.image]
        else:
            subprocess.run(
                [*BUILDAH, "from", "-q", "--pull=never", "--name", self.name, self.image],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            # `buildah run` needs the command spelled out: the image's own CMD, unchanged.
            inspect = [*BUILDAH, "inspect", "--type", "image", self.image]
            described = subprocess.run(inspect, check=True, capture_output=True, text=True)
            cmd = json.loads(described.stdout)["OCIv1"]["config"]["Cmd"]
            command = [
                *BUILDAH,
                "run",
                "--isolation",
                "chroot",
                "--network",
                "host",
                *envs,
                self.name,
                "--",
                *cmd,
            ]
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()

    def descendants(self) -> list[int]:
        """Every process below the engine's client, parents first."""
        assert self.process is not None
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            if stat:
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name)
                )
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop(0)
            found.extend(children.get(pid, []))
            todo.extend(children.get(pid, []))
        return found

    def service_pid(self) -> int | None:
        """The service's own process. With chroot isolation it is a host process below
        `buildah run` and buildah's chroot helpers; signalling those kills it, not stops it."""
        for pid in self.descendants():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(SERVICE_EXECUTABLE_PREFIX):
                return pid
        return None

    def rss_mib(self) -> str:
        """The service's resident memory now (buildah only: the process is a host process)."""
        pid = None if self.docker else self.service_pid()
        if pid is None:
            return "rss n/a"
        status = Path(f"/proc/{pid}/status").read_text()
        kib = int(status.split("\nVmRSS:")[1].split()[0])
        return f"rss {kib / 1024:.0f} MiB"

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM the service; its exit code (None if it outlived STOP_LIMIT_S) and the time."""
        assert self.process is not None
        started = time.monotonic()
        if self.docker:
            subprocess.run(["docker", "kill", "--signal", "TERM", self.name], capture_output=True)
        else:
            pid = self.service_pid()
            if pid is None:
                return self.process.poll(), 0.0
            os.kill(pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return code, time.monotonic() - started

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Whatever failed, leave no service behind: killing `buildah run` alone would
            # orphan the service below it.
            for pid in reversed(self.descendants()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
        if self.docker:
            subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        else:
            subprocess.run([*BUILDAH, "rm", self.name], capture_output=True)

    def tail(self, lines: int = 25) -> str:
        if not self.log_path.exists():
            return "(not started)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


async def wait_ready(container: Container) -> float:
    """Seconds from the container's start to its first /readyz 200."""
    assert container.process is not None
    while True:
        elapsed = time.monotonic() - container.started_at
        if container.process.poll() is not None:
            raise SmokeFailed(f"{container.service} exited ({container.process.returncode})")
        if elapsed > READY_LIMIT_S:
            raise SmokeFailed(f"{container.service} not ready within {READY_LIMIT_S:.0f}s")
        try:
            with urllib.request.urlopen(f"{container.url}/readyz", timeout=2) as answer:  # noqa: ASYNC210
                if answer.status == 200:
                    return elapsed
        except (urllib.error.URLError, OSError):
            pass
        await asyncio.sleep(0.5)


class SmokeFailed(Exception):
    pass


def type_of(event: dict[str, Any]) -> str:
    return str(event.get("type", ""))


def events(records: Records) -> list[tuple[str, dict[str, Any]]]:
    decoded = []
    for record in records:
        try:
            decoded.append((record.key.decode() if record.key else "", json.loads(record.value)))
        except (ValueError, AttributeError):
            continue
    return decoded


def has(predicate: Callable[[str, dict[str, Any]], bool]) -> Callable[[Records], bool]:
    return lambda records: any(predicate(key, event) for key, event in events(records))


def raw_notice(notice_id: str, sequence: int) -> bytes:
    notice = {
        "notice_id": notice_id,
        "kind": "record_update_required",
        "municipality_code": MUNICIPALITY,
        "issued_at": datetime.now(UTC).isoformat(),
        "sequence": sequence,
    }
    return json.dumps(notice).encode()


async def exercise(bootstrap: str, prefix: str, run_id: str) -> dict[str, str]:
    """One real message through each service; what each one did, by service."""
    first, third = f"SMOKE-{run_id}-1", f"SMOKE-{run_id}-3"
    # Sequence 2 never comes: the gap is what the notifier is asked to tell the managers.
    for notice_id, sequence in ((first, 1), (third, 3)):
        await produce(
            bootstrap, f"{prefix}jlis.notices.raw", [raw_notice(notice_id, sequence)], key=notice_id
        )
    command = command_event(
        StaffJoinedQueue(staff_id=f"S-SMOKE-{run_id}", performed_at=None, queue="card-records")
    )
    await produce(
        bootstrap, f"{prefix}registry.commands", [encode_event(command)], key=command.subject
    )

    def receipted(_key: str, event: dict[str, Any]) -> bool:
        return type_of(event).endswith("notice-acknowledged.v1") and (
            event["data"].get("notice_id") == first
        )

    def scheduled(key: str, event: dict[str, Any]) -> bool:
        return type_of(event).endswith("deadline.scheduled.v1") and first in key

    def answered(_key: str, event: dict[str, Any]) -> bool:
        return type_of(event).endswith(("command-accepted.v1", "command-rejected.v1")) and (
            event["data"].get("command_id") == command.id
        )

    def logged(_key: str, event: dict[str, Any]) -> bool:
        return type_of(event).endswith("delivery-logged.v1")

    checks = {
        "notice-intake": ("intake.receipts", receipted, "notice receipted"),
        "deadline-watcher": ("deadlines.events", scheduled, "SLA deadline scheduled"),
        "card-registry": ("registry.events", answered, "staff command answered"),
        "notifier": ("notifier.deliveries", logged, "gap alert delivered and logged"),
    }
    done: dict[str, str] = {}
    for service, (topic, predicate, what) in checks.items():
        started = time.monotonic()
        records = await consume_until(
            bootstrap, f"{prefix}{topic}", has(predicate), timeout_s=MESSAGE_LIMIT_S
        )
        match = next(event for key, event in events(records) if predicate(key, event))
        done[service] = (
            f"{what} ({match['type'].rsplit('.', 2)[-2]}, {time.monotonic() - started:.1f}s)"
        )
        log(f"{service}: {done[service]}")
    return done


def start_mail_catcher(port: int, folder: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "scripts" / "mail_catcher.py"), "--port", str(port)]
    return subprocess.Popen([*command, "--dir", str(folder)], stdout=subprocess.DEVNULL)


def database_url_named(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def smoke(settings: MynaflowSettings, workdir: Path) -> int:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"imgsmoke-{run_id}."
    database = f"mynaflow_imgsmoke_{run_id}"
    admin = await asyncpg.connect(settings.database_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    smtp_port = free_port()
    catcher = start_mail_catcher(smtp_port, workdir / "mail")
    docker = docker_engine()
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": database_url_named(settings.database_url, database),
        "TOPIC_PREFIX": prefix,
        # The local broker is one node: the settings' cluster defaults (3 and 2) cannot apply.
        "TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
        "TOPIC_MIN_INSYNC_REPLICAS": str(settings.topic_min_insync_replicas),
        "HTTP_HOST": "127.0.0.1",
        "SHUTDOWN_GRACE_S": "8",
    }
    own = {
        # The gap alert is due after the grace, and staff mail waits one aggregation window:
        # both shortened so the smoke test does not wait 15 and 10 minutes.
        "notice-intake": {"SEQUENCE_GAP_GRACE_S": "2"},
        "card-registry": {},
        "deadline-watcher": {},
        "notifier": {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "AGGREGATION_WINDOW_S": "1"},
    }
    containers = [
        Container(
            service,
            image_of(service),
            {**common, **own[service], "HTTP_PORT": str(free_port())},
            workdir / f"{service}.log",
            docker,
        )
        for service in SERVICES
    ]
    rows: dict[str, list[str]] = {c.service: [c.image] for c in containers}
    failed = False
    try:
        log(f"engine: {'docker' if docker else 'buildah'}; prefix {prefix}; database {database}")
        for container in containers:
            container.start()
        for container in containers:
            ready = await wait_ready(container)
            rows[container.service].append(f"ready {ready:.1f}s")
            log(f"{container.service}: /readyz 200 after {ready:.1f}s")
        done = await exercise(settings.kafka_bootstrap_servers, prefix, run_id)
        for service, what in done.items():
            rows[service].append(what)
        for container in containers:
            rows[container.service].append(container.rss_mib())
        for container in containers:
            code, took = container.stop()
            rows[container.service].append(f"SIGTERM: exit {code} in {took:.1f}s")
            log(f"{container.service}: SIGTERM -> exit {code} in {took:.1f}s")
            if code != 0:
                raise SmokeFailed(f"{container.service} exited {code} on SIGTERM")
    except Exception as error:  # any failure: report it with the logs, then clean up
        failed = True
        log(f"FAILED: {type(error).__name__}: {error}")
        for container in containers:
            log(f"--- {container.service} log (last lines) ---\n{container.tail()}")
    finally:
        for container in containers:
            container.remove()
        catcher.terminate()
        catcher.wait()
        await delete_topics(settings.kafka_bootstrap_servers, prefix)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    for service, cells in rows.items():
        log(" | ".join([f"{service:17}", *cells]))
    return 1 if failed else 0


def main() -> int:
    started = time.monotonic()
    settings = load_settings(MynaflowSettings)
    with tempfile.TemporaryDirectory(prefix="mynaflow-images-smoke-") as workdir:
        code = asyncio.run(smoke(settings, Path(workdir)))
    log(f"{'passed' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
