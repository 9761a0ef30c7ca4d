"""Feedback in: store it as rows, keep rule statistics current, honour ignore commands."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.learning.categories import build_category_text, classify
from bot.learning.profile import (
    IGNORED_PREFIX,
    UNIGNORED_PREFIX,
    Profile,
    Scope,
    load_profile,
)
from bot.learning.stats import ALL_AREAS, Prior
from bot.store.models import CodeModification, Feedback, ModificationSession, RuleStatistic

REACTION_RATINGS = {"+1": 1, "-1": -1, "heart": 1, "hooray": 1, "rocket": 1, "confused": -1}


@dataclass(frozen=True)
class RatingItem:
    """One item of `learn_from_feedback`: a modification, a 1..5 rating and a comment."""

    modification_id: uuid.UUID
    rating: int
    comment: str | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> RatingItem:
        """Read one item; raise ValueError saying what is wrong with it."""
        if not isinstance(item, Mapping):
            raise ValueError(f"feedback items are objects, not {type(item).__name__}")
        try:
            modification_id = uuid.UUID(str(item["modification_id"]))
        except KeyError:
            raise ValueError("a feedback item needs `modification_id`") from None
        except ValueError:
            raise ValueError(f"`modification_id` {item['modification_id']!r} is not a "
                             "modification id (a UUID)") from None
        rating = item.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"`rating` of {modification_id} must be an integer 1..5, "
                             f"not {rating!r}")
        comment = item.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise ValueError(f"`comment` of {modification_id} must be text")
        return cls(modification_id, rating, comment)


@dataclass(frozen=True)
class LearningResult:
    """What `learn_from_feedback` stored and what the repositories now avoid."""

    recorded: int
    profiles: tuple[Profile, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON."""
        return {"recorded": self.recorded, "repositories": [{
            "repository": p.scope.key,
            "constraints": [{"category": c.value, "because": why} for c, why in p.complaints],
            "suppressed_rules": [{"rule_id": r, "area": a, "reason": why}
                                 for (r, a), why in sorted(p.suppressed.items())],
        } for p in self.profiles]}


async def scope_of(sessions: async_sessionmaker[AsyncSession],
                   modification_id: uuid.UUID) -> Scope | None:
    """Return the repository a modification belongs to, or None for an unknown id."""
    async with sessions() as session:
        found = (await session.execute(
            select(ModificationSession.repository_id, ModificationSession.codebase_path)
            .join(CodeModification, CodeModification.session_id == ModificationSession.id)
            .where(CodeModification.id == modification_id))).first()
    if found is None:
        return None
    return Scope(found[0], None if found[0] is not None else found[1])


async def record_feedback(sessions: async_sessionmaker[AsyncSession], modification_id: uuid.UUID,
                          *, source: str, rating: int | None, body: str | None,
                          author: str | None, repository_id: int | None = None,
                          category: str | None = None) -> bool:
    """Add a feedback row (categories read from its text); False for an unknown modification."""
    async with sessions.begin() as session:
        if await session.get(CodeModification, modification_id) is None:
            return False
        session.add(Feedback(modification_id=modification_id, repository_id=repository_id,
                             source=source, rating=rating, body=body, author=author,
                             category=category or build_category_text(classify(body))))
    return True


async def learn_from_feedback(sessions: async_sessionmaker[AsyncSession],
                              items: Sequence[Mapping[str, Any]], *, author: str | None = None,
                              now: datetime, prior: Prior | None = None) -> LearningResult:
    """Store ratings of known modifications and return what each repository learned.

    Every item is checked before anything is stored: one bad item stores none.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ValueError("feedback is a list of {modification_id, rating, comment} objects")
    parsed = [RatingItem.parse(item) for item in items]
    scopes: dict[uuid.UUID, Scope] = {}
    for item in parsed:
        scope = await scope_of(sessions, item.modification_id)
        if scope is None:
            raise ValueError(f"no modification {item.modification_id}")
        scopes[item.modification_id] = scope
    for item in parsed:
        await record_feedback(sessions, item.modification_id, source="api", rating=item.rating,
                              body=item.comment, author=author,
                              repository_id=scopes[item.modification_id].repository_id)
    profiles = [await refresh_statistics(sessions, scope, now=now, prior=prior)
                for scope in dict.fromkeys(scopes.values())]
    return LearningResult(len(parsed), tuple(profiles))


async def record_reactions(sessions: async_sessionmaker[AsyncSession],
                           modification_id: uuid.UUID, repository_id: int | None,
                           rollup: Mapping[str, Any]) -> int:
    """Store a pull request's reaction counts beyond those stored before; return how many.

    GitHub's issue object carries counts per reaction (its `reactions` rollup), not authors.
    """
    async with sessions() as session:
        known = list((await session.execute(select(Feedback.body).where(
            Feedback.modification_id == modification_id,
            Feedback.source == "reaction"))).scalars())
    added = 0
    for content, rating in REACTION_RATINGS.items():
        count = rollup.get(content)
        for _ in range(max(0, int(count) - known.count(content)) if isinstance(count, int)
                       else 0):
            added += await record_feedback(sessions, modification_id, source="reaction",
                                           rating=rating, body=content, author=None,
                                           repository_id=repository_id, category="reaction")
    return added


async def refresh_statistics(sessions: async_sessionmaker[AsyncSession], scope: Scope, *,
                             now: datetime, prior: Prior | None = None) -> Profile:
    """Recompute the repository's profile and write its `rule_statistics` rows."""
    profile = await load_profile(sessions, scope, prior)
    async with sessions.begin() as session:
        rows = {(r.rule_id, r.area): r for r in (await session.execute(select(RuleStatistic).where(
            RuleStatistic.repository_key == scope.key))).scalars()}
        for key, seen in profile.counts.items():
            row = rows.get(key)
            if row is None:
                row = RuleStatistic(repository_key=scope.key, rule_id=key[0], area=key[1],
                                    suppressed=False, updated_at=now)
                session.add(row)
                rows[key] = row
            row.accepted, row.rejected = seen.accepted, seen.rejected
        for key, row in rows.items():
            manual = (row.suppressed_reason or "").startswith((IGNORED_PREFIX, UNIGNORED_PREFIX))
            if manual:
                continue  # the command's word stands until the next command
            why = profile.suppressed.get(key)
            if row.suppressed != (why is not None) or row.suppressed_reason != why:
                row.suppressed, row.suppressed_reason, row.updated_at = why is not None, why, now
    return profile


async def set_ignored(sessions: async_sessionmaker[AsyncSession], scope: Scope, rule_id: str, *,
                      ignored: bool, by: str, now: datetime) -> None:
    """Stop a rule firing in the repository (`ignore`), or give it a fresh start (`unignore`)."""
    reason = (f"{IGNORED_PREFIX} by @{by} (`/selfmod ignore {rule_id}`)" if ignored
              else f"{UNIGNORED_PREFIX} by @{by}: earlier outcomes no longer count")
    async with sessions.begin() as session:
        row = (await session.execute(select(RuleStatistic).where(
            RuleStatistic.repository_key == scope.key, RuleStatistic.rule_id == rule_id,
            RuleStatistic.area == ALL_AREAS))).scalar()
        if row is None:
            row = RuleStatistic(repository_key=scope.key, rule_id=rule_id, area=ALL_AREAS,
                                accepted=0, rejected=0)
            session.add(row)
        row.suppressed, row.suppressed_reason, row.updated_at = ignored, reason, now
    await refresh_statistics(sessions, scope, now=now)
