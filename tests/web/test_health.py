"""Health and readiness probes of the web app."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from bot.errors import SchemaNotReadyError
from bot.settings import load_settings
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.web.app import create_app


async def _migrated(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()


async def test_healthz_answers(aiohttp_client: Any, sqlite_url: str) -> None:
    """GET /healthz answers 200 while the process is up."""
    await _migrated(sqlite_url)
    client = await aiohttp_client(create_app(load_settings({"DATABASE_URL": sqlite_url})))
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["status"] == "ok"


async def test_readyz_checks_the_database(aiohttp_client: Any, sqlite_url: str) -> None:
    """GET /readyz answers 200 when the database answers."""
    await _migrated(sqlite_url)
    client = await aiohttp_client(create_app(load_settings({"DATABASE_URL": sqlite_url})))
    response = await client.get("/readyz")
    assert response.status == 200 and (await response.json())["database"] == "ok"


async def test_app_refuses_unmigrated_database(sqlite_url: str) -> None:
    """The app does not start on a database without the schema."""
    app = create_app(load_settings({"DATABASE_URL": sqlite_url}))
    runner = web.AppRunner(app)
    with pytest.raises(SchemaNotReadyError, match="selfmod db upgrade"):
        await runner.setup()
    await runner.cleanup()
