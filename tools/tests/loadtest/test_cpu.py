"""Unit tests of the CPU each group of processes spent in a phase, from a /proc-shaped folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from mynaflow_tools.loadtest import cpu
from mynaflow_tools.loadtest.cpu import (
    CpuSample,
    group_of,
    machine_busy_s,
    phase_cpu,
    process_cpu_s,
    take_sample,
)

pytestmark = pytest.mark.unit

TICKS = cpu._TICKS_PER_S
KAFKA_ARGV = ["java", "-Xmx768m", "-cp", "/opt/kafka/libs/*", "kafka.Kafka", "server.properties"]


def stat_line(pid: int, comm: str, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # Fields 3-13 (state … majflt) before utime; the rest after cstime does not matter.
    before = "S 1 1 1 0 -1 4194560 100 0 0 0"
    return f"{pid} ({comm}) {before} {utime} {stime} {cutime} {cstime} 20 0 1 0 100 1000 10\n"


def process(proc: Path, pid: int, argv: list[str], comm: str, ticks: tuple[int, ...]) -> None:
    folder = proc / str(pid)
    folder.mkdir()
    (folder / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (folder / "comm").write_text(comm + "\n")
    (folder / "stat").write_text(stat_line(pid, comm, *ticks))


def machine(proc: Path, user: int, system: int, idle: int, iowait: int) -> None:
    (proc / "stat").write_text(
        f"cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n"
    )


def test_processes_are_grouped_by_service_broker_and_database() -> None:
    assert group_of(["/v/bin/python", "/v/bin/notice-intake"], "notice-intake") == "notice-intake"
    assert group_of(["/v/bin/deadline-watcher"], "deadline-watch") == "deadline-watcher"
    assert group_of(KAFKA_ARGV, "java") == "kafka"
    assert group_of(["java", "-jar", "other.jar"], "java") is None  # another JVM
    assert group_of(["postgres: mynaflow mydb 127.0.0.1(5) idle"], "postgres") == "postgres"
    assert group_of(["/usr/bin/bash"], "bash") is None


def test_a_process_counts_its_own_time_and_its_reaped_childrens() -> None:
    text = stat_line(7, "a (weird) name", 300, 100, 50, 50)
    assert process_cpu_s(text) == pytest.approx(500 / TICKS)


def test_the_machine_is_busy_running_user_system_and_interrupt_work() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    text = "cpu  100 20 30 1000 50 5 7 40 60 3\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert machine_busy_s(text) == pytest.approx(162 / TICKS)
    assert machine_busy_s("cpu  100 20 30 1000\n") == pytest.approx(150 / TICKS)  # old kernels


def test_a_sample_sums_each_group_and_counts_this_process_as_the_load_tester(
    tmp_path: Path,
) -> None:
    machine(tmp_path, 900, 100, 5000, 10)
    process(tmp_path, 10, ["/v/bin/python", "/v/bin/notice-intake"], "notice-intake", (100, 20))
    process(tmp_path, 11, ["/v/bin/python", "/v/bin/notice-intake"], "notice-intake", (30, 10))
    process(tmp_path, 12, KAFKA_ARGV, "java", (200, 50))
    process(tmp_path, 13, ["/usr/lib/postgresql/15/bin/postgres"], "postgres", (10, 10, 40, 0))
    process(tmp_path, 14, ["postgres: backend"], "postgres", (60, 0))
    process(tmp_path, 15, ["/usr/bin/python3", "-m", "mynaflow"], "python3", (70, 5))
    process(tmp_path, 16, ["/usr/bin/bash"], "bash", (999, 999))
    (tmp_path / "self").mkdir()

    sample = take_sample(tmp_path, own_pid=15)

    assert sample is not None
    assert sample.seconds == pytest.approx(
        {
            "machine": 1000 / TICKS,
            "notice-intake": 160 / TICKS,
            "kafka": 250 / TICKS,
            "postgres": 120 / TICKS,
            "loadtest": 75 / TICKS,
        }
    )


def test_without_proc_there_is_no_sample(tmp_path: Path) -> None:
    assert take_sample(tmp_path / "absent") is None


def test_a_phase_is_what_each_group_spent_per_message_and_per_second() -> None:
    before = CpuSample(at=10.0, seconds={"machine": 100.0, "kafka": 5.0, "notice-intake": 1.0})
    after = CpuSample(
        at=12.0,
        seconds={"machine": 103.0, "kafka": 5.5, "notice-intake": 2.5, "postgres": 0.4},
    )

    spent = phase_cpu(before, after, messages=1000)

    assert spent is not None
    assert spent.wall_seconds == 2.0
    assert spent.us_per_message == {
        "kafka": 500.0,
        "notice-intake": 1500.0,
        "postgres": 400.0,  # a group that first appeared during the phase
        "machine": 3000.0,
        "other": 600.0,  # the machine's time beyond the groups
    }
    assert spent.cores == {
        "kafka": 0.25,
        "notice-intake": 0.75,
        "postgres": 0.2,
        "machine": 1.5,
        "other": 0.3,
    }


def test_a_group_whose_process_ended_unreaped_never_goes_below_zero() -> None:
    before = CpuSample(at=0.0, seconds={"machine": 10.0, "notice-intake": 4.0})
    after = CpuSample(at=1.0, seconds={"machine": 11.0})
    spent = phase_cpu(before, after, messages=10)
    assert spent is not None
    assert spent.us_per_message["notice-intake"] == 0.0
    assert spent.us_per_message["other"] == 100_000.0


def test_no_figures_without_both_samples_or_messages() -> None:
    sample = CpuSample(at=1.0, seconds={"machine": 1.0})
    later = CpuSample(at=2.0, seconds={"machine": 2.0})
    assert phase_cpu(None, later, 10) is None
    assert phase_cpu(sample, None, 10) is None
    assert phase_cpu(sample, later, 0) is None
    assert phase_cpu(later, sample, 10) is None
