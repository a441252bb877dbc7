#!/usr/bin/env python3
"""Local Kafka + PostgreSQL for development and tests, without Docker.

Usage: python3 scripts/infra.py {up,down,status,clean}

Standard library only: this runs before uv or any virtualenv exists.

* Kafka 4.0.x is assembled from Maven Central (jars cached in
  ~/.cache/mynaflow/kafka-<version>/libs) and run as one KRaft node that is both
  broker and controller, on 127.0.0.1.
* PostgreSQL comes from Debian's packages and gets its own cluster under
  .mynaflow/postgres, run as a non-root user, on 127.0.0.1.
* Connection settings are written to .mynaflow/env as shell `export` lines,
  atomically, once both servers answer. Other processes poll for that file.

Ports are chosen free at the first start and then reused, so the env file stays
valid across restarts. `up` is idempotent: servers that answer are left alone,
servers that died are restarted on the same port and data.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import pwd
import resource
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

KAFKA_VERSION = "4.0.2"
KAFKA_HEAP = "-Xmx768m"
KAFKA_START_TIMEOUT = 120.0
PG_START_TIMEOUT = 60
PG_USER = "mynaflow"
PG_DB = "mynaflow"

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".mynaflow"
LOGS = STATE / "logs"
STATE_FILE = STATE / "state.json"
ENV_FILE = STATE / "env"
LOCK_FILE = STATE / "infra.lock"
KAFKA_DIR = STATE / "kafka"
KAFKA_PID = KAFKA_DIR / "kafka.pid"
KAFKA_POM = REPO / "infra" / "kafka" / "pom.xml"
KAFKA_LOG4J = REPO / "infra" / "kafka" / "log4j2.properties"


class InfraError(Exception):
    """A failure with a message meant for the user (no traceback).

    `detail` (e.g. log tails) is printed before the message.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


# --------------------------------------------------------------------------- helpers


def say(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Print how long a step took, so slow CI stages are easy to spot."""
    start = time.monotonic()
    say(f"{name} ...")
    try:
        yield
    finally:
        say(f"{name}: {time.monotonic() - start:.1f}s")


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """Serialise concurrent `make infra-up` runs (several test runs may start at once)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_state() -> dict:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {}


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write via a temp file + rename so pollers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_state(state: dict) -> None:
    # 0600: it holds the local database password.
    write_atomic(STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int, needle: str) -> bool:
    """True if `pid` runs and its command line contains `needle` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie is dead for our purposes
        return False
    return needle.encode() in cmdline


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log at {path}: {exc})"


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def check(cmd: list[str], what: str, **kw: object) -> str:
    res = run(cmd, **kw)
    if res.returncode != 0:
        raise InfraError(
            f"{what} failed (exit {res.returncode}): {' '.join(cmd)}\n{res.stdout}{res.stderr}"
        )
    return res.stdout


def is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------- Kafka


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mynaflow"


def kafka_libs() -> Path:
    """Assemble Kafka's jars from Maven Central once; reuse them while complete."""
    libs = cache_root() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists() and all((libs / j).exists() for j in marker.read_text().split()):
        say(f"kafka {KAFKA_VERSION} jars cached in {libs}")
        return libs
    if not shutil.which("mvn"):
        raise InfraError("Maven (`mvn`) is needed to fetch Kafka: apt-get install -y maven")
    with step(f"fetching kafka {KAFKA_VERSION} jars from Maven Central"):
        libs.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=libs.parent, prefix="libs."))
        check(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(KAFKA_POM),
                f"-Dkafka.version={KAFKA_VERSION}",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            ],
            "mvn dependency:copy-dependencies",
        )
        jars = sorted(p.name for p in tmp.glob("*.jar"))
        if f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
            raise InfraError(f"Maven did not produce kafka_2.13-{KAFKA_VERSION}.jar in {tmp}")
        # The marker lists the jars so a half-deleted cache is noticed and refetched.
        (tmp / ".complete").write_text("\n".join(jars) + "\n")
        if libs.exists():
            shutil.rmtree(libs)
        tmp.rename(libs)
    return libs


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise InfraError("Java 17+ is needed for Kafka: apt-get install -y openjdk-17-jre-headless")
    out = run([java, "-version"]).stderr
    # e.g. 'openjdk version "17.0.15" 2025-04-15'
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major < 17:
        raise InfraError(f"Java 17+ is needed for Kafka 4, found: {out.splitlines()[:1]}")
    return java


