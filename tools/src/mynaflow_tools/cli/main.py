"""The `mynaflow` operator CLI (console script `mynaflow = "mynaflow_tools.cli.main:app"`).

The CLI reaches the services only through Kafka and their HTTP endpoints, never their tables.

Adding a command or a command group
-----------------------------------
Write a module `mynaflow_tools/cli/<name>.py` that defines

    def register(app: typer.Typer) -> None:
        app.add_typer(notices_app, name="notices")   # a group: `mynaflow notices ...`
        # or a single command: app.command("status")(status)

and nothing else needs editing: `build_app()` imports every module of this package (in name
order) and calls its `register`. Modules without `register` (`output`, `settings`) are helpers.
Use `mynaflow_tools.cli.output` for `--json` / tables / progress and `load_cli_settings()` for
settings.

A package outside `tools/` (a service) can contribute commands through an entry point:

    [project.entry-points."mynaflow.cli"]
    intake = "notice_intake.cli:register"

A module that fails to load, or a command name registered twice, does not take the other commands
down: it is reported on stderr and listed in `load_errors` (a unit test asserts it is empty).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Annotated

import typer
from typer.models import CommandInfo

Registrar = Callable[[typer.Typer], None]

ENTRY_POINT_GROUP = "mynaflow.cli"
_THIS_MODULE = __name__.rpartition(".")[2]
_PACKAGE = __name__.rpartition(".")[0]

# (source, error) for each command source that could not be registered in the last build.
load_errors: list[tuple[str, str]] = []


def _package_registrars() -> Iterator[tuple[str, Registrar]]:
    package = importlib.import_module(_PACKAGE)
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name == _THIS_MODULE or module_info.name.startswith("_"):
            continue
        source = f"{_PACKAGE}.{module_info.name}"
        try:
            module = importlib.import_module(source)
        except Exception as error:  # one broken module must not hide `status`
            _record_error(source, error)
            continue
        register = getattr(module, "register", None)
        if callable(register):
            yield source, register


def _entry_point_registrars() -> Iterator[tuple[str, Registrar]]:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            yield f"entry point {entry_point.name}", entry_point.load()
        except Exception as error:
            _record_error(f"entry point {entry_point.name}", error)


def _record_error(source: str, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}"
    load_errors.append((source, message))
    print(f"mynaflow: commands from {source} are unavailable ({message})", file=sys.stderr)


def _command_name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    return info.callback.__name__.replace("_", "-") if info.callback else ""


def _command_names(app: typer.Typer) -> tuple[list[str], list[str]]:
    """Top-level command names and group names, each in registration order."""
    commands = [_command_name(info) for info in app.registered_commands]
    groups = [info.name or "" for info in app.registered_groups]
    return commands, groups


def _register(app: typer.Typer, source: str, register: Registrar) -> None:
    commands_before, groups_before = _command_names(app)
    try:
        register(app)
    except Exception as error:
        _record_error(source, error)
        return
    commands_after, groups_after = _command_names(app)
    # Commands and groups are kept in two lists, so what a module added is the tail of each.
    added = commands_after[len(commands_before) :] + groups_after[len(groups_before) :]
    clashes = sorted(set(added) & set(commands_before + groups_before))
    if clashes:
        _record_error(source, ValueError(f"command names already taken: {clashes}"))


def _configure_logging(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log client details.")] = False,
) -> None:
    """Operators see reports, not client library noise (aiokafka logs every refused connect)."""
    root = logging.getLogger()
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    elif not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def build_app(registrars: list[tuple[str, Registrar]] | None = None) -> typer.Typer:
    """The CLI with every discovered command (or exactly `registrars`, for tests)."""
    load_errors.clear()
    app = typer.Typer(
        name="mynaflow",
        help="Operate mynaflow: service status, notices, deadlines. Every report has --json.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_configure_logging)
    sources = (
        registrars
        if registrars is not None
        else [
            *_package_registrars(),
            *_entry_point_registrars(),
        ]
    )
    for source, register in sources:
        _register(app, source, register)
    return app


app = build_app()
