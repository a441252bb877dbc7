"""`notice-intake` console script (also `python -m notice_intake.main`)."""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from notice_intake.app import definition
from notice_intake.entrypoints.workers import die_with_parent, worker_parent_pid


def main() -> None:
    if (parent := worker_parent_pid()) is not None:
        die_with_parent(parent)
    run_service(definition())


if __name__ == "__main__":
    main()
