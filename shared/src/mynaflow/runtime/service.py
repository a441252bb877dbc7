"""Compatibility only: the names that lived here before the runtime was split.

New code imports from `mynaflow.runtime.definition` (what a service is: `define_service`,
`ServiceDefinition`, `ServiceContext`) and `mynaflow.runtime.runner` (running it:
`run_service`, `serve`, `ServiceRunner`). Delete this module once nothing imports it.
"""

from mynaflow.runtime.definition import (
    ServiceContext,
    ServiceDefinition,
    define_service,
    migrations_dir_for,
    schema_for,
)
from mynaflow.runtime.runner import ServiceRunner, run_service, serve

__all__ = [
    "ServiceContext",
    "ServiceDefinition",
    "ServiceRunner",
    "define_service",
    "migrations_dir_for",
    "run_service",
    "schema_for",
    "serve",
]
