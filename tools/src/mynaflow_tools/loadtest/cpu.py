"""CPU time spent on this machine during a load-test phase, by whom, read from /proc (Linux).

A burst's throughput is bounded by the CPU the whole flow needs per notice, and on a machine
shared with the broker and the database that is more than the services' own share. So each
Kafka phase is sampled at its start and its end, and the report says how many microseconds of
CPU each of these spent per message in between:
- each mynaflow service, by program name (`rss.service_of`: workers included, since they are
  started under their parent's name); every such process of the machine counts, whichever
  deployment it belongs to, as for the memory report;
- `kafka`: JVMs running the broker (`kafka.Kafka`);
- `postgres`: PostgreSQL's processes (the server and its backends, whatever database they serve);
- `loadtest`: this process, the load generator itself;
- `machine`: every CPU's busy time (`/proc/stat`), and `other`, what the machine spent beyond
  the groups above. The kernel samples the machine's time at each clock tick but keeps each
  process's exactly, so the two disagree by a few per cent: `other` is rough, and 0 when the
  groups add up to more than the machine.

A process's figure is its user plus system time and that of its children it reaped (so a
PostgreSQL backend that exits during the phase still counts: the server reaps it). Without
/proc (not Linux) there are no figures, and the report says `null`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mynaflow_tools.loadtest.rss import PROC, process_dirs, read_argv, service_of

KAFKA, POSTGRES, LOADTEST, MACHINE, OTHER = "kafka", "postgres", "loadtest", "machine", "other"
_KAFKA_MAIN_CLASS = "kafka.Kafka"
# /proc/stat's user, nice, system, irq and softirq columns.
_BUSY_FIELDS = (0, 1, 2, 5, 6)
# /proc/stat and /proc/<pid>/stat count in clock ticks of this many a second.
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far, per group, at one monotonic instant."""

    at: float
    seconds: Mapping[str, float]


@dataclass(frozen=True)
class PhaseCpu:
    """What each group spent during a phase: µs of CPU per message, and cores kept busy."""

    wall_seconds: float
    messages: int
    us_per_message: dict[str, float] = field(default_factory=dict)
    cores: dict[str, float] = field(default_factory=dict)


def group_of(argv: list[str], comm: str) -> str | None:
    """The group a process counts in, from its command line and its `comm` name; None if none."""
    service = service_of(argv)
    if service is not None:
        return service
    if comm == "postgres":  # its backends rename their command line, not their `comm`
        return POSTGRES
    if comm == "java" and _KAFKA_MAIN_CLASS in argv:
        return KAFKA
    return None


def process_cpu_s(stat_text: str) -> float:
    """utime + stime + cutime + cstime of /proc/<pid>/stat, in seconds."""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return sum(int(fields[index]) for index in (11, 12, 13, 14)) / _TICKS_PER_S


def machine_busy_s(proc_stat_text: str) -> float:
    """Every CPU's time running something, from /proc/stat's first line, in seconds: user,
    nice, system, irq and softirq. Not idle or iowait; not steal (the hypervisor ran another
    guest); not guest time, which user and nice already hold."""
    ticks = [int(value) for value in proc_stat_text.splitlines()[0].split()[1:]]
    return sum(ticks[index] for index in _BUSY_FIELDS if index < len(ticks)) / _TICKS_PER_S


def take_sample(proc: Path = PROC, own_pid: int | None = None) -> CpuSample | None:
    """CPU seconds per group now; None when /proc cannot be read."""
    at = time.monotonic()
    try:
        machine = machine_busy_s((proc / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None
    seconds: dict[str, float] = {MACHINE: machine}
    own = str(os.getpid() if own_pid is None else own_pid)
    for pid_dir in process_dirs(proc):
        found = _read_process(pid_dir, own)
        if found is not None:
            group, used = found
            seconds[group] = seconds.get(group, 0.0) + used
    return CpuSample(at=at, seconds=seconds)


def phase_cpu(before: CpuSample | None, after: CpuSample | None, messages: int) -> PhaseCpu | None:
    """Per message and per second of the phase, what each group spent between the samples."""
    if before is None or after is None or messages <= 0 or after.at <= before.at:
        return None
    wall = after.at - before.at
    spent = {
        group: max(after.seconds.get(group, 0.0) - before.seconds.get(group, 0.0), 0.0)
        for group in after.seconds.keys() | before.seconds.keys()
    }
    counted = sum(used for group, used in spent.items() if group != MACHINE)
    spent[OTHER] = max(spent.get(MACHINE, 0.0) - counted, 0.0)
    ordered = sorted(spent, key=lambda group: (group in (MACHINE, OTHER), group))
    return PhaseCpu(
        wall_seconds=round(wall, 3),
        messages=messages,
        us_per_message={group: round(spent[group] / messages * 1e6, 1) for group in ordered},
        cores={group: round(spent[group] / wall, 3) for group in ordered},
    )


def _read_process(pid_dir: Path, own_pid: str) -> tuple[str, float] | None:
    try:
        if pid_dir.name == own_pid:
            group: str | None = LOADTEST
        else:
            group = group_of(read_argv(pid_dir), (pid_dir / "comm").read_text().strip())
        if group is None:
            return None
        return group, process_cpu_s((pid_dir / "stat").read_text())
    except (OSError, ValueError, IndexError):  # it ended meanwhile, or is not ours to read
        return None
