"""GitHub's rate limit, shared through the database by every process of one deployment.

Each process learns GitHub's remaining quota from response headers. When one process sees the
quota run out, every other process waits for the reset instead of spending requests that GitHub
would refuse (and that count against the app as abuse).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.models import GitHubRateLimit

RATE_LIMITS = cast(Table, GitHubRateLimit.__table__)
# Below this many requests left, every answer's quota is written for the others to see.
LOW_WATER = 50


def parse_rate_limit(headers: Mapping[str, str]) -> tuple[int, datetime] | None:
    """Return (remaining, reset time) from GitHub's x-ratelimit headers, or None."""
    try:
        remaining = int(headers["x-ratelimit-remaining"])
        reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        return None
    return remaining, reset.replace(tzinfo=None)


def build_wait(remaining: int, reset_at: datetime, now: datetime) -> timedelta:
    """Return how long to hold requests: until the reset when nothing is left, else zero."""
    if remaining > 0 or reset_at <= now:
        return timedelta(0)
    return reset_at - now


class SharedRateLimit:
    """Read and write the shared quota of one deployment."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def wait_for(self, key: str, *, now: datetime) -> timedelta:
        """Return how long a request under `key` should wait before it is sent."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(RATE_LIMITS.c.remaining, RATE_LIMITS.c.reset_at)
                .where(RATE_LIMITS.c.key == key))).first()
        if row is None:
            return timedelta(0)
        return build_wait(row.remaining, row.reset_at, now)

    async def observe(self, key: str, headers: Mapping[str, str], *, now: datetime) -> None:
        """Record the quota an answer reported, when it is low enough to matter."""
        parsed = parse_rate_limit(headers)
        if parsed is None or parsed[0] > LOW_WATER:
            return
        remaining, reset_at = parsed
        insert: Any = postgresql.insert if self._postgres else sqlite.insert
        statement = insert(RATE_LIMITS).values(key=key, remaining=remaining, reset_at=reset_at,
                                               updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"remaining": remaining, "reset_at": reset_at, "updated_at": now})
        async with self._engine.begin() as connection:
            await connection.execute(statement)
