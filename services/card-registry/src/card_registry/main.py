"""`card-registry` console script (also `python -m card_registry.main`)."""

from __future__ import annotations

from mynaflow.runtime.runner import run_service

from card_registry.app import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
