"""What the feedback on one modification adds up to: accepted or not, and its complaints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.learning.categories import Category, classify, parse_category_text

# Feedback sources and how their ratings read. Explicit ratings are 1..5; the rest are -1..1.
OUTCOME_SOURCE = "pull_request"
RATED_SOURCES = frozenset({"rate", "api"})
ACCEPTING_OUTCOMES = frozenset({"merged"})
REJECTING_OUTCOMES = frozenset({"closed_unmerged", "rolled_back"})


@dataclass(frozen=True)
class FeedbackItem:
    """One feedback row as the judgement needs it."""

    source: str
    rating: int | None
    category: str | None
    body: str | None


@dataclass(frozen=True)
class Verdict:
    """One modification's verdict: accepted (True/False/None: no signal) and its complaints."""

    accepted: bool | None
    complaints: tuple[tuple[Category, str], ...] = ()  # (category, the words that said it)


def normalised_rating(item: FeedbackItem) -> float:
    """Return the rating on -1..1: 1..5 ratings around 3, other sources as given."""
    if item.rating is None:
        return 0.0
    if item.source in RATED_SOURCES:
        return (min(5, max(1, item.rating)) - 3) / 2
    return float(max(-1, min(1, item.rating)))


def judge(items: Sequence[FeedbackItem], rollback_reason: str | None) -> Verdict:
    """Return the verdict: a rollback or unmerged close rejects, a merge accepts, else ratings."""
    complaints = _complaints(items, rollback_reason)
    outcomes = {i.category for i in items if i.source == OUTCOME_SOURCE}
    if rollback_reason or outcomes & REJECTING_OUTCOMES:
        return Verdict(False, complaints)
    if outcomes & ACCEPTING_OUTCOMES:
        return Verdict(True, complaints)
    total = sum(normalised_rating(i) for i in items)
    return Verdict(None if total == 0 else total > 0, complaints)


def _complaints(items: Iterable[FeedbackItem],
                rollback_reason: str | None) -> tuple[tuple[Category, str], ...]:
    found: dict[Category, str] = {}
    for category in classify(rollback_reason):
        found.setdefault(category, f"rolled back: {rollback_reason}")
    for item in items:
        said = item.body or item.category or ""
        for category in (*parse_category_text(item.category), *classify(item.body)):
            found.setdefault(category, said)
    return tuple(found.items())
