"""The catalogue of rule codemods, each with the preconditions that keep behaviour."""

from __future__ import annotations

from bot.generate.rules.base import RuleInfo, RuleResult, RuleTransformer, apply_rule
from bot.generate.rules.bug_fix import (
    BareExcept,
    EqNone,
    IsLiteral,
    MutableDefault,
    MutateWhileIterating,
)
from bot.generate.rules.performance import (
    AppendComprehension,
    DequeQueue,
    MembershipSet,
    RedundantCopy,
    RegexHoist,
    SortedMin,
    StringJoin,
)
from bot.generate.rules.refactor import DuplicateBranches, RedundantElse, Unreachable

CATALOGUE: tuple[type[RuleTransformer], ...] = (
    MembershipSet, RegexHoist, StringJoin, SortedMin, DequeQueue, AppendComprehension,
    RedundantCopy, MutableDefault, IsLiteral, BareExcept, EqNone, MutateWhileIterating,
    Unreachable, RedundantElse, DuplicateBranches,
)


def rule_by_id(rule_id: str) -> type[RuleTransformer]:
    """Return the rule with this id; raise KeyError naming the known ids."""
    for rule in CATALOGUE:
        if rule.info.rule_id == rule_id:
            return rule
    raise KeyError(f"no rule {rule_id!r}; known: {', '.join(r.info.rule_id for r in CATALOGUE)}")


__all__ = ["CATALOGUE", "RuleInfo", "RuleResult", "RuleTransformer", "apply_rule", "rule_by_id"]
