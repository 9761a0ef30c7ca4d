"""Validate a Suggestion statically: run every check, score it, keep the reasons."""

from __future__ import annotations

from bot.generate.suggestion import Suggestion
from bot.safety.checks import (
    Finding,
    Policy,
    check_bandit,
    check_calls_and_imports,
    check_parses,
    check_protected,
    check_public_api,
    check_size,
)
from bot.safety.score import SafetyLevel, SafetyVerdict, build_verdict


def find_problems(suggestion: Suggestion, policy: Policy) -> list[Finding]:
    """Return every finding of every check over the suggestion's files."""
    findings: list[Finding] = []
    for change in suggestion.files:
        findings += check_protected(change, policy)
        parse = check_parses(change)
        findings += parse
        if parse:
            continue  # the other checks need a tree
        findings += check_calls_and_imports(change, policy)
        findings += check_public_api(change, suggestion.declares_api_change)
        findings += check_bandit(change)
    findings += check_size(suggestion, policy)
    return findings


def validate(suggestion: Suggestion, policy: Policy,
             level: SafetyLevel) -> tuple[Suggestion, SafetyVerdict]:
    """Return the suggestion carrying its score and reasons, and the level's verdict."""
    verdict = build_verdict(find_problems(suggestion, policy), level)
    return suggestion.with_safety(verdict.score, verdict.reasons), verdict
