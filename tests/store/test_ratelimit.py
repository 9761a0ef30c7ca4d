"""GitHub's rate limit shared between processes through the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import create_engine
from bot.store.ratelimit import RATE_LIMITS, SharedRateLimit, build_wait, parse_rate_limit

NOW = datetime(2026, 11, 26, 12, 0, 0)


def _headers(remaining: int, reset: datetime) -> dict[str, str]:
    epoch = int((reset - datetime(1970, 1, 1)).total_seconds())
    return {"x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": str(epoch)}


def test_parse_reads_githubs_headers() -> None:
    """The remaining count and the reset time come from the x-ratelimit headers."""
    assert parse_rate_limit(_headers(7, NOW)) == (7, NOW)


def test_parse_ignores_missing_or_bad_headers() -> None:
    """Answers without usable rate-limit headers give nothing."""
    assert parse_rate_limit({}) is None
    assert parse_rate_limit({"x-ratelimit-remaining": "x", "x-ratelimit-reset": "1"}) is None


def test_wait_only_when_nothing_is_left() -> None:
    """Requests wait until the reset only when the quota is used up and not yet reset."""
    later = NOW + timedelta(seconds=30)
    assert build_wait(0, later, NOW) == timedelta(seconds=30)
    assert build_wait(1, later, NOW) == timedelta(0)
    assert build_wait(0, NOW - timedelta(seconds=1), NOW) == timedelta(0)


async def test_one_process_sees_what_another_learned(migrated_engine: AsyncEngine,
                                                     database_url: str) -> None:
    """A quota used up in one process makes another process wait for the reset."""
    first = SharedRateLimit(migrated_engine)
    other_engine = create_engine(database_url)
    other = SharedRateLimit(other_engine)
    try:
        reset = NOW + timedelta(seconds=42)
        await first.observe("installation:1", _headers(0, reset), now=NOW)
        assert await other.wait_for("installation:1", now=NOW) == timedelta(seconds=42)
        assert await other.wait_for("installation:2", now=NOW) == timedelta(0)
        # A later answer with quota again lifts the wait for everyone.
        await other.observe("installation:1", _headers(10, reset), now=NOW)
        assert await first.wait_for("installation:1", now=NOW) == timedelta(0)
    finally:
        await other_engine.dispose()


async def test_plenty_left_is_not_written(migrated_engine: AsyncEngine) -> None:
    """An answer with plenty of quota left costs no write."""
    limits = SharedRateLimit(migrated_engine)
    await limits.observe("app", _headers(4000, NOW), now=NOW)
    async with migrated_engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(RATE_LIMITS))
    assert count == 0
