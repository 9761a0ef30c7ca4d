"""Stale self-mod pull requests: closed with a comment and recorded as expired, not refused."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from gidgethub.abc import GitHubAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.github.limits import build_stale_comment, is_stale
from bot.github.modifications import parse_branch
from bot.store.models import CodeModification, SuggestionStatus


def parse_github_time(text: Any) -> datetime | None:
    """Turn GitHub's ISO 8601 time into naive UTC (as the database and clock keep it)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))


async def mark_expired(sessions: async_sessionmaker[AsyncSession],
                       modification_id: uuid.UUID) -> bool:
    """Record that a proposal was withdrawn for age; False unless it was still proposed."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(CodeModification)
            .where(CodeModification.id == modification_id,
                   CodeModification.status == SuggestionStatus.PROPOSED.value)
            .values(status=SuggestionStatus.EXPIRED.value))
    return bool(getattr(result, "rowcount", 0))


async def close_stale_pulls(gh: GitHubAPI, sessions: async_sessionmaker[AsyncSession],
                            pulls: Sequence[Mapping[str, Any]], *, now: datetime,
                            max_age: timedelta) -> list[int]:
    """Close the pull requests older than `max_age` with a comment; return their numbers.

    The modification is marked expired before the pull request is closed, so the
    `pull_request` closed webhook that follows is not taken for a reviewer's no.
    """
    closed = []
    for pull in pulls:
        created = parse_github_time(pull.get("created_at"))
        if created is None or not is_stale(created, now, max_age):
            continue
        branch = parse_branch(str(pull["head"]["ref"]))
        if branch is not None and not branch.is_revert:
            await mark_expired(sessions, branch.modification_id)
        await gh.post(str(pull["comments_url"]),
                      data={"body": build_stale_comment(now - created, max_age)})
        await gh.patch(str(pull["url"]), data={"state": "closed"})
        closed.append(int(pull["number"]))
    return closed
