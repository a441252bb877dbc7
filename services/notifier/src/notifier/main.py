"""`notifier` console script (also `python -m notifier.main`)."""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from notifier.app import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
