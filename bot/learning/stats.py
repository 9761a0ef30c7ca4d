"""Per-repository acceptance of each rule as Beta-Bernoulli, and the ranking it gives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
ALL_AREAS = ""  # the area key of a rule's repository-wide statistics


@dataclass(frozen=True)
class Prior:
    """The Beta prior every rule starts from, and when its acceptance is too low to fire."""

    alpha: float = 1.0
    beta: float = 1.0
    threshold: float = 0.2  # expected acceptance under which a rule stops firing
    min_rejections: int = 5  # never stop a rule on fewer rejections than this


@dataclass(frozen=True)
class Acceptance:
    """Observed outcomes of one rule in one area of one repository."""

    accepted: int = 0
    rejected: int = 0

    def add(self, accepted: bool) -> Acceptance:
        """Return the counts with one more outcome."""
        return Acceptance(self.accepted + accepted, self.rejected + (not accepted))

    def expected(self, prior: Prior) -> float:
        """Return the posterior mean of the acceptance probability."""
        return (prior.alpha + self.accepted) / (
            prior.alpha + prior.beta + self.accepted + self.rejected)

    def is_too_low(self, prior: Prior) -> bool:
        """Tell whether enough rejections pushed the expected acceptance under the threshold."""
        return self.rejected >= prior.min_rejections and self.expected(prior) < prior.threshold


@dataclass(frozen=True)
class Observation:
    """One modification's verdict: its rule, the area of code it touched, accepted or not."""

    rule_id: str
    area: str
    accepted: bool


def area_of(path: str) -> str:
    """Return the area of the code a file belongs to: its top folder, or the file itself."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return ALL_AREAS
    if parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    return parts[0]


def tally(observations: Iterable[Observation]) -> dict[tuple[str, str], Acceptance]:
    """Count outcomes per (rule, area), and per (rule, ALL_AREAS) for the whole repository."""
    counts: dict[tuple[str, str], Acceptance] = {}
    for seen in observations:
        for key in {(seen.rule_id, ALL_AREAS), (seen.rule_id, seen.area)}:
            counts[key] = counts.get(key, Acceptance()).add(seen.accepted)
    return counts


def expected_acceptance(counts: Mapping[tuple[str, str], Acceptance], rule_id: str, area: str,
                        prior: Prior) -> float:
    """Return the acceptance to expect of a rule in an area (the area's when it has data)."""
    local = counts.get((rule_id, area))
    if local is not None and area != ALL_AREAS:
        # The repository-wide posterior is the prior of the area's.
        wide = counts.get((rule_id, ALL_AREAS), Acceptance())
        weight = 2.0
        mean = wide.expected(prior)
        return (mean * weight + local.accepted) / (weight + local.accepted + local.rejected)
    return counts.get((rule_id, ALL_AREAS), Acceptance()).expected(prior)


def suppressed_by_statistics(counts: Mapping[tuple[str, str], Acceptance],
                             prior: Prior) -> dict[tuple[str, str], str]:
    """Return the (rule, area) pairs whose acceptance fell under the threshold, with why."""
    found = {}
    for (rule_id, area), seen in sorted(counts.items()):
        if seen.is_too_low(prior):
            where = "in this repository" if area == ALL_AREAS else f"in `{area}`"
            found[(rule_id, area)] = (
                f"{seen.rejected} of {seen.accepted + seen.rejected} proposals rejected "
                f"{where}; expected acceptance {seen.expected(prior):.0%} is under "
                f"{prior.threshold:.0%}")
    return found


def rank(items: Sequence[T], *, acceptance: Callable[[T], float],
         benefit: Callable[[T], float]) -> list[T]:
    """Order items by expected acceptance times expected benefit, best first (stable on ties)."""
    scored = [(-(acceptance(item) * benefit(item)), position, item)
              for position, item in enumerate(items)]
    return [item for _, _, item in sorted(scored, key=lambda s: (s[0], s[1]))]
