"""pytest plugin with the project's fixtures.

Fixtures for the real servers live in `postgres.py` and `kafka.py`; they fail loudly (never skip)
when a server cannot be reached.
"""

from __future__ import annotations

import importlib

# Modules are imported lazily so that a missing optional module does not break unit tests.
_FIXTURE_MODULES = ("mynaflow.testing.postgres", "mynaflow.testing.kafka")

for _module in _FIXTURE_MODULES:
    try:
        globals().update(
            {
                name: value
                for name, value in vars(importlib.import_module(_module)).items()
                if not name.startswith("_")
            }
        )
    except ModuleNotFoundError as error:  # pragma: no cover - only while bootstrapping
        if error.name != _module:
            raise
