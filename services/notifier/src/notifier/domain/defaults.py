"""The shipped defaults: routing and staff, JSON files inside the package (read, not I/O-heavy).

They let the service start with no configuration file; a ward's files are applied after them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("notifier").joinpath(name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def default_routing() -> dict[str, Any]:
    return _shipped("routing_defaults.json")


def default_staff() -> dict[str, Any]:
    return _shipped("staff_defaults.json")
