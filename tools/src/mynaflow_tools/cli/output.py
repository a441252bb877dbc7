"""How every command reports: `--json` for machines, a rich table for people.

A command builds plain data (dicts, lists, strings, numbers), then calls `emit(data, as_json,
render)`. With `--json` the data is printed as one JSON document on stdout; otherwise `render`
draws it for a person. Progress bars (`progress`) are drawn only when stdout is a terminal, so
pipes and `--json` output stay clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (for scripts) instead of tables.")
]


def stdout_console() -> Console:
    """A console on the current stdout (looked up on each call, so test runners can swap it)."""
    return Console(file=sys.stdout, soft_wrap=True)


def stderr_console() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def to_json(data: Any) -> str:
    """Stable JSON: keys in the order built, dates as ISO strings, Japanese kept readable."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)


def emit(data: Any, *, as_json: bool, render: Callable[[Any, Console], None]) -> None:
    """Print `data` as JSON, or let `render` draw it for a person."""
    if as_json:
        sys.stdout.write(to_json(data) + "\n")
        sys.stdout.flush()
    else:
        render(data, stdout_console())


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table; `None` cells show as an em dash."""
    result = Table(title=title, title_justify="left")
    for column in columns:
        # Fold long cells (URLs, errors) instead of cutting them: an operator needs all of it.
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*("—" if cell is None else str(cell) for cell in row))
    return result


def yes_no(value: bool) -> str:
    return "[green]yes[/green]" if value else "[red]NO[/red]"


class ProgressTracker(Protocol):
    def advance(self, steps: int = 1) -> None: ...


class _SilentTracker:
    def advance(self, steps: int = 1) -> None:
        """Nothing to draw when stdout is not a terminal."""


class _BarTracker:
    def __init__(self, bar: Progress, task_id: Any) -> None:
        self._bar = bar
        self._task_id = task_id

    def advance(self, steps: int = 1) -> None:
        self._bar.advance(self._task_id, steps)


@contextmanager
def progress(
    description: str, total: int | None, *, enabled: bool | None = None
) -> Iterator[ProgressTracker]:
    """A progress bar on stderr for a long operation, drawn only when stdout is a terminal.

    `enabled` overrides the terminal check (tests). Usage:
        with progress("Importing", total=len(rows)) as bar:
            for row in rows: ...; bar.advance()
    """
    if not (stdout_is_terminal() if enabled is None else enabled):
        yield _SilentTracker()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        yield _BarTracker(bar, bar.add_task(description, total=total))