def kafka_cluster_id() -> str:
    """Kafka's Uuid.toString(): 16 random bytes, URL-safe base64 without padding.

    Drawn again when it starts with "-", as Kafka's own Uuid.randomUuid() does: the storage
    tool reads `-t -Mw6...` as an unknown option and refuses to format (1 start in 64 failed
    so, CI included).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_properties(k: dict, data: Path | None = None) -> str:
    """`data`: the log dirs; the checkout's own unless a caller (the fault tests) runs its own."""
    port, cport = k["port"], k["controller_port"]
    data = data or KAFKA_DIR / "data"
    return f"""# Generated by scripts/infra.py; edits are overwritten on the next start.
# One KRaft node that is both broker and controller, on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}

# The project creates its topics explicitly (shared topic catalogue).
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Single node: every internal topic has replication factor 1; few partitions so
# the first consumer group and the first transaction start fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests join groups constantly; do not wait 3 s for more members.
group.initial.rebalance.delay.ms=0

# After a restart the controller rejects the broker's new registration
# (DUPLICATE_BROKER_REGISTRATION) until the old session expires; the default 9 s
# session made every restart ~13 s. Heartbeats every second keep a 5 s session safe.
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=1000

num.network.threads=3
num.io.threads=4
log.retention.hours=168
"""


def kafka_pid() -> int | None:
    """The recorded broker pid, if that process is still our Kafka."""
    if not KAFKA_PID.exists():
        return None
    pid = int(KAFKA_PID.read_text().strip() or 0)
    return pid if pid_alive(pid, "kafka.Kafka") else None


def kafka_running(state: dict) -> bool:
    k = state.get("kafka")
    return bool(k) and kafka_pid() is not None and kafka_probe(k["port"])


