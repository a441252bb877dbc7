"""Unit tests of how migration files are named and numbered (no server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mynaflow.storage.migrations import (
    PLATFORM_MIGRATIONS,
    MigrationError,
    read_tracks,
    track_name,
)

pytestmark = pytest.mark.unit


def _write_track(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text("SELECT 1;", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["V1__a.sql", "V3__c.sql"], "gap"),
        (["V1__a.sql", "V1__b.sql"], "duplicate"),
        (["V1__a.sql", "v2-b.sql"], "not a migration name"),
        (["V2__b.sql"], "gap"),
    ],
)
def test_numbering_must_run_from_one_without_gaps_or_duplicates(
    tmp_path: Path, names: list[str], problem: str
) -> None:
    track = _write_track(tmp_path / "migrations", names)

    with pytest.raises(MigrationError, match=problem):
        read_tracks([track])


def test_track_names_survive_moving_the_service_folder(tmp_path: Path) -> None:
    assert track_name(PLATFORM_MIGRATIONS) == "platform"
    assert track_name(tmp_path / "anywhere" / "migrations") == "service"
    assert track_name(tmp_path / "extra_reports") == "extra_reports"


def test_checksum_is_the_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    track = _write_track(tmp_path / "migrations", ["V1__a.sql"])

    (migration,) = read_tracks([track])

    assert migration.checksum == hashlib.sha256(b"SELECT 1;").hexdigest()
    assert migration.name == "service/V1__a.sql"
