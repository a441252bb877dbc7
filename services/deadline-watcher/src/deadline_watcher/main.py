"""`deadline-watcher` console script (also `python -m deadline_watcher.main`)."""

from __future__ import annotations

import gc

from mynaflow.runtime.runner import run_service

from deadline_watcher.app import definition

# The young generation is collected every 100,000 net allocations instead of CPython's 700. A
# batch (500 requests, or 500 claimed deadlines) holds some 50-100 objects per deadline until it
# commits, when reference counting frees them (they form no cycles): with 700, each batch ran
# some 35 young collections that walked them in vain and promoted them towards full ones. With
# 20,000 it still ran one every one or two batches, ~4 ms each (4-6 % of a watcher's CPU in
# the benchmark); at 100,000 a batch's objects are freed before the count is reached, and the
# net count only creeps up with what outlives batches (not one young collection ran in the
# benchmark's 300,000 requests and firings). The price is the bound: up to 100,000 young
# objects (cyclic garbage included) before a collection, which then walks them all (estimated
# ~20 ms, from ~4 ms for 20,000; docs/BENCHMARKS.md).
GC_THRESHOLDS = (100_000, 20, 20)


def tune_garbage_collector() -> None:
    """For the service's own process only: the thresholds are process-wide."""
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    tune_garbage_collector()
    run_service(definition())


if __name__ == "__main__":
    main()
