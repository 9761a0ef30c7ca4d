"""Fixtures of the operations tests: real processes on a throwaway PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.github import (  # noqa: F401  (the GitHub double)
    APP_ID,
    WEBHOOK_SECRET,
    app_private_key,
    fakehub,
    github_request_log,
)
from selfmod_procs import SANDBOX_IMAGE, Processes

from bot.fakehub.server import FakeHub


@pytest.fixture
def processes(tmp_path: Path, fakehub: FakeHub, app_private_key: str,  # noqa: F811
              postgres_url: str) -> Iterator[Processes]:
    """Start nothing yet; stop whatever the test started."""
    env = {"DATABASE_URL": postgres_url, "GITHUB_APP_ID": str(APP_ID),
           "GITHUB_PRIVATE_KEY": app_private_key, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "GITHUB_API_URL": fakehub.base_url, "SELFMOD_SANDBOX_IMAGE": SANDBOX_IMAGE,
           "SELFMOD_WORKER_POLL_SECONDS": "0.05", "SELFMOD_LOG_FORMAT": "json",
           "SELFMOD_LOG_LEVEL": "INFO", "SELFMOD_SHUTDOWN_GRACE_SECONDS": "10"}
    procs = Processes(tmp_path, env)
    try:
        yield procs
    finally:
        procs.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """A fresh PostgreSQL database with the schema at head."""
    import asyncio

    from bot.store.db import create_engine
    from bot.store.migrate import upgrade

    url: str = postgres_cluster.create_database()

    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return url
