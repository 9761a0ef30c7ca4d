"""A repository's learned profile, loaded from its modifications and their feedback."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.learning.categories import Category
from bot.learning.stats import (
    ALL_AREAS,
    Acceptance,
    Observation,
    Prior,
    area_of,
    suppressed_by_statistics,
    tally,
)
from bot.learning.verdict import FeedbackItem, Verdict, judge
from bot.store.models import CodeModification, Feedback, ModificationSession, RuleStatistic

IGNORED_PREFIX = "ignored"
UNIGNORED_PREFIX = "unignored"
_EXAMPLES = 3  # accepted and rejected examples the LLM prompt carries, each
_HISTORY = 500  # most recent modifications a profile looks at


@dataclass(frozen=True)
class Scope:
    """Which repository: by GitHub id when it has one, else by the path of its codebase."""

    repository_id: int | None = None
    codebase_path: str | None = None

    @property
    def key(self) -> str:
        """Return the `rule_statistics.repository_key` of the repository."""
        if self.repository_id is not None:
            return f"github:{self.repository_id}"
        if self.codebase_path:
            return f"path:{self.codebase_path}"
        raise ValueError("a repository scope needs a GitHub id or a codebase path")


@dataclass(frozen=True)
class Example:
    """A past modification the repository accepted or rejected, for the LLM prompt."""

    accepted: bool
    rule_id: str
    title: str
    diff: str
    said: str


@dataclass(frozen=True)
class Profile:
    """What a repository taught: rule acceptance, suppressed rules, complaints, examples."""

    scope: Scope
    prior: Prior = field(default_factory=Prior)
    counts: dict[tuple[str, str], Acceptance] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, area) → why
    complaints: tuple[tuple[Category, str], ...] = ()
    examples: tuple[Example, ...] = ()

    def suppression(self, rule_id: str, path: str) -> str | None:
        """Return why a rule may not fire on this file, or None when it may."""
        return (self.suppressed.get((rule_id, ALL_AREAS))
                or self.suppressed.get((rule_id, area_of(path))))


@dataclass(frozen=True)
class _Row:
    id: uuid.UUID
    rule_id: str
    path: str
    title: str
    diff: str
    rollback_reason: str | None
    created_at: datetime | None


async def resolve_scope(sessions: async_sessionmaker[AsyncSession], codebase_path: str) -> Scope:
    """Return the scope of a codebase: its GitHub repository when a session says which."""
    async with sessions() as session:
        found = await session.scalar(
            select(ModificationSession.repository_id)
            .where(ModificationSession.codebase_path == codebase_path,
                   ModificationSession.repository_id.is_not(None))
            .order_by(ModificationSession.started_at.desc()).limit(1))
    return Scope(int(found) if found is not None else None, codebase_path)


def _in_scope(scope: Scope) -> object:
    tests = []
    if scope.repository_id is not None:
        tests.append(ModificationSession.repository_id == scope.repository_id)
    if scope.codebase_path:
        tests.append(ModificationSession.codebase_path == scope.codebase_path)
    return or_(*tests)


async def load_profile(sessions: async_sessionmaker[AsyncSession], scope: Scope,
                       prior: Prior | None = None) -> Profile:
    """Load the repository's modifications and feedback and build its profile."""
    prior = prior or Prior()
    async with sessions() as session:
        modifications = (await session.execute(
            select(CodeModification.id, CodeModification.rule_id, CodeModification.file_path,
                   CodeModification.title, CodeModification.diff,
                   CodeModification.rollback_reason, CodeModification.created_at)
            .join(ModificationSession, CodeModification.session_id == ModificationSession.id)
            .where(_in_scope(scope))  # type: ignore[arg-type]
            .order_by(CodeModification.created_at.desc()).limit(_HISTORY))).all()
        rows = [_Row(m[0], m[1] or "", m[2], m[3] or "", m[4] or "", m[5], m[6])
                for m in modifications]
        feedback = (await session.execute(
            select(Feedback.modification_id, Feedback.source, Feedback.rating,
                   Feedback.category, Feedback.body)
            .where(Feedback.modification_id.in_([r.id for r in rows])))).all() if rows else []
        overrides = (await session.execute(select(RuleStatistic).where(
            RuleStatistic.repository_key == scope.key,
            RuleStatistic.area == ALL_AREAS))).scalars().all()
    by_row: dict[uuid.UUID, list[FeedbackItem]] = {}
    for modification_id, source, rating, category, body in feedback:
        by_row.setdefault(modification_id, []).append(FeedbackItem(source, rating, category,
                                                                   body))
    verdicts = [(row, judge(by_row.get(row.id, []), row.rollback_reason)) for row in rows]
    manual = {o.rule_id: (o.suppressed, o.suppressed_reason or "", o.updated_at)
              for o in overrides}
    return build_profile(scope, prior, verdicts, manual)


def build_profile(scope: Scope, prior: Prior, verdicts: Sequence[tuple[_Row, Verdict]],
                  manual: Mapping[str, tuple[bool, str, datetime | None]]) -> Profile:
    """Combine verdicts (newest first) and manual ignores into the profile."""
    observations = []
    for row, verdict in verdicts:
        state = manual.get(row.rule_id)
        fresh_since = state[2] if state and state[1].startswith(UNIGNORED_PREFIX) else None
        if verdict.accepted is None or (fresh_since is not None and row.created_at is not None
                                        and row.created_at <= fresh_since):
            continue  # no signal, or from before an unignore gave the rule a fresh start
        observations.append(Observation(row.rule_id, area_of(row.path), verdict.accepted))
    counts = tally(observations)
    suppressed = suppressed_by_statistics(counts, prior)
    for rule_id, (is_suppressed, reason, _) in manual.items():
        if is_suppressed and reason.startswith(IGNORED_PREFIX):
            suppressed[(rule_id, ALL_AREAS)] = reason
    complaints: dict[Category, str] = {}
    for row, verdict in verdicts:
        for category, said in verdict.complaints:
            complaints.setdefault(category, f"{said} (on “{row.title}”)")
    return Profile(scope, prior, counts, suppressed, tuple(complaints.items()),
                   _examples(verdicts))


def _examples(verdicts: Sequence[tuple[_Row, Verdict]]) -> tuple[Example, ...]:
    chosen: list[Example] = []
    for wanted in (True, False):
        picked = [(row, v) for row, v in verdicts if v.accepted is wanted][:_EXAMPLES]
        chosen += [Example(wanted, row.rule_id, row.title, row.diff[:1500],
                           "; ".join(said for _, said in v.complaints))
                   for row, v in picked]
    return tuple(chosen)
