"""Forward-only SQL migrations, one schema per service.

A *track* is a directory of `V{n}__description.sql` files numbered 1, 2, 3 … with no gaps. The
platform's track (outbox, inbox, dead letters) is applied first, then the service's own. Each file
runs in its own transaction, with `search_path` set to the service schema, and is recorded in
`<schema>.schema_migrations` with its sha256 checksum.

Every transaction first takes a transaction-level advisory lock derived from the schema name, so
replicas starting at the same moment serialise: the first applies a file, the others then see it
recorded and skip it. Before anything runs, every applied file's checksum is compared with the file
on disk; an edited migration stops the start-up with `MigrationChecksumError`, because the database
no longer matches what the code believes it ran.

Track names: the platform's directory is `platform`; a directory called `migrations` (each
service's layout) is `service`, wherever it lives, so the name survives a move into a container;
any other directory is named after itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mynaflow.storage.pool import create_pool, quote_identifier

if TYPE_CHECKING:
    import asyncpg

    from mynaflow.storage.pool import DbConnection

PLATFORM_MIGRATIONS = Path(__file__).resolve().parent / "platform_migrations"
PLATFORM_TRACK = "platform"
SERVICE_TRACK = "service"

_MIGRATION_FILE = re.compile(r"^V(?P<version>[1-9][0-9]*)__(?P<description>[A-Za-z0-9_\-]+)\.sql$")
# Namespaces the advisory-lock key so it cannot collide with other locks on the same schema.
_LOCK_NAMESPACE = "mynaflow.migrations:"


class MigrationError(RuntimeError):
    """The migration files or the recorded history are not in a state that can be applied."""


class MigrationChecksumError(MigrationError):
    """An applied migration file was edited after it ran."""


@dataclass(frozen=True)
class Migration:
    track: str
    version: int
    description: str
    path: Path
    sql: str
    checksum: str

    @property
    def name(self) -> str:
        return f"{self.track}/{self.path.name}"


def track_name(directory: Path) -> str:
    if directory.resolve() == PLATFORM_MIGRATIONS:
        return PLATFORM_TRACK
    return SERVICE_TRACK if directory.name == "migrations" else directory.name


def _read_migration(track: str, path: Path) -> Migration:
    match = _MIGRATION_FILE.match(path.name)
    if match is None:
        raise MigrationError(f"{path}: not a migration name (expected V<n>__description.sql)")
    raw = path.read_bytes()
    return Migration(
        track=track,
        version=int(match["version"]),
        description=match["description"],
        path=path,
        sql=raw.decode("utf-8"),
        checksum=hashlib.sha256(raw).hexdigest(),
    )


def _check_numbering(directory: Path, migrations: list[Migration]) -> None:
    """Versions must be exactly 1..n: a gap or a duplicate means a file is missing or misnamed."""
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        duplicates = sorted({v for v in versions if versions.count(v) > 1})
        raise MigrationError(f"{directory}: duplicate migration versions {duplicates}")
    expected = list(range(1, len(versions) + 1))
    if versions != expected:
        raise MigrationError(f"{directory}: versions {versions} have a gap (expected {expected})")


def read_track(directory: Path) -> list[Migration]:
    """The track's migrations in version order; every `.sql` file must be a well-named one."""
    if not directory.is_dir():
        raise MigrationError(f"{directory}: migration directory does not exist")
    track = track_name(directory)
    files = [path for path in directory.iterdir() if path.suffix == ".sql"]
    migrations = sorted((_read_migration(track, p) for p in files), key=lambda m: m.version)
    _check_numbering(directory, migrations)
    return migrations


def read_tracks(directories: Sequence[Path | str]) -> list[Migration]:
    """All migrations, track after track, in the order the directories are given."""
    tracks = [read_track(Path(directory)) for directory in directories]
    names = [track_name(Path(directory)) for directory in directories]
    if len(set(names)) != len(names):
        raise MigrationError(f"two migration directories share a track name: {names}")
    return [migration for track in tracks for migration in track]


async def _lock_schema(conn: DbConnection, schema: str) -> None:
    """Serialise migration runners on this schema until the current transaction ends."""
    await conn.execute(
        """
        SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
        """,
        _LOCK_NAMESPACE + schema,
    )


async def _enter_schema(conn: DbConnection, schema: str) -> None:
    """Lock, then make sure the schema and the history table exist and are the search path."""
    await _lock_schema(conn, schema)
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    # SET LOCAL: the pool's own search path is restored when the transaction ends.
    await conn.execute(f"SET LOCAL search_path TO {quote_identifier(schema)}")
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            track       text        NOT NULL,
            version     integer     NOT NULL,
            description text        NOT NULL,
            checksum    text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (track, version)
        )
        """
    )


async def _applied_checksums(conn: DbConnection) -> dict[tuple[str, int], str]:
    rows = await conn.fetch(
        """
        SELECT track, version, checksum FROM schema_migrations
        """
    )
    return {(row["track"], row["version"]): row["checksum"] for row in rows}


def _verify_history(migrations: list[Migration], applied: dict[tuple[str, int], str]) -> None:
    """Refuse to run anything if an applied file changed or disappeared."""
    on_disk = {(m.track, m.version): m for m in migrations}
    for key, checksum in sorted(applied.items()):
        migration = on_disk.get(key)
        if migration is None:
            raise MigrationError(f"{key[0]}/V{key[1]} was applied but its file is missing")
        if migration.checksum != checksum:
            raise MigrationChecksumError(
                f"{migration.path} ({migration.name}) was edited after it was applied "
                f"(recorded sha256 {checksum}, file has {migration.checksum}); "
                "write a new migration instead of editing an applied one"
            )


async def _verify_applied(conn: DbConnection, schema: str, migrations: list[Migration]) -> None:
    async with conn.transaction():
        await _enter_schema(conn, schema)
        _verify_history(migrations, await _applied_checksums(conn))


async def _apply_one(conn: DbConnection, schema: str, migration: Migration) -> bool:
    """Apply `migration` unless another runner already did; True when it ran here."""
    async with conn.transaction():
        await _enter_schema(conn, schema)
        if (migration.track, migration.version) in await _applied_checksums(conn):
            return False
        await conn.execute(migration.sql)
        await conn.execute(
            """
            INSERT INTO schema_migrations (track, version, description, checksum)
            VALUES ($1, $2, $3, $4)
            """,
            migration.track,
            migration.version,
            migration.description,
            migration.checksum,
        )
        return True


async def apply_migrations(
    pool: asyncpg.Pool[asyncpg.Record], *, schema: str, directories: Sequence[Path | str]
) -> list[str]:
    """Create `schema` if needed and apply the pending migrations; returns the names applied now."""
    migrations = read_tracks(directories)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await _verify_applied(conn, schema, migrations)
        for migration in migrations:
            if await _apply_one(conn, schema, migration):
                applied_now.append(migration.name)
    return applied_now


async def migrate(database_url: str, schema: str, directories: Sequence[Path | str]) -> list[str]:
    """The `migrate` command: apply a schema's migrations with a short-lived pool."""
    pool = await create_pool(database_url, schema=schema, min_size=1, max_size=1)
    try:
        return await apply_migrations(pool, schema=schema, directories=directories)
    finally:
        await pool.close()
