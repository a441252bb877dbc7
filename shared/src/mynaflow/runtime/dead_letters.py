"""`GET /dead-letters`: what this service dead-lettered, for `mynaflow dead-letters` (every service
serves it; the runner registers it).

- `GET /dead-letters?limit=N` (newest first, default 100): per row its id, when, source
  coordinates, key, reason, error and a preview of the bytes (at most `PREVIEW_CHARS`).
- `GET /dead-letters?id=N`: one row with every stored byte (`payload_base64`), for a replay.

Everything served was redacted before it was stored (`mynaflow.messaging.dead_letter`): the
row's key, payload, reason and error never hold an individual number. Replays are published by
the CLI, which records each on the dead-letter topic (docs/operations.md, "Dead letters").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import asyncpg

from mynaflow.runtime.http import HttpError, RouteHandler

DEAD_LETTERS_PATH = "/dead-letters"
PREVIEW_CHARS = 300
MAX_LIMIT = 1000

_COLUMNS = """id, created_at, source_topic, partition, "offset", key, payload, reason, error,
    redactions"""


def dead_letter_view(row: asyncpg.Record, *, full: bool) -> dict[str, Any]:
    payload: bytes = row["payload"]
    key: bytes | None = row["key"]
    view = {
        "id": row["id"],
        "dead_lettered_at": row["created_at"].isoformat(),
        "source_topic": row["source_topic"],
        "partition": row["partition"],
        "offset": row["offset"],
        "key": None if key is None else key.decode("utf-8", errors="replace"),
        "reason": row["reason"],
        "error": row["error"],
        "redactions": row["redactions"],
        "length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "preview": payload[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS],
    }
    if full:
        view["payload_base64"] = base64.b64encode(payload).decode("ascii")
        view["key_base64"] = None if key is None else base64.b64encode(key).decode("ascii")
    return view


def dead_letters_route(pool: asyncpg.Pool[asyncpg.Record]) -> RouteHandler:
    async def dead_letters(query: Mapping[str, str]) -> Any:
        if query.get("id"):
            return await _one(pool, _int(query, "id"))
        limit = min(_int(query, "limit", 100), MAX_LIMIT)
        rows = await pool.fetch(
            f"SELECT {_COLUMNS} FROM dead_letters ORDER BY id DESC LIMIT $1",  # noqa: S608
            limit,
        )
        return {"dead_letters": [dead_letter_view(row, full=False) for row in rows]}

    return dead_letters


async def _one(pool: asyncpg.Pool[asyncpg.Record], dead_letter_id: int) -> dict[str, Any]:
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1",  # noqa: S608
        dead_letter_id,
    )
    if row is None:
        raise HttpError(404, f"no dead letter {dead_letter_id}")
    return dead_letter_view(row, full=True)


def _int(query: Mapping[str, str], name: str, default: int | None = None) -> int:
    try:
        return int(query[name]) if name in query else int(str(default))
    except ValueError as error:
        raise HttpError(400, f"{name} must be an integer") from error
