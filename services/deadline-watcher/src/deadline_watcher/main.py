"""`deadline-watcher` console script (also `python -m deadline_watcher.main`)."""

from __future__ import annotations

import gc

from mynaflow.runtime.runner import run_service

from deadline_watcher.app import definition

# The young generation is collected every 20,000 net allocations instead of CPython's 700. A
# claimed batch of 500 deadlines holds some 50 objects per deadline until it commits, when
# reference counting frees them (they form no cycles): with 700, each batch ran some 35 young
# collections that walked them in vain, and promoted them towards full collections (16 full
# collections in 50,000 fired stages, 2 with these thresholds; docs/BENCHMARKS.md).
GC_THRESHOLDS = (20_000, 20, 20)


def tune_garbage_collector() -> None:
    """For the service's own process only: the thresholds are process-wide."""
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    tune_garbage_collector()
    run_service(definition())


if __name__ == "__main__":
    main()
