"""`deadline-watcher` console script (also `python -m deadline_watcher.main`)."""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from deadline_watcher.app import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
