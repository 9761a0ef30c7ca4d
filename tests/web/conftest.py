"""Fixtures shared by the REST API tests: a migrated app whose API is open on `root`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apikit import api_settings, migrate

from bot.settings import Settings
from bot.web.app import create_app


@pytest.fixture
async def settings(tmp_path: Path, root: Path) -> Settings:
    """Return migrated settings with the API open on root (each module defines `root`)."""
    found = api_settings(tmp_path, root)
    await migrate(found)
    return found


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Any:
    """Return a client of the app."""
    return await aiohttp_client(create_app(settings))
