"""Apply what a repository taught to one session's candidates: suppress, constrain, rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.generate.suggestion import ModificationType, Suggestion
from bot.learning.constraints import Constraints, build_conventions, check_constraints
from bot.learning.profile import Example, Profile, Scope, load_profile, resolve_scope
from bot.learning.stats import Prior, expected_acceptance, rank
from bot.learning.stats import area_of as _area

if TYPE_CHECKING:
    from bot.analysis.model import Conventions as DetectedConventions

# What a kind of change is worth when it is accepted, before its place in the heat order.
TYPE_BENEFIT = {ModificationType.BUG_FIX: 1.0, ModificationType.PERFORMANCE: 0.8,
                ModificationType.REFACTOR: 0.4, ModificationType.FEATURE_ADD: 0.3}


@dataclass
class LearnedRun:
    """What learning did in one session, for its report."""

    profile: Profile
    constraints: Constraints
    silenced: list[tuple[str, str, str]] = field(default_factory=list)  # rule, title, why
    refused: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the report section: suppressed rules, constraints and what they stopped."""
        return {
            "repository": self.profile.scope.key,
            "suppressed_rules": [{"rule_id": r, "area": a or None, "reason": why}
                                 for (r, a), why in sorted(self.profile.suppressed.items())],
            "constraints": [{"category": c.value, "because": why}
                            for c, why in self.profile.complaints],
            "conventions": {k: v for k, v in vars(self.constraints.conventions).items() if v},
            "not_fired": [{"rule_id": r, "title": t, "reason": why}
                          for r, t, why in self.silenced],
            "refused": [{"id": i, "title": t, "reasons": list(rs)} for i, t, rs in self.refused],
        }

    def notes(self) -> list[str]:
        """Return one line per rule that stopped firing, for the text report."""
        return [f"rule {r} stopped firing here: {why}"
                for (r, _), why in sorted(self.profile.suppressed.items())]


class Learning:
    """Loads a codebase's profile from the database for a session."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 prior: Prior | None = None) -> None:
        self._sessions = sessions
        self._prior = prior or Prior()

    async def start(self, codebase_path: str,
                    detected: DetectedConventions) -> LearnedRun:
        """Return the session's learning: the profile and the constraints it implies."""
        scope: Scope = await resolve_scope(self._sessions, codebase_path)
        profile = await load_profile(self._sessions, scope, self._prior)
        return build_learned_run(profile, detected)


def build_learned_run(profile: Profile, detected: DetectedConventions) -> LearnedRun:
    """Return the constraints of a profile over the detected conventions."""
    strict = frozenset(c for c, _ in profile.complaints)
    values = {name: (c.value, c.confidence) for name, c in detected.as_dict().items()}
    constraints = Constraints(build_conventions(values, strict), strict, profile.complaints)
    return LearnedRun(profile, constraints)


def select_candidates(run: LearnedRun, suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """Drop the candidates of suppressed rules (noting why) and rank the rest."""
    kept = []
    for suggestion in suggestions:
        why = next((w for c in suggestion.files
                    if (w := run.profile.suppression(suggestion.rule_id, c.path))), None)
        if why is None:
            kept.append(suggestion)
        else:
            run.silenced.append((suggestion.rule_id, suggestion.title, why))
    return rank_candidates(run.profile, kept)


def rank_candidates(profile: Profile, suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """Order candidates by expected acceptance times expected benefit (heat order breaks ties)."""
    position = {s.id: n for n, s in enumerate(suggestions)}

    def acceptance(s: Suggestion) -> float:
        area = _area(s.files[0].path) if s.files else ""
        return expected_acceptance(profile.counts, s.rule_id, area, profile.prior)

    def benefit(s: Suggestion) -> float:
        # The incoming order is hottest first; later candidates are worth a little less.
        return TYPE_BENEFIT[s.modification_type] / (1 + position[s.id] / 10)

    return rank(list(suggestions), acceptance=acceptance, benefit=benefit)


def refuse(run: LearnedRun, suggestion: Suggestion) -> tuple[str, ...]:
    """Return why the suggestion breaks a learned constraint or convention (and note it)."""
    reasons = tuple(check_constraints(suggestion, run.constraints))
    if reasons:
        run.refused.append((str(suggestion.id), suggestion.title, reasons))
    return reasons


def build_examples_text(examples: Sequence[Example]) -> tuple[str, ...]:
    """Return the repository's past accepted and rejected changes as prompt paragraphs."""
    return tuple(
        f"{'ACCEPTED' if e.accepted else 'REJECTED'} ({e.rule_id}) {e.title}"
        + (f" — reviewers said: {e.said}" if e.said else "") + f"\n```diff\n{e.diff}```"
        for e in examples)
