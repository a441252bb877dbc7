"""Unit tests of reading the services' memory from a /proc-shaped folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from mynaflow_tools.loadtest.rss import rss_kib, service_of, service_rss_mb

pytestmark = pytest.mark.unit


def process(proc: Path, pid: int, argv: list[str], rss_kib: int | None) -> None:
    folder = proc / str(pid)
    folder.mkdir()
    (folder / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    status = "Name:\tpython\n" + (f"VmRSS:\t  {rss_kib} kB\n" if rss_kib is not None else "")
    (folder / "status").write_text(status)


def test_a_service_is_named_by_its_program_or_script_not_by_a_later_argument() -> None:
    assert service_of(["/venv/bin/python", "/venv/bin/notice-intake"]) == "notice-intake"
    assert service_of(["/usr/bin/card-registry"]) == "card-registry"
    assert service_of(["uv", "run", "notice-intake"]) is None
    assert service_of(["less", "notice-intake"]) is None  # argv[1] of something else
    assert service_of([]) is None


def test_service_processes_are_reported_in_mib_by_pid(tmp_path: Path) -> None:
    process(tmp_path, 10, ["/v/bin/python", "/v/bin/notice-intake"], 81920)
    process(tmp_path, 11, ["/v/bin/python", "/v/bin/deadline-watcher"], 51200)
    process(tmp_path, 12, ["/usr/bin/bash"], 4096)
    process(tmp_path, 13, ["/v/bin/python", "/v/bin/notifier"], None)  # a zombie
    (tmp_path / "self").mkdir()
    assert service_rss_mb(tmp_path) == {
        "notice-intake": {"10": 80.0},
        "deadline-watcher": {"11": 50.0},
    }


def test_no_proc_means_no_figures(tmp_path: Path) -> None:
    assert service_rss_mb(tmp_path / "absent") == {}


def test_rss_is_read_from_the_status_text() -> None:
    assert rss_kib("Name:\tx\nVmRSS:\t   1234 kB\nVmSwap:\t0 kB\n") == 1234
    assert rss_kib("Name:\tx\n") is None
