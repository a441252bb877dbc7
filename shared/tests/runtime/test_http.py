"""Unit tests of the service HTTP app (ASGI, in memory): health, readiness, metrics, routes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from mynaflow.runtime.http import HttpError, ServiceHttpApp

pytestmark = pytest.mark.unit


async def passes() -> None:
    return None


async def refuses() -> None:
    raise ConnectionRefusedError("connection refused")


async def hangs() -> None:
    await asyncio.Event().wait()


def client_for(app: ServiceHttpApp) -> httpx.AsyncClient:
    # ServiceHttpApp types the ASGI scope and messages as dicts; httpx asks for MutableMapping.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


async def test_ready_only_when_every_check_passes() -> None:
    app = ServiceHttpApp(readiness_checks={"kafka": passes, "postgres": passes})
    async with client_for(app) as client:
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"kafka": "ok", "postgres": "ok"}}


async def test_not_ready_names_each_failed_check() -> None:
    app = ServiceHttpApp(
        readiness_checks={"kafka": hangs, "postgres": refuses}, readiness_timeout_s=0.2
    )
    async with client_for(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["kafka"] == "no answer within 0.2s"
    assert checks["postgres"].startswith("ConnectionRefusedError")


async def test_a_stopping_service_is_not_ready_but_still_healthy() -> None:
    app = ServiceHttpApp(readiness_checks={"kafka": passes})
    app.stopping = True
    async with client_for(app) as client:
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_metrics_are_prometheus_text() -> None:
    app = ServiceHttpApp(readiness_checks={})
    async with client_for(app) as client:
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "mynaflow_messages_in" in response.text


async def test_registered_routes_get_query_params_and_answer_json() -> None:
    async def backlog(query: Mapping[str, str]) -> dict[str, Any]:
        if query.get("queue") == "unknown":
            raise HttpError(404, "no such queue")
        return {"queue": query.get("queue"), "open": 3}

    app = ServiceHttpApp(readiness_checks={})
    app.add_route("/backlog", backlog)
    async with client_for(app) as client:
        found = await client.get("/backlog", params={"queue": "窓口"})
        missing = await client.get("/backlog", params={"queue": "unknown"})
        nowhere = await client.get("/nowhere")
        posted = await client.post("/backlog")

    assert found.json() == {"queue": "窓口", "open": 3}
    assert (missing.status_code, missing.json()) == (404, {"error": "no such queue"})
    assert nowhere.status_code == 404
    assert posted.status_code == 405


def test_built_in_paths_cannot_be_replaced() -> None:
    app = ServiceHttpApp(readiness_checks={})
    with pytest.raises(ValueError, match="/readyz"):
        app.add_route("/readyz", lambda _query: passes())
