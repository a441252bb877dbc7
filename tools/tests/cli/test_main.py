"""Unit tests of the CLI skeleton: command discovery and the registration pattern."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from mynaflow_tools.cli import main
from typer.testing import CliRunner

pytestmark = pytest.mark.unit

runner = CliRunner()


def _hello_group(app: typer.Typer) -> None:
    group = typer.Typer(help="Say hello.")

    @group.command("world")
    def world() -> None:
        typer.echo("hello world")

    app.add_typer(group, name="hello")


def _ping_command(app: typer.Typer) -> None:
    @app.command("ping")
    def ping() -> None:
        typer.echo("pong")


def _broken(_app: typer.Typer) -> None:
    raise RuntimeError("cannot register")


def test_every_command_module_loads_and_status_is_registered() -> None:
    app = main.build_app()
    assert main.load_errors == []
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "status" in result.output


def test_the_console_script_app_is_built_from_discovery() -> None:
    result = runner.invoke(main.app, ["status", "--help"])
    assert result.exit_code == 0
    assert "--json" in result.output


def test_registrars_add_groups_and_single_commands() -> None:
    app = main.build_app([("hello", _hello_group), ("ping", _ping_command)])
    assert runner.invoke(app, ["hello", "world"]).output == "hello world\n"
    assert runner.invoke(app, ["ping"]).output == "pong\n"


def test_a_broken_or_clashing_registrar_leaves_the_others_working() -> None:
    app = main.build_app([("ping", _ping_command), ("broken", _broken), ("again", _ping_command)])
    sources = [source for source, _ in main.load_errors]
    assert sources == ["broken", "again"]
    assert "already taken" in main.load_errors[1][1]
    assert runner.invoke(app, ["ping"]).output == "pong\n"
    main.build_app()  # leave the module state as the real CLI has it


def test_importing_the_cli_never_imports_a_database_driver() -> None:
    # The CLI reaches services through Kafka and HTTP only, never their tables.
    probe = "import sys, mynaflow_tools.cli.main; print('asyncpg' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"
