"""A Kafka broker and a PostgreSQL server owned by one test, to stop and restart at will.

The shared servers (`make infra-up`) serve every test running at the same time, so a test that
stops a server needs one of its own. Both are built by `scripts/infra.py`'s own functions
(Kafka 4.0 KRaft from the cached Maven Central jars, PostgreSQL from Debian's binaries), on free
ports, in a temporary folder deleted afterwards.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from mynaflow_testing.ports import free_port

_REPO = Path(__file__).resolve().parents[3]
_INFRA_PATH = _REPO / "scripts" / "infra.py"


def _load_infra() -> ModuleType:
    # scripts/infra.py is a stdlib script, not a package: loaded by path, once.
    spec = importlib.util.spec_from_file_location("mynaflow_infra_script", _INFRA_PATH)
    assert spec is not None, _INFRA_PATH
    assert spec.loader is not None, _INFRA_PATH
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


infra = _load_infra()


def scratch_folder(prefix: str) -> Path:
    """A temporary folder the `postgres` account can traverse when we run as root (PostgreSQL
    refuses to run as root, and /tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    folder.chmod(0o755)
    return folder


@dataclass
class OwnKafka:
    """A single-node KRaft broker on free ports; its data survives `stop()`/`start()`."""

    root: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    cluster_id: str = field(default_factory=lambda: str(infra.kafka_cluster_id()))
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def _start_blocking(self) -> None:
        java, libs = infra.java_bin(), infra.kafka_libs()
        classpath = f"{libs}/*"
        props = self.root / "server.properties"
        self.logs.mkdir(parents=True, exist_ok=True)
        ports = {"port": self.port, "controller_port": self.controller_port}
        props.write_text(infra.kafka_properties(ports, self.root / "data"))
        if not (self.root / "data" / "meta.properties").exists():
            base = [java, infra.KAFKA_HEAP, "-cp", classpath]
            infra.format_kafka_storage(base, self.cluster_id, props)
        process = infra.spawn_kafka(java, classpath, props, self.logs, self.root)
        self.process = process
        infra.wait_for_kafka(self.port, lambda: process.poll() is not None, self.logs)

    async def start(self) -> None:
        """Start (or restart on the same ports and data) and wait until it serves Metadata."""
        await asyncio.to_thread(_raising_readably, self._start_blocking)

    async def stop(self) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL after 30 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        await asyncio.to_thread(infra.stop_kafka_process, process.pid)
        await asyncio.to_thread(process.wait, 10)

    def log_tail(self) -> str:
        return str(infra.tail(self.logs / "kafka.log"))


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster on a free port, role and database `mynaflow` as in infra.py.

    Unlike the shared cluster it commits synchronously: the test is about what the services do
    when the server dies, and a commit the server had not yet written could vanish on a crash
    and be mistaken for a bug of theirs.
    """

    root: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def url(self) -> str:
        return f"postgresql://{infra.PG_USER}:{self.password}@127.0.0.1:{self.port}/{infra.PG_DB}"

    @property
    def data(self) -> Path:
        return Path(infra.pg_paths(self.root)[0])

    @property
    def log(self) -> Path:
        return Path(infra.pg_paths(self.root)[2])

    def _bindir(self) -> Path:
        return Path(infra.pg_install())

    def _prepare(self) -> None:
        socket_dir = Path(infra.pg_paths(self.root)[1])
        for folder in (self.root, socket_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(folder, infra.pg_os_user(), infra.pg_os_user())
        infra.pg_initdb(self._bindir(), self.data)
        settings = {"port": self.port, "password": self.password}
        conf = infra.pg_conf(settings, self.root) + "synchronous_commit = on\n"
        infra.pg_write_conf(self.data, conf)

    def _start_blocking(self, *, first: bool) -> None:
        if first:
            self._prepare()
        infra.pg_start(self._bindir(), self.data, self.log)
        if first:
            settings = {"port": self.port, "password": self.password}
            infra.pg_bootstrap(self._bindir(), settings, infra.pg_paths(self.root)[1])

    async def start(self, *, first: bool = False) -> None:
        """Start; `first=True` creates the cluster, the role and the database before."""
        await asyncio.to_thread(_raising_readably, lambda: self._start_blocking(first=first))

    async def stop(self, mode: str = "immediate") -> None:
        """`pg_ctl stop -m immediate` by default: every backend dies at once, as in a crash.
        A server that is not running is left as it is."""
        if not (self.data / "postmaster.pid").exists():
            return
        result = await asyncio.to_thread(infra.pg_stop, self._bindir(), self.data, mode)
        if result.returncode != 0:
            raise AssertionError(f"pg_ctl stop failed: {result.stdout}{result.stderr}")

    def log_tail(self) -> str:
        return str(infra.tail(self.log))


def _raising_readably(action: object) -> None:
    """infra.py's errors carry the server's log tail in `detail`: put it in the assertion."""
    assert callable(action)
    try:
        action()
    except infra.InfraError as error:
        raise AssertionError(f"{error}\n{error.detail}") from error


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
