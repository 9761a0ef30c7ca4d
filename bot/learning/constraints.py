"""Constraints on generated changes: the repository's conventions, tightened by its feedback."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.generate.suggestion import ModificationType, Suggestion
from bot.learning.categories import Category
from bot.learning.patterns import (
    Naming,
    api_contract_changes,
    error_code_sites,
    naming_violations,
    parse,
    thread_sites,
)

# A convention measured with less confidence than this binds only after feedback about it.
CONVENTION_CONFIDENCE = 0.6
_READABLE_GROWTH = 10  # net lines a change may add once readability was complained about
_STRICT_MIN_IMPROVEMENT = 0.30


@dataclass(frozen=True)
class Conventions:
    """The conventions a change must follow (None: no binding convention)."""

    naming: Naming | None = None
    error_handling: str | None = None  # "exceptions" or "return_codes"
    concurrency: str | None = None  # "asyncio" or "threads"


@dataclass(frozen=True)
class Constraints:
    """Everything a candidate must satisfy in one repository, and why each applies."""

    conventions: Conventions = field(default_factory=Conventions)
    strict: frozenset[Category] = frozenset()
    why: tuple[tuple[Category, str], ...] = ()  # the feedback that tightened each category

    @property
    def min_improvement(self) -> float | None:
        """Return the stricter speed-up a performance change needs, if feedback asked for it."""
        return _STRICT_MIN_IMPROVEMENT if Category.PERFORMANCE in self.strict else None


def build_conventions(detected: dict[str, tuple[str, float]],
                      strict: Iterable[Category] = ()) -> Conventions:
    """Return the binding conventions from detected (value, confidence) pairs.

    Naming feedback makes the naming convention bind whatever its confidence.
    """
    strict = frozenset(strict)

    def binding(name: str, allowed: tuple[str, ...], forced: bool = False) -> str | None:
        value, confidence = detected.get(name, ("", 0.0))
        if value in allowed and (confidence >= CONVENTION_CONFIDENCE or (forced and value)):
            return value
        return None

    naming = binding("function_naming", ("snake_case", "camelCase"),
                     forced=Category.NAMING in strict)
    return Conventions(
        naming="camelCase" if naming == "camelCase" else "snake_case" if naming else None,
        error_handling=binding("error_handling", ("exceptions", "return_codes")),
        concurrency=binding("concurrency", ("asyncio", "threads")))


def check_constraints(suggestion: Suggestion, constraints: Constraints) -> list[str]:
    """Return every reason the suggestion breaks a constraint (empty: it may go on)."""
    reasons: list[str] = []
    strict = constraints.strict
    if Category.CORRECTNESS in strict and suggestion.modification_type in (
            ModificationType.BUG_FIX, ModificationType.FEATURE_ADD):
        reasons.append("learned (correctness): this repository takes only changes that keep "
                       f"behaviour, and a {suggestion.modification_type.value} changes it")
    for change in suggestion.files:
        if not change.path.endswith(".py") or change.modified is None:
            continue
        reasons += [f"{change.path}: {r}" for r in _check_file(
            change.original, change.modified, constraints)]
    return reasons


def _check_file(original: str | None, modified: str, constraints: Constraints) -> list[str]:
    found = []
    strict, conventions = constraints.strict, constraints.conventions
    if Category.API_CONTRACT in strict:
        found += [f"learned (API contract): {c}" for c in api_contract_changes(original,
                                                                               modified)]
    if conventions.naming is not None:
        bad = naming_violations(modified, conventions.naming, original)
        if bad:
            found.append(f"new names not in {conventions.naming}: {', '.join(bad)}")
    if conventions.error_handling == "exceptions":
        found += [f"return codes in a repository that raises exceptions: {s}"
                  for s in _added(error_code_sites(original), error_code_sites(modified))]
    if conventions.concurrency == "asyncio":
        found += [f"threads in a repository that uses asyncio: {s}"
                  for s in _added(thread_sites(original), thread_sites(modified))]
    elif conventions.concurrency == "threads" and _async_defs(modified) > _async_defs(original):
        found.append("adds coroutines to a repository that uses threads")
    if Category.READABILITY in strict:
        found += _readability(original, modified)
    return found


def _added(before: list[str], after: list[str]) -> list[str]:
    """Return the sites of `after` beyond those `before` had (line numbers move, so by text)."""
    def strip(site: str) -> str:
        return site.split(": ", 1)[-1]

    left = [strip(s) for s in before]
    extra = []
    for site in after:
        if strip(site) in left:
            left.remove(strip(site))
        else:
            extra.append(site)
    return extra


def _async_defs(code: str | None) -> int:
    tree = parse(code)
    return sum(isinstance(n, ast.AsyncFunctionDef) for n in ast.walk(tree)) if tree else 0


def _depth(code: str | None) -> int:
    tree = parse(code)
    if tree is None:
        return 0
    blocks = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)

    def walk(node: ast.AST, level: int) -> int:
        level += isinstance(node, blocks)
        return max([level, *(walk(child, level) for child in ast.iter_child_nodes(node))])

    return walk(tree, 0)


def _readability(original: str | None, modified: str) -> list[str]:
    found = []
    if _depth(modified) > _depth(original):
        found.append(f"learned (readability): nests deeper ({_depth(original)} → "
                     f"{_depth(modified)} levels)")
    growth = len(modified.splitlines()) - len((original or "").splitlines())
    if growth > _READABLE_GROWTH:
        found.append(f"learned (readability): adds {growth} lines")
    return found
