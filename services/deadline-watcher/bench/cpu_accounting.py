"""CPU used per process over a phase of the benchmark, read from /proc (Linux only).

Shows whether the machine was saturated: the watchers, the benchmark's own process, the Kafka
broker (java), every PostgreSQL process, and the machine as a whole (`/proc/stat`), each in
CPU seconds and in cores (CPU seconds per wall second) over the phase.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def process_cpu_s(pid: int) -> float:
    """utime + stime of `pid` in seconds; 0 when it is gone (or /proc is unreadable)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: the fields after it follow the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def pids_named(command: str) -> list[int]:
    """Pids whose command name (/proc/<pid>/comm) is `command`."""
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def backends_of(database: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to `database` (their title names it:
    `postgres: <user> <database> <host> <state>`)."""
    found = []
    for pid in pids_named("postgres"):
        try:
            title = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        if len(title) > 2 and title[0] == b"postgres:" and title[2] == database.encode():
            found.append(pid)
    return found


def machine_busy_s() -> float:
    """CPU seconds the machine spent not idle (all cores), from the first line of /proc/stat."""
    try:
        values = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS_PER_S


def _sample(groups: Mapping[str, list[int]]) -> dict[int, float]:
    """CPU seconds per pid of every group, and the machine's busy seconds under pid 0."""
    sample = {pid: process_cpu_s(pid) for pids in groups.values() for pid in pids}
    sample[0] = machine_busy_s()
    return sample


@dataclass
class CpuAccount:
    """CPU seconds per group of processes over one or more windows of a phase.

    The groups are fixed processes (`fixed`: watchers, the bench) plus, looked up afresh at each
    window's start, every `java` (the broker) and `postgres` process, and among the latter
    (`postgres_this_db`, counted in `postgres` too) the backends connected to `database`: other
    databases' backends are other people's work on the machine. A PostgreSQL process that
    ends inside a window loses that window's CPU (its /proc entry is gone): a low estimate.
    """

    fixed: Mapping[str, list[int]]
    database: str = ""
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    _groups: dict[str, list[int]] = field(default_factory=dict)
    _start: dict[int, float] | None = None
    _started_at: float = 0.0

    def start(self) -> None:
        self._groups = dict(self.fixed) | {
            "kafka": pids_named("java"),
            "postgres": pids_named("postgres"),
            "postgres_this_db": backends_of(self.database),
        }
        self._start = _sample(self._groups)
        self._started_at = time.perf_counter()

    def stop(self) -> None:
        if self._start is None:
            return
        start, end = self._start, _sample(self._groups)
        self.wall_s += time.perf_counter() - self._started_at

        def used(pid: int) -> float:  # a process gone by the end counts nothing, not -total
            return max(end[pid] - start[pid], 0.0) if end[pid] else 0.0

        for name, pids in (self._groups | {"machine": [0]}).items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + sum(used(pid) for pid in pids)
        self._start = None

    def summary(self) -> dict[str, object]:
        """Wall seconds, and per group CPU seconds and cores; `other` is the machine's CPU that
        none of the groups used (other work on the machine, kernel threads)."""
        named = sum(v for k, v in self.cpu_s.items() if k not in ("machine", "postgres_this_db"))
        cpu = dict(self.cpu_s) | {"other": max(self.cpu_s.get("machine", 0.0) - named, 0.0)}
        wall = self.wall_s or 1e-9
        return {
            "wall_s": self.wall_s,
            "cpu_s": cpu,
            "cores": {name: value / wall for name, value in cpu.items()},
            "cores_available": os.cpu_count(),
        }
