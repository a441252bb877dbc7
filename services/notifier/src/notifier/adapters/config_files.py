"""Reading the routing and staff configuration: the shipped JSON files inside the package, then
the ward's own files (`ROUTING_FILE`, `STAFF_FILE`). The rules themselves are in `domain/`.

A file that cannot be read or parsed stops the start with its path and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from notifier.domain.routing import RoutingConfigError, RoutingTable, routing_table
from notifier.domain.staff import StaffConfigError, StaffDirectory, staff_directory

SHIPPED = "shipped defaults"


def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("notifier").joinpath(name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def shipped_routing() -> dict[str, Any]:
    return _shipped("routing_defaults.json")


def shipped_staff() -> dict[str, Any]:
    return _shipped("staff_defaults.json")


def _read(path: Path, error: type[ValueError]) -> tuple[str, Any]:
    try:
        return str(path), json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as failure:
        raise error(f"{path}: {failure}") from failure


def load_routing(files: Iterable[Path] = ()) -> RoutingTable:
    """The shipped routes, then each file's (later rules win ties)."""
    files_read = [_read(path, RoutingConfigError) for path in files]
    return routing_table([(SHIPPED, shipped_routing()), *files_read])


def load_staff(files: Iterable[Path] = ()) -> StaffDirectory:
    """The shipped staff and managers, then each file's."""
    files_read = [_read(path, StaffConfigError) for path in files]
    return staff_directory([(SHIPPED, shipped_staff()), *files_read])
