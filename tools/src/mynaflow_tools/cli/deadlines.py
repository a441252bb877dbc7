"""`mynaflow deadlines`: upcoming and breached deadlines with their stages, from deadline-watcher.

    mynaflow deadlines                      open deadlines due within 30 days (overdue included)
    mynaflow deadlines --due-within 5bd     … within 5 business days (d, bd, h, min, s)
    mynaflow deadlines --breached           open deadlines whose breach has fired ("cases like A's")
    mynaflow deadlines --overdue            open deadlines past due, breach fired or not
    mynaflow deadlines --policy notice_sla --json

The CLI asks the watcher's `GET /deadlines` (`DEADLINE_WATCHER_URL`); it never reads its tables.
At most `--limit` deadlines are listed; the report always says how many match (`total`) and
whether the list was cut (`truncated`), in the table and in `--json`.

Exit codes: 0 the report was read; 1 deadline-watcher did not answer; 2 a bad option.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import httpx
import typer
from mynaflow.domain.time import JST
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console, table
from mynaflow_tools.cli.settings import load_cli_settings

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_BAD_OPTION = 2
DEFAULT_WINDOW = "30d"


def register(app: typer.Typer) -> None:
    app.command("deadlines")(deadlines)


def report_params(
    due_within: str | None,
    breached: bool,
    policy: str | None,
    include_cleared: bool,
    limit: int,
    overdue: bool = False,
) -> dict[str, str]:
    """Query parameters of `GET /deadlines`; without `--breached` or `--overdue` the window
    defaults to 30d (overdue deadlines are always inside it)."""
    params = {"limit": str(limit)}
    window = due_within or (None if breached or overdue else DEFAULT_WINDOW)
    if window:
        params["due_within"] = window
    if breached:
        params["breached"] = "true"
    if overdue:
        params["overdue"] = "true"
    if policy:
        params["policy"] = policy
    if include_cleared:
        params["include_cleared"] = "true"
    return params


def fetch_deadlines(base_url: str, params: dict[str, str], timeout_s: float) -> dict[str, Any]:
    response = httpx.get(f"{base_url.rstrip('/')}/deadlines", params=params, timeout=timeout_s)
    if response.status_code == 400:
        raise ValueError(response.json().get("error", response.text))
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def deadlines(
    due_within: Annotated[
        str | None,
        typer.Option(
            "--due-within", help="Window ahead: 30d, 5bd, 12h (default 30d, none with --breached)."
        ),
    ] = None,
    breached: Annotated[
        bool,
        typer.Option(
            "--breached",
            help="Only deadlines whose breach has fired (not those past due but not yet fired:"
            " see --overdue).",
        ),
    ] = False,
    overdue: Annotated[
        bool,
        typer.Option("--overdue", help="Only deadlines past due, whether the breach fired or not."),
    ] = False,
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    include_cleared: Annotated[
        bool, typer.Option("--include-cleared", help="Also deadlines already cleared.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 1000,
    as_json: JsonOption = False,
    url: Annotated[
        str | None,
        typer.Option(help="deadline-watcher's base URL (default: DEADLINE_WATCHER_URL)."),
    ] = None,
) -> None:
    """Upcoming and breached deadlines, each with its ladder of stages."""
    settings = load_cli_settings()
    base_url = url or settings.deadline_watcher_url
    params = report_params(due_within, breached, policy, include_cleared, limit, overdue)
    try:
        data = fetch_deadlines(base_url, params, settings.cli_http_timeout_s)
    except ValueError as error:
        stderr_console().print(f"[red]{error}[/red]")
        raise typer.Exit(EXIT_BAD_OPTION) from error
    except httpx.HTTPError as error:
        stderr_console().print(f"[red]deadline-watcher at {base_url} did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    emit(with_total(data), as_json=as_json, render=render_deadlines)


def with_total(data: dict[str, Any]) -> dict[str, Any]:
    """`total` and `truncated` as the watcher reports them. A watcher too old to report them
    gets the most that can be said honestly: a full page may have been cut."""
    if "total" in data:
        return data
    count = len(data["deadlines"])
    return data | {"total": None, "truncated": None if count else False}


def _short(instant: str | None) -> str | None:
    """An ISO instant as JST wall time, `2026-11-27 09:00`."""
    if instant is None:
        return None
    return datetime.fromisoformat(instant).astimezone(JST).strftime("%Y-%m-%d %H:%M")


def _state(row: dict[str, Any]) -> str:
    if row["status"] == "cleared":
        return "met" if row["met"] else "cleared late"
    if row["breached"]:
        return "[red]BREACHED[/red]"
    return "[yellow]overdue[/yellow]" if row["overdue"] else "open"


def _stages(row: dict[str, Any]) -> str:
    marks = {"fired": "✓", "skipped": "–", "pending": "…", "cancelled": "×"}
    return " ".join(
        f"{marks.get(stage['status'], '?')}{stage['stage']}"
        + (f"#{stage['repetition']}" if stage["repetition"] else "")
        for stage in row["stages"]
    )


def render_deadlines(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            row["key"],
            row["policy"],
            _short(row["due_at"]),
            _state(row),
            row["audience"].get("queue"),
            _stages(row),
        )
        for row in data["deadlines"]
    ]
    console.print(
        table(
            f"Deadlines ({_counted(data)}), times in JST",
            ("key", "policy", "due (JST)", "state", "queue", "stages ✓fired –skipped …pending"),
            rows,
        )
    )
    if data.get("truncated") is not False:
        console.print(_truncation_warning(data))


def _counted(data: dict[str, Any]) -> str:
    total = data.get("total")
    if total is None:
        return f"{data['count']} shown, total unknown"
    return f"{data['count']} of {total}" if data.get("truncated") else str(total)


def _truncation_warning(data: dict[str, Any]) -> str:
    total = data.get("total")
    if total is None:
        return "[yellow]This deadline-watcher does not say whether more deadlines match.[/yellow]"
    return (
        f"[yellow]Only {data['count']} of {total} deadlines shown: raise --limit or narrow the"
        " filters to see the rest.[/yellow]"
    )
