#!/usr/bin/env python3
"""Run all four services in the foreground, logs interleaved and prefixed.

Usage: python3 scripts/run_all.py [service ...]   (default: all four)

Each service is started as `uv run <service>` in a process group of its own, so a
Ctrl-C in the terminal reaches only this script; it then forwards that one signal
(SIGINT or SIGTERM) to every `uv` process, which passes it on to the service.
A second Ctrl-C, or services still running after STOP_TIMEOUT seconds, ends
them with SIGKILL. If one service exits on its own, the others are stopped too,
so a crash is never hidden behind the still-scrolling logs of the rest.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

SERVICES = ["notice-intake", "card-registry", "deadline-watcher", "notifier"]
# With the notifier and no SMTP_URL of its own, a local catcher stores every email it sends.
MAIL_CATCHER = "mail-catcher"
MAIL_CATCHER_URL = "smtp://127.0.0.1:1025"
COMMANDS = {MAIL_CATCHER: ["python", "scripts/mail_catcher.py", "--dir", ".mynaflow/mail"]}
STOP_TIMEOUT = 15.0
COLOURS = ["36", "33", "35", "32", "34", "31"]

REPO = Path(__file__).resolve().parent.parent
_print_lock = threading.Lock()


def emit(prefix: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{prefix}{line}")
        if not line.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()


def make_prefix(name: str, width: int, colour: str) -> str:
    label = f"{name:<{width}} | "
    return f"\x1b[{colour}m{label}\x1b[0m" if sys.stdout.isatty() else label


def uv_command() -> list[str]:
    # `python3 -m uv` works where pip installed uv but did not put it on PATH.
    override = os.environ.get("UV")
    if override:
        return shlex.split(override)
    from shutil import which

    return ["uv"] if which("uv") else [sys.executable, "-m", "uv"]


def pump(proc: subprocess.Popen[bytes], prefix: str) -> None:
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        emit(prefix, raw.decode("utf-8", errors="replace"))


class Runner:
    def __init__(self, services: list[str]) -> None:
        self.services = services
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.stop_signal = signal.SIGTERM
        self.signals_seen = 0
        self.first_exit: tuple[str, int] | None = None
        self.pumps: list[threading.Thread] = []
        self.stop_deadline = float("inf")

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        width = max(len(s) for s in self.services)
        for i, name in enumerate(self.services):
            proc = subprocess.Popen(
                [*uv_command(), "run", "--frozen", *COMMANDS.get(name, [name])],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our Ctrl-C is forwarded once, not delivered twice
            )
            self.procs[name] = proc
            prefix = make_prefix(name, width, COLOURS[i % len(COLOURS)])
            thread = threading.Thread(target=pump, args=(proc, prefix), daemon=True)
            thread.start()
            self.pumps.append(thread)
            emit(make_prefix("run_all", width, "1"), f"started {name} (pid {proc.pid})")

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals_seen += 1
        if self.signals_seen > 1:
            self.kill_all("second signal")
            return
        self.stop_signal = signal.Signals(signum)
        self.request_stop()

    def request_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(self.stop_signal)  # uv forwards it to the service

    def kill_all(self, why: str) -> None:
        print(f"run_all: {why}: killing remaining services", file=sys.stderr, flush=True)
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

    def wait(self) -> int:
        while any(p.poll() is None for p in self.procs.values()):
            for name, proc in self.procs.items():
                rc = proc.poll()
                if rc is not None and self.first_exit is None and not self.stopping:
                    self.first_exit = (name, rc)
                    print(
                        f"run_all: {name} exited with {rc}; stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    self.request_stop()
            if self.stopping and time.monotonic() > self.stop_deadline:
                self.kill_all(f"still running after {STOP_TIMEOUT:.0f}s")
                self.stop_deadline = float("inf")
            time.sleep(0.1)
        for thread in self.pumps:  # print the services' last log lines before we exit
            thread.join(timeout=2)
        return self.exit_code()

    def exit_code(self) -> int:
        if self.first_exit is not None:
            return self.first_exit[1] or 1  # a service stopping by itself is a failure
        bad = {n: p.returncode for n, p in self.procs.items() if p.returncode not in (0, None)}
        for name, rc in bad.items():
            print(f"run_all: {name} exited with {rc}", file=sys.stderr, flush=True)
        return 1 if bad else 0


def main() -> int:
    services = sys.argv[1:] or SERVICES
    if "notifier" in services and "SMTP_URL" not in os.environ:
        services = [MAIL_CATCHER, *services]
        os.environ["SMTP_URL"] = MAIL_CATCHER_URL
    runner = Runner(services)
    signal.signal(signal.SIGINT, runner.on_signal)
    signal.signal(signal.SIGTERM, runner.on_signal)
    runner.start()
    rc = runner.wait()
    print(f"run_all: all services stopped (exit {rc})", file=sys.stderr, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
