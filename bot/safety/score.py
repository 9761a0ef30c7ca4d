"""The safety score: a pure function of the checks' findings, and the level's decision.

Scoring, documented: start at 1.0 and multiply by a factor per finding of each check.
A file that does not parse, a protected path, or a new dangerous call or module gives 0 (no
threshold lets those through). A new bandit issue (medium+) multiplies by 0.5; an import from
outside the standard library, the declared dependencies and the project's own modules by 0.6; a
public name removed or re-signed without a declared API change by 0.7; a diff over the size
limits by 0.8. So one undeclared API change alone passes moderate (0.7 ≥ 0.5) and conservative
(0.7 ≥ 0.7), two (0.49) pass only aggressive; one new bandit issue (0.5) fails conservative and
passes moderate; two (0.25) fail every level.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bot.safety.checks import Check, Finding

FACTORS: dict[Check, float] = {
    Check.PARSES: 0.0,
    Check.PROTECTED_PATH: 0.0,
    Check.DANGEROUS_CALL: 0.0,
    Check.BANDIT: 0.5,
    Check.IMPORT: 0.6,
    Check.PUBLIC_API: 0.7,
    Check.DIFF_SIZE: 0.8,
}


class SafetyLevel(enum.StrEnum):
    """How much risk the repository accepts; each has its score threshold."""

    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"

    @property
    def threshold(self) -> float:
        """Return the lowest score this level accepts."""
        return {"conservative": 0.7, "moderate": 0.5, "aggressive": 0.3}[self.value]


@dataclass(frozen=True)
class SafetyVerdict:
    """The score, whether the level accepts it, and the reasons."""

    score: float
    accepted: bool
    reasons: tuple[str, ...]


def build_score(findings: Sequence[Finding]) -> float:
    """Return the score in [0, 1] for these findings."""
    score = 1.0
    for finding in findings:
        score *= FACTORS[finding.check]
    return round(max(0.0, min(1.0, score)), 4)


def build_verdict(findings: Sequence[Finding], level: SafetyLevel) -> SafetyVerdict:
    """Return the verdict of a level on these findings (accepted when score ≥ threshold)."""
    score = build_score(findings)
    reasons = tuple(f"{f.check.value}: {f.path + ': ' if f.path else ''}{f.message}"
                    for f in findings)
    return SafetyVerdict(score, score >= level.threshold, reasons)
