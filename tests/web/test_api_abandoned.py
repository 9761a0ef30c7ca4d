"""An analysis whose server died mid-way is reported failed, not in progress for ever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apikit import AUTH, make_repo

from bot.engine.record import STALE_AFTER, running_marker
from bot.settings import Settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.models import ModificationSession, ModificationStatus
from bot.web.app import create_app


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Return the allowed root with one repository in it."""
    folder = tmp_path / "root"
    make_repo(folder / "repo")
    return folder


async def _in_progress(settings: Settings, root: Path, *, silent_for: float) -> uuid.UUID:
    """Record an API analysis in progress whose process last spoke silent_for seconds ago."""
    engine = create_engine(settings.database_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    session_id = uuid.uuid4()
    async with create_sessionmaker(engine)() as db:
        db.add(ModificationSession(
            id=session_id, codebase_path=str(root / "repo"), modification_goals=["fix_bugs"],
            status=ModificationStatus.VALIDATING, commit_sha="0" * 40, trigger="api",
            report=running_marker(now - STALE_AFTER * (silent_for / STALE_AFTER.total_seconds()))))
        await db.commit()
    await engine.dispose()
    return session_id


async def test_polling_an_abandoned_analysis_says_it_failed(
        aiohttp_client: Any, settings: Settings, root: Path) -> None:
    """The server that ran it was killed: the next poll answers failed, with why."""
    client = await aiohttp_client(create_app(settings))
    session_id = await _in_progress(settings, root, silent_for=STALE_AFTER.total_seconds() + 60)
    response = await client.get(f"/self-modify/sessions/{session_id}", headers=AUTH)
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "failed" and body["finished"] is True
    assert "abandoned" in body["error"] and body["completed_at"] is not None


async def test_polling_a_live_analysis_leaves_it_running(
        aiohttp_client: Any, settings: Settings, root: Path) -> None:
    """A session that spoke recently is in progress, whatever its age."""
    client = await aiohttp_client(create_app(settings))
    session_id = await _in_progress(settings, root, silent_for=10)
    body = await (await client.get(f"/self-modify/sessions/{session_id}", headers=AUTH)).json()
    assert body["status"] == "validating" and body["finished"] is False


async def test_a_restarted_server_closes_what_it_left(
        aiohttp_client: Any, settings: Settings, root: Path) -> None:
    """At start the server closes abandoned sessions before anyone asks."""
    session_id = await _in_progress(settings, root, silent_for=STALE_AFTER.total_seconds() * 3)
    await aiohttp_client(create_app(settings))
    engine = create_engine(settings.database_url)
    async with create_sessionmaker(engine)() as db:
        row = await db.get(ModificationSession, session_id)
    await engine.dispose()
    assert row is not None and row.status == ModificationStatus.FAILED
