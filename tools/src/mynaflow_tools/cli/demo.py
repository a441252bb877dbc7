"""`mynaflow demo [--json]`: replay the Naka Ward incident through all four services and print
what a ward manager would see (docs/demo.md).

It uses a database (`mynaflow_demo`), a topic prefix (`demo.`) and a folder (`.mynaflow/demo`)
of its own, deleted and made again at every start, so it leaves `make run`'s data alone and two
runs give the same report. Kafka and PostgreSQL must be up (`make demo` runs `make infra-up`).

Exit codes: 0 the report was printed; 1 a step did not reach its outcome in time (the message
names the step; the services' logs are in `.mynaflow/demo/logs/`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console
from mynaflow_tools.cli.settings import load_cli_settings

DEFAULT_FOLDER = Path(".mynaflow/demo")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    folder: Annotated[
        Path, typer.Option("--folder", help="Where the demo keeps mail, letters and logs.")
    ] = DEFAULT_FOLDER,
    as_json: JsonOption = False,
) -> None:
    """Replay the incident (48 unprocessed notices, two chips never rewritten) and report."""
    # Imported here: the demo starts processes and is not needed by any other command.
    from mynaflow_tools.demo.report import render
    from mynaflow_tools.demo.run import run_and_collect

    try:
        data: dict[str, Any] = asyncio.run(run_and_collect(load_cli_settings(), folder))
    except (TimeoutError, RuntimeError) as error:
        stderr_console().print(f"[red]demo failed:[/red] {error} (logs: {folder}/logs/)")
        raise typer.Exit(1) from error
    emit(data, as_json=as_json, render=render)
