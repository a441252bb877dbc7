"""Unit tests of the shared report helpers: --json, tables, progress only on a terminal."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from mynaflow_tools.cli.output import emit, progress, table, to_json
from rich.console import Console

pytestmark = pytest.mark.unit


def test_json_output_is_one_document_with_readable_japanese(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rendered: list[Any] = []
    emit(
        {"queue": "戸籍課", "due": date(2026, 1, 9), "ids": ("a", "b")},
        as_json=True,
        render=lambda data, _console: rendered.append(data),
    )
    out = capsys.readouterr().out
    assert json.loads(out) == {"queue": "戸籍課", "due": "2026-01-09", "ids": ["a", "b"]}
    assert "戸籍課" in out
    assert rendered == []


def test_people_get_the_renderer(capsys: pytest.CaptureFixture[str]) -> None:
    def render(data: Any, console: Console) -> None:
        console.print(table("Queues", ("queue", "open"), [(data["queue"], data["open"])]))

    emit({"queue": "戸籍課", "open": None}, as_json=False, render=render)
    out = capsys.readouterr().out
    assert "Queues" in out
    assert "戸籍課" in out
    assert "—" in out  # None shows as a dash


def test_to_json_keeps_build_order() -> None:
    assert list(json.loads(to_json({"b": 1, "a": 2}))) == ["b", "a"]


def test_no_progress_bar_when_stdout_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress("Importing", total=3) as bar:  # pytest's captured stdout is not a TTY
        for _ in range(3):
            bar.advance()
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert type(bar).__name__ == "_SilentTracker"


def test_progress_bar_counts_when_enabled() -> None:
    with progress("Importing", total=5, enabled=True) as bar:
        bar.advance(2)
        bar.advance()
        task = bar._bar.tasks[0]  # type: ignore[attr-defined]
        assert (task.completed, task.total) == (3, 5)
