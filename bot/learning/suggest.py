"""The PRD's learning engine: learn from feedback, then suggest changes that respect it.

This is the suggest-only front of the pipeline (analysis, generation, static validation and
what the repository taught), recorded like any session; proving a change in the sandbox is
the pipeline's part (`selfmod run`, the GitHub loop), which applies the same learning.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.analysis.index import build_index
from bot.engine.record import SessionStore
from bot.generate.generator import generate_suggestions
from bot.generate.llm import LLMProvider, build_llm_targets
from bot.generate.suggestion import Suggestion
from bot.learning.adapt import (
    LearnedRun,
    Learning,
    build_examples_text,
    refuse,
    select_candidates,
)
from bot.learning.feedback import LearningResult, learn_from_feedback
from bot.learning.stats import Prior
from bot.perf.decision import Decision, Reason, Rejection
from bot.safety.checks import Policy
from bot.safety.score import SafetyLevel
from bot.safety.validate import validate
from bot.store.models import ModificationStatus

DEFAULT_GOALS = ("improve_performance", "fix_bugs")


@dataclass(frozen=True)
class SuggestionRun:
    """One suggest-only session: what it kept, what it refused and why, what it learned."""

    session_id: uuid.UUID
    suggestions: tuple[Suggestion, ...]
    refused: tuple[tuple[Suggestion, tuple[str, ...]], ...]
    learning: LearnedRun


class LearningEngine:
    """`learn_from_feedback`, `generate_suggestions` and `analyze_and_suggest` over a database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 llm: LLMProvider | None = None, prior: Prior | None = None) -> None:
        self._sessions = sessions
        self._store = SessionStore(sessions)
        self._learning = Learning(sessions, prior)
        self._prior = prior
        self._llm = llm

    async def learn_from_feedback(self, feedback: Sequence[Mapping[str, Any]], *,
                                  now: datetime, author: str | None = None) -> LearningResult:
        """Store ratings (1..5, with comments) of known modifications and learn from them."""
        return await learn_from_feedback(self._sessions, feedback, author=author, now=now,
                                         prior=self._prior)

    async def generate_suggestions(self, codebase_path: str | Path,
                                   goals: Sequence[str] = DEFAULT_GOALS,
                                   safety_level: str = "conservative") -> list[Suggestion]:
        """Return the suggestions that pass validation and what the repository taught."""
        return list((await self.run(codebase_path, goals, safety_level)).suggestions)

    async def analyze_and_suggest(self, codebase_path: str | Path) -> list[Suggestion]:
        """Return suggestions for the default goals (performance and bug fixes)."""
        return await self.generate_suggestions(codebase_path)

    async def run(self, codebase_path: str | Path, goals: Sequence[str],
                  safety_level: str) -> SuggestionRun:
        """Analyse, generate, validate and apply learning; record the session and its rows."""
        root = Path(codebase_path).resolve()
        if not root.is_dir():
            raise ValueError(f"{codebase_path} is not a folder")
        level = SafetyLevel(safety_level)
        session_id = await self._store.start(str(root), list(goals), level.value, "")
        async with self._store.running(session_id):
            # The heavy steps run in a thread: this is a coroutine, its loop may serve others.
            index = await asyncio.to_thread(build_index, root)
            learned = await self._learning.start(str(root), index.conventions)
            found = await asyncio.to_thread(generate_suggestions, root, index, goals)
            if self._llm is not None and self._llm.enabled and "improve_performance" in goals:
                examples = build_examples_text(learned.profile.examples)
                proposed, _ = await self._llm.propose(
                    [replace(t, examples=examples) for t in build_llm_targets(root, index)])
                found.extend(proposed)
            policy = Policy(own_modules=frozenset(m.split(".")[0] for m in index.modules))
            kept: list[Suggestion] = []
            refused: list[tuple[Suggestion, tuple[str, ...]]] = []
            for suggestion in select_candidates(learned, found):
                checked, verdict = await asyncio.to_thread(validate, suggestion, policy, level)
                await self._store.add_suggestion(session_id, checked)
                reasons = refuse(learned, checked) if verdict.accepted else verdict.reasons
                if verdict.accepted and not reasons:
                    kept.append(checked)
                    continue
                refused.append((checked, reasons))
                await self._store.decide(checked.id, Decision(False, (Rejection(
                    Reason.UNSAFE, "; ".join(reasons)),), verdict.score, None), {}, None)
            await self._store.finish(session_id, ModificationStatus.COMPLETED, {
                "suggestions": [s.to_json() for s in kept],
                "refused": [{"id": str(s.id), "reasons": list(r)} for s, r in refused],
                "learning": learned.to_json()}, None)
        return SuggestionRun(session_id, tuple(kept), tuple(refused), learned)
