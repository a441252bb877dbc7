"""How notice-intake starts its workers (the processes: tests/faults/test_intake_workers.py)."""

from __future__ import annotations

import sys

from notice_intake.entrypoints.workers import (
    WORKER_OF_ENV,
    worker_command,
    worker_environment,
    worker_parent_pid,
)


def test_a_worker_runs_the_parents_console_script_so_it_is_named_like_the_service() -> None:
    script = "/srv/venv/bin/notice-intake"
    assert worker_command([script]) == [sys.executable, script]


def test_a_parent_started_as_a_module_starts_its_workers_as_the_module() -> None:
    assert worker_command(["/srv/notice_intake/main.py"]) == [
        sys.executable,
        "-m",
        "notice_intake.main",
    ]


def test_a_worker_gets_the_parents_settings_a_free_port_and_no_workers_of_its_own() -> None:
    parent = {"DATABASE_URL": "postgresql://x", "HTTP_PORT": "8081", "INTAKE_WORKERS": "4"}
    env = worker_environment(4242, parent)
    assert env == {
        "DATABASE_URL": "postgresql://x",
        "HTTP_PORT": "0",
        "INTAKE_WORKERS": "1",
        WORKER_OF_ENV: "4242",
    }
    assert worker_parent_pid(env) == 4242
    assert worker_parent_pid(parent) is None
