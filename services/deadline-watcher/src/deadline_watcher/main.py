"""`deadline-watcher` console script (also `python -m deadline_watcher.main`).

The runner tunes the garbage collector for the service's own process
(`mynaflow.runtime.runner.SERVICE_GC_THRESHOLDS`): a batch of 500 requests or claimed deadlines
runs no young collection (`tests/unit/test_firing_costs.py`).
"""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from deadline_watcher.app import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