def kafka_probe(port: int, timeout: float = 2.0) -> bool:
    """True once the broker serves Metadata and lists itself (i.e. it is registered).

    Kafka 4 dropped Metadata v0-v3, so this sends v4 (header v1, not flexible).
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            client_id = b"mynaflow-infra"
            body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
            body += struct.pack(">ib", -1, 0)  # topics=null (all), allow_auto_create=false
            s.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", _recv_exact(s, 4))[0]
            resp = _recv_exact(s, size)
            correlation, _throttle, n_brokers = struct.unpack(">iii", resp[:12])
            return correlation == 1 and n_brokers >= 1
    except (OSError, struct.error, ConnectionError):
        return False


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def kafka_up(state: dict) -> None:
    if kafka_running(state):
        say(f"kafka already up on 127.0.0.1:{state['kafka']['port']}")
        return
    pid = kafka_pid()
    if pid is not None and "kafka" in state:
        # Alive but not answering yet: busy (a loaded test run) or still starting.
        # Starting a second broker would only collide on the port, so wait for this one.
        with step(f"waiting for running kafka (pid {pid}) to answer"):
            wait_for_kafka(state["kafka"]["port"], lambda: kafka_pid() is None)
        return
    libs = kafka_libs()
    java = java_bin()
    k = state.setdefault("kafka", {})
    if "port" not in k:
        k["port"], k["controller_port"] = free_port(), free_port()
        while k["controller_port"] == k["port"]:
            k["controller_port"] = free_port()
        k["cluster_id"] = kafka_cluster_id()
        save_state(state)
    for p in (k["port"], k["controller_port"]):
        if port_answers(p):
            raise InfraError(
                f"port {p} recorded for kafka in {STATE_FILE} is taken by another process; "
                "stop it, or run `make infra-clean` to pick new ports"
            )
    KAFKA_DIR.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    props = KAFKA_DIR / "server.properties"
    props.write_text(kafka_properties(k))
    classpath = f"{libs}/*"
    base = [java, KAFKA_HEAP, "-cp", classpath]

    if not (KAFKA_DIR / "data" / "meta.properties").exists():
        with step("formatting kafka storage (KRaft)"):
            format_kafka_storage(base, k["cluster_id"], props)

    with step(f"starting kafka on 127.0.0.1:{k['port']}"):
        proc = spawn_kafka(java, classpath, props, LOGS, KAFKA_DIR)
        KAFKA_PID.write_text(f"{proc.pid}\n")
        wait_for_kafka(k["port"], lambda: proc.poll() is not None)


def format_kafka_storage(base: list[str], cluster_id: str, props: Path) -> None:
    """KRaft storage format (once per data folder). `base`: java, heap and classpath."""
    check(
        [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(props),
        ],
        "kafka storage format",
    )


def spawn_kafka(
    java: str, classpath: str, props: Path, logs: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start the broker in its own session; it logs under `logs` (kafka.log, kafka.out)."""
    # stdout/stderr go to kafka.out: JVM crashes land there, not in kafka.log.
    with open(logs / "kafka.out", "ab") as out:
        return subprocess.Popen(
            [
                java,
                KAFKA_HEAP,
                "-Xms256m",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={logs}",
                f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,  # survives `make` and Ctrl-C
            preexec_fn=raise_open_file_limit,
        )


# Kafka keeps several open files per partition segment, and a test suite creates thousands of
# partitions: give the broker the whole hard limit (many systems set a soft limit of 1,024).
# Where the hard limit itself is low (20,000 here), tests must delete their topics, and do.
def raise_open_file_limit() -> None:
    """Runs in the broker's child process before exec: never in this script's own process."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_kafka(port: int, died: Callable[[], bool], logs: Path = LOGS) -> None:
    deadline = time.monotonic() + KAFKA_START_TIMEOUT
    while not kafka_probe(port):
        if died():
            fail_with_log("kafka exited during start-up", logs / "kafka.log", logs / "kafka.out")
        if time.monotonic() > deadline:
            fail_with_log(
                f"kafka did not answer within {KAFKA_START_TIMEOUT:.0f}s",
                logs / "kafka.log",
                logs / "kafka.out",
            )
        time.sleep(0.3)


def kafka_down() -> None:
    if not KAFKA_PID.exists():
        say("kafka not running")
        return
    pid = int(KAFKA_PID.read_text().strip() or 0)
    if pid_alive(pid, "kafka.Kafka"):
        with step(f"stopping kafka (pid {pid})"):
            stop_kafka_process(pid)
    else:
        say("kafka not running")
    KAFKA_PID.unlink(missing_ok=True)


def stop_kafka_process(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM (controlled shutdown, flushes logs), then SIGKILL after `timeout_s`."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid, "kafka.Kafka") and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid, "kafka.Kafka"):
        say(f"kafka did not stop in {timeout_s:.0f}s; killing it")
        os.kill(pid, signal.SIGKILL)


def fail_with_log(reason: str, *logs: Path) -> None:
    """Raise with the logs' last lines first and the reason last, where the eye lands."""
    parts, cause = [], ""
    for log in logs:
        text = tail(log)
        parts.append(f"--- last lines of {log} ---\n{text}")
        for line in text.splitlines():  # the last exception message is usually the cause
            if ("Exception: " in line or "FATAL:" in line) and not line.startswith("\t"):
                cause = line.strip()
    detail = "\n".join(parts)
    raise InfraError(f"{reason}" + (f"\n  likely cause: {cause}" if cause else ""), detail)


# --------------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def pg_install() -> Path:
    bindir = pg_bindir()
    if bindir:
        return bindir
    if is_root():
        prefix: list[str] = []
    elif shutil.which("sudo") and run(["sudo", "-n", "true"]).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        raise InfraError(
            "PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb).\n"
            "Install them: sudo apt-get install -y postgresql  (or set DATABASE_URL and "
            "KAFKA_BOOTSTRAP_SERVERS to use servers of your own)"
        )
    with step("installing PostgreSQL from Debian packages"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        check([*prefix, "apt-get", "update", "-q"], "apt-get update", env=env)
        check([*prefix, "apt-get", "install", "-y", "-q", "postgresql"], "apt-get install", env=env)
    bindir = pg_bindir()
    if not bindir:
        raise InfraError("apt-get installed postgresql but no initdb was found")
    return bindir


def pg_os_user() -> str:
    """PostgreSQL refuses to run as root; as root we use Debian's `postgres` account."""
    if not is_root():
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise InfraError("running as root but there is no `postgres` system user") from exc
    return "postgres"


def as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd


def pg_root_for(state: dict) -> Path:
    """Where the cluster lives: .mynaflow/postgres, unless the postgres user cannot reach it.

    CI may clone into a 0700 directory (mktemp -d); then the cluster goes to a
    world-traversable /var/tmp/mynaflow-<hash>/postgres and .mynaflow/postgres is a symlink.
    """
    pg = state.setdefault("postgres", {})
    if "root" in pg:
        return Path(pg["root"])
    local = STATE / "postgres"
    if not is_root() or run(as_pg(["test", "-x", str(STATE)]), cwd="/").returncode == 0:
        root = local
    else:
        digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
        root = Path(f"/var/tmp/mynaflow-{digest}/postgres")
        root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        say(f"user postgres cannot reach {STATE}; cluster goes to {root}")
    pg["root"] = str(root)
    save_state(state)
    return root


def pg_conf(pg: dict, root: Path) -> str:
    return f"""# Generated by scripts/infra.py (local development/test cluster only).
listen_addresses = '127.0.0.1'
port = {pg["port"]}
unix_socket_directories = '{root / "run"}'
max_connections = 200
shared_buffers = 128MB
# Durability is traded for speed on purpose: this cluster holds only local/test
# data that is recreated at will. Never copy these three lines to a real server.
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def pg_paths(root: Path) -> tuple[Path, Path, Path]:
    return root / "data", root / "run", root / "postgres.log"


def pg_running(state: dict) -> bool:
    pg = state.get("postgres")
    if not pg or "root" not in pg or "port" not in pg:
        return False
    data, _, _ = pg_paths(Path(pg["root"]))
    pidfile = data / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return pid_alive(pid, "postgres") and port_answers(pg["port"])


def pg_prepare_dirs(root: Path) -> None:
    _, sock, _ = pg_paths(root)
    user = pg_os_user()
    for d in (root, sock):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    if is_root():
        ent = pwd.getpwnam(user)
        for d in (root, sock):
            os.chown(d, ent.pw_uid, ent.pw_gid)
    local = STATE / "postgres"
    if root != local and not local.is_symlink():
        local.symlink_to(root)
    link = LOGS / "postgres.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to(root / "postgres.log")


def pg_up(state: dict) -> None:
    if pg_running(state):
        say(f"postgres already up on 127.0.0.1:{state['postgres']['port']}")
        return
    bindir = pg_install()
    root = pg_root_for(state)
    pg = state["postgres"]
    if "port" not in pg:
        pg["port"] = free_port()
        pg["password"] = secrets.token_hex(16)
        save_state(state)
    if port_answers(pg["port"]):
        raise InfraError(
            f"port {pg['port']} recorded for postgres in {STATE_FILE} is taken by another "
            "process; stop it, or run `make infra-clean` to pick new ports"
        )
    data, sock, log = pg_paths(root)
    pg_prepare_dirs(root)

    if not (data / "PG_VERSION").exists():
        with step("initdb"):
            pg_initdb(bindir, data)
    pg_write_conf(data, pg_conf(pg, root))
    with step(f"starting postgres on 127.0.0.1:{pg['port']}"):
        pg_start(bindir, data, log)
    with step("ensuring role and database"):
        pg_bootstrap(bindir, pg, sock)


def pg_initdb(bindir: Path, data: Path) -> None:
    check(
        as_pg(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                # local socket lives in a private 0700 dir, so trust is fine there;
                # TCP always needs the password.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        ),
        "initdb",
        cwd="/",
    )


def pg_write_conf(data: Path, conf: str) -> None:
    # Written as the cluster owner (tee), so the files keep the owner postgres expects.
    check(as_pg(["tee", str(data / "mynaflow.conf")]), "write mynaflow.conf", input=conf, cwd="/")
    main_conf = data / "postgresql.conf"
    include = "include_if_exists = 'mynaflow.conf'\n"
    if include not in main_conf.read_text():
        check(as_pg(["tee", "-a", str(main_conf)]), "edit postgresql.conf", input=include, cwd="/")


def pg_start(bindir: Path, data: Path, log: Path) -> None:
    # A stale pid file after a crash makes pg_ctl refuse; postgres itself checks it safely.
    res = run(
        as_pg(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                str(PG_START_TIMEOUT),
                "start",
            ]
        ),
        cwd="/",
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    if res.returncode != 0:
        fail_with_log(
            f"postgres did not start (pg_ctl exit {res.returncode}):\n{res.stdout}{res.stderr}",
            log,
        )


def pg_stop(bindir: Path, data: Path, mode: str = "fast") -> subprocess.CompletedProcess[str]:
    """`pg_ctl stop -m <mode>` (fast: roll back and disconnect; immediate: as a crash)."""
    return run(
        as_pg([str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "60", "stop"]),
        cwd="/",
    )


def pg_bootstrap(bindir: Path, pg: dict, sock: Path) -> None:
    """Create (or re-password) the app role and its database; idempotent."""
    pw = pg["password"]
    psql = [
        str(bindir / "psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(sock),
        "-p",
        str(pg["port"]),
        "-U",
        "postgres",
        "-d",
        "postgres",
    ]
    # CREATEDB: test fixtures create a fresh database per test session.
    sql = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{PG_USER}') THEN
    CREATE ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{pw}';
  ELSE
    ALTER ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{pw}';
  END IF;
END $$;
"""
    check(as_pg(psql), "create role", input=sql, cwd="/")
    exists = check(
        as_pg([*psql, "-tA", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'"]),
        "look up database",
        cwd="/",
    )
    if exists.strip() != "1":
        check(
            as_pg([*psql, "-c", f"CREATE DATABASE {PG_DB} OWNER {PG_USER}"]),
            "create database",
            cwd="/",
        )


def pg_down(state: dict) -> None:
    pg = state.get("postgres", {})
    bindir = pg_bindir()
    if "root" not in pg or not bindir:
        say("postgres not running")
        return
    data, _, _ = pg_paths(Path(pg["root"]))
    if not (data / "postmaster.pid").exists():
        say("postgres not running")
        return
    with step("stopping postgres"):
        res = pg_stop(bindir, data)
        if res.returncode != 0 and pg_running(state):
            raise InfraError(f"pg_ctl stop failed:\n{res.stdout}{res.stderr}")


# --------------------------------------------------------------------------- env file


def env_text(state: dict) -> str:
    k, pg = state["kafka"], state["postgres"]
    return (
        "# Written by scripts/infra.py once both servers answered. Source it:\n"
        "#   . .mynaflow/env\n"
        f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{k['port']}\n"
        f"export DATABASE_URL=postgresql://{PG_USER}:{pg['password']}"
        f"@127.0.0.1:{pg['port']}/{PG_DB}\n"
        "# One local broker; the settings' defaults (3 replicas, 2 in sync) suit a real cluster.\n"
        "export TOPIC_REPLICATION_FACTOR=1\n"
        "export TOPIC_MIN_INSYNC_REPLICAS=1\n"
    )


def write_env(state: dict) -> None:
    text = env_text(state)
    if ENV_FILE.exists() and ENV_FILE.read_text() == text:
        return  # unchanged: leave mtime alone so a second `up` really changes nothing
    write_atomic(ENV_FILE, text)
    say(f"wrote {ENV_FILE}")


# --------------------------------------------------------------------------- commands


def cmd_up() -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        say(
            "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL are set; using them as they are, "
            "starting nothing"
        )
        return
    start = time.monotonic()
    with state_lock():
        state = load_state()
        pg_up(state)  # first: its apt-get install (if any) is the slowest possible step
        kafka_up(state)
        write_env(state)
    say(f"infra up in {time.monotonic() - start:.1f}s; settings in {ENV_FILE}:")
    for line in env_text(state).splitlines():
        if line.startswith("export"):
            print(f"  {line}", flush=True)


def cmd_down() -> None:
    with state_lock():
        state = load_state()
        kafka_down()
        pg_down(state)
        # Pollers treat the env file as "servers are up"; it is rewritten by the next `up`.
        ENV_FILE.unlink(missing_ok=True)
    say("infra down (data kept; `make infra-clean` removes it)")


def cmd_status() -> int:
    state = load_state()
    k, pg = state.get("kafka", {}), state.get("postgres", {})
    kup, pup = kafka_running(state), pg_running(state)
    say(
        f"kafka     {'UP  ' if kup else 'DOWN'} 127.0.0.1:{k.get('port', '-')}"
        f"  (log {LOGS / 'kafka.log'})"
    )
    say(
        f"postgres  {'UP  ' if pup else 'DOWN'} 127.0.0.1:{pg.get('port', '-')}"
        f"  (data {pg.get('root', '-')}, log {LOGS / 'postgres.log'})"
    )
    say(f"env file  {ENV_FILE if ENV_FILE.exists() else '(none)'}")
    return 0 if kup and pup else 1


def cmd_clean() -> None:
    cmd_down()
    state = load_state()
    root = state.get("postgres", {}).get("root")
    with state_lock():
        if root and Path(root) != STATE / "postgres":
            shutil.rmtree(Path(root).parent, ignore_errors=True)
        for p in STATE.iterdir():
            if p.name == LOCK_FILE.name:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    say(f"removed local state in {STATE} (the Kafka jar cache in {cache_root()} is kept)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "clean"])
    args = parser.parse_args()
    try:
        if args.command == "up":
            cmd_up()
        elif args.command == "down":
            cmd_down()
        elif args.command == "status":
            return cmd_status()
        else:
            cmd_clean()
    except InfraError as exc:
        if exc.detail:
            print(exc.detail, file=sys.stderr, flush=True)
        print(f"[infra] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
