"""`notice-intake` console script (also `python -m notice_intake.main`)."""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from notice_intake.app import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
