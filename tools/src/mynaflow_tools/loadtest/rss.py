"""Memory of the service processes on this machine, read from /proc (Linux).

A service process is one whose program (argv[0]), or the script a Python interpreter runs
(argv[1], as `python .../bin/notice-intake`), is named after a service. Processes that end
while they are read, or that this user may not read, are left out; without /proc, nothing is.
Every service process of the machine is listed, whichever deployment it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mynaflow.contracts.topics import SERVICES

PROC = Path("/proc")


def service_of(argv: list[str]) -> str | None:
    """The service a command line runs, or None."""
    names = [Path(arg).name for arg in argv[:2]]
    if names and names[0].startswith("python") and len(names) > 1:
        names = names[1:]  # the interpreter running the console script
    return names[0] if names and names[0] in SERVICES else None


def read_argv(pid_dir: Path) -> list[str]:
    """A process's command line from /proc/<pid>/cmdline (OSError when it is gone)."""
    return (pid_dir / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")


def rss_kib(status_text: str) -> int | None:
    """VmRSS from /proc/<pid>/status, in KiB; None for a process without one (a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def service_rss_mb(proc: Path = PROC) -> dict[str, dict[str, float]]:
    """service → {pid: resident set size in MiB}, for every service process found."""
    found: dict[str, dict[str, float]] = {}
    for pid_dir in process_dirs(proc):
        try:
            argv = read_argv(pid_dir)
            service = service_of(argv)
            kib = rss_kib((pid_dir / "status").read_text()) if service else None
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
        if service is not None and kib is not None:
            found.setdefault(service, {})[pid_dir.name] = round(kib / 1024, 1)
    return found


def process_dirs(proc: Path) -> Iterable[Path]:
    try:
        return [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
