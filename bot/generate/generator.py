"""The generator: run the rule catalogue where the index says it may pay, and build suggestions."""

from __future__ import annotations

import ast
import difflib
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from bot.analysis.index import process_pool, usable_cores
from bot.errors import GenerationError
from bot.generate.conventions import Style, configured_formatter, format_source
from bot.generate.rename import rename_symbol
from bot.generate.rules import CATALOGUE, RuleTransformer, apply_rule
from bot.generate.rules.base import MODULE_SCOPE, ParsedModule, Site, find_sites, parse_source
from bot.generate.rules.triggers import census
from bot.generate.suggestion import FileChange, ModificationType, Suggestion

if TYPE_CHECKING:
    from bot.analysis.model import CodebaseIndex, FunctionInfo, ModuleInfo

_LOG = logging.getLogger(__name__)
GOAL_TYPES = {
    "improve_performance": ModificationType.PERFORMANCE,
    "fix_bugs": ModificationType.BUG_FIX,
    "refactor": ModificationType.REFACTOR,
    "add_features": ModificationType.FEATURE_ADD,
}
RENAME_RULE_ID = "private-naming"
_CONTEXT_LINES = 1
_NAMING_CONFIDENCE = 0.6
# Parsed modules kept for their rewrites, by characters of source: about 250 MB.
_KEEP_SOURCE_CHARS = 3_000_000
# Below this much code, starting worker processes (and libcst in them) costs more than it saves.
_POOL_MIN_MODULES = 8
_POOL_MIN_BYTES = 400_000
_RULES = {rule.info.rule_id: rule for rule in CATALOGUE}
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


@dataclass(frozen=True)
class GeneratorConfig:
    """Limits and choices of one generation run."""

    max_suggestions: int = 50
    rule_ids: tuple[str, ...] | None = None  # None: the whole catalogue
    hot_spot_limit: int = 50
    modules: frozenset[str] | None = None  # None: every module; else only these (by name)


def style_from_index(index: CodebaseIndex) -> Style:
    """Return the style new code must follow, from the index's detected conventions."""
    conventions = index.conventions
    naming = conventions.variable_naming
    quote = conventions.quote_style.value
    try:
        line_length = int(conventions.line_length.value)
    except ValueError:
        line_length = 88
    return Style(
        naming="camelCase" if naming.value == "camelCase" else "snake_case",
        quote="'" if quote == "single" else '"',
        line_length=line_length,
        formatter=configured_formatter(index.root),
    )


def generate_suggestions(root: Path, index: CodebaseIndex, goals: Iterable[str],
                         config: GeneratorConfig | None = None) -> list[Suggestion]:
    """Return rule suggestions for the goals, hot spots first, one per rule and function.

    Every module is surveyed for where the rules fire; the rewrites themselves (a libcst
    pass and a code generation each) are made in the final order, only until there are
    enough: on a large codebase most candidates would be cut anyway.
    """
    config = config or GeneratorConfig()
    wanted = {GOAL_TYPES[g] for g in goals if g in GOAL_TYPES}
    unknown = [g for g in goals if g not in GOAL_TYPES]
    if unknown:
        raise GenerationError(f"unknown goal(s): {', '.join(unknown)}")
    rules = [r for r in CATALOGUE if r.info.modification_type in wanted
             and (config.rule_ids is None or r.info.rule_id in config.rule_ids)]
    style = style_from_index(index)
    rank = _hot_rank(index, config.hot_spot_limit)
    found, kept = _survey(root, index, rules, style, rank, config.modules)
    if ModificationType.REFACTOR in wanted and (
            config.rule_ids is None or RENAME_RULE_ID in config.rule_ids):
        found.extend(_naming_suggestions(root, index))
    found.sort(key=lambda s: rank.get(s.qualname if isinstance(s, _Candidate)
                                      else s.target_symbols[0], len(rank)))
    suggestions: list[Suggestion] = []
    for item in found:
        if len(suggestions) >= config.max_suggestions:
            break
        if isinstance(item, Suggestion):
            suggestions.append(item)
            continue
        parsed = kept.get(item.path)
        if parsed is None:
            parsed = _parse_for(root, item.path, rules)
            if parsed is None:  # the file changed or went away since its survey
                continue
            kept.keep(item.path, parsed)
        suggestion = _rewrite(item, parsed, style, root)
        if suggestion is not None:
            suggestions.append(suggestion)
    return suggestions


def _survey(root: Path, index: CodebaseIndex, rules: Sequence[type[RuleTransformer]],
            style: Style, rank: dict[str, int], modules: frozenset[str] | None,
            ) -> tuple[list[_Candidate | Suggestion], _ParsedCache]:
    """Return where the rules fire, hottest modules first, and the parsed modules worth
    keeping for the rewrites (those with candidates, within a memory budget; none when the
    survey ran in worker processes)."""
    targets = [m for m in _modules_by_heat(index, rank)
               if modules is None or m.name in modules]
    fired_elsewhere = _survey_in_workers(root, targets, rules, style)
    found: list[_Candidate | Suggestion] = []
    kept = _ParsedCache()
    for module in targets:
        parsed = None
        if fired_elsewhere is not None:
            fired = fired_elsewhere.get(module.path, [])
        else:
            parsed = _parse_for(root, module.path, rules)
            if parsed is None:
                continue
            fired = _fired(rules, parsed, style)
        before = len(found)
        for rule_id, symbols in fired:
            found.extend(_candidates(_RULES[rule_id], symbols, module, index))
        if parsed is not None and len(found) > before:
            kept.keep(module.path, parsed)
    return found, kept


class _ParsedCache:
    """Parsed modules kept for their rewrites, within a memory budget: a libcst tree with its
    positions takes about 85 bytes per character of source. Past the budget only the last
    module is kept (the rewrites of one module mostly come in runs)."""

    def __init__(self, budget_chars: int = _KEEP_SOURCE_CHARS) -> None:
        self.budget = budget_chars
        self.modules: dict[str, ParsedModule] = {}
        self.chars = 0
        self.last: tuple[str, ParsedModule] | None = None

    def get(self, path: str) -> ParsedModule | None:
        if self.last is not None and self.last[0] == path:
            return self.last[1]
        return self.modules.get(path)

    def keep(self, path: str, parsed: ParsedModule) -> None:
        if self.chars + len(parsed.source) <= self.budget:
            self.modules[path] = parsed
            self.chars += len(parsed.source)
        else:
            self.last = (path, parsed)


# What fired in one module: each rule's id, and the symbols it fired in, in source order.
Fired = list[tuple[str, list[str]]]


def _fired(rules: Sequence[type[RuleTransformer]], parsed: ParsedModule, style: Style,
           ) -> Fired:
    fired: Fired = []
    for rule in rules:
        loops_only = rule.info.modification_type is ModificationType.PERFORMANCE
        try:
            sites = find_sites(rule, parsed, style, loops_only=loops_only)
        except RecursionError:
            # Nested deeper than libcst's recursion allows. The survey writes the whole
            # module out once (for positions), so a rewrite of a part cannot fail this way.
            continue
        if sites:
            fired.append((rule.info.rule_id, _symbols_in_order(sites)))
    return fired


def _survey_in_workers(root: Path, targets: Sequence[ModuleInfo],
                       rules: Sequence[type[RuleTransformer]], style: Style,
                       ) -> dict[str, Fired] | None:
    """Survey the modules in worker processes, one per core, when there is enough to do;
    None when there is not, or when the workers fail (then it is done here)."""
    count = usable_cores()
    sizes = {m.path: _size(root / m.path) for m in targets}
    if count < 2 or len(targets) < _POOL_MIN_MODULES or sum(sizes.values()) < _POOL_MIN_BYTES:
        return None
    ids = tuple(r.info.rule_id for r in rules)
    try:
        with process_pool(count, preload=__name__) as pool:
            # The largest first, so no large module is left for one worker at the end.
            futures = {path: pool.submit(survey_module, str(root), path, ids, style)
                       for path in sorted(sizes, key=sizes.__getitem__, reverse=True)}
            return {path: future.result() for path, future in futures.items()}
    except (BrokenProcessPool, OSError) as exc:
        _LOG.warning("survey workers failed (%s); surveying in this process", exc)
        return None


def survey_module(root: str, path: str, rule_ids: Sequence[str], style: Style) -> Fired:
    """In a worker: return what the rules fire on in one module."""
    rules = [_RULES[rule_id] for rule_id in rule_ids]
    parsed = _parse_for(Path(root), path, rules)
    return [] if parsed is None else _fired(rules, parsed, style)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@dataclass(frozen=True)
class _Candidate:
    """A rule that fires in one function (or at module level): its rewrite, not yet made."""

    rule: type[RuleTransformer]
    path: str
    symbol: str
    qualname: str
    function: FunctionInfo | None
    loops_only: bool


def _parse_for(root: Path, path: str, rules: Sequence[type[RuleTransformer]],
               ) -> ParsedModule | None:
    """Parse a module for the rules; None when it cannot be read or parsed, or when it
    holds nothing any of them could rewrite (then libcst's parse, the costly one, is spared).
    """
    source = _read(root / path)
    if source is None:
        return None
    try:
        tree = ast.parse(source)
        found = census(tree)
        if not any(rule.may_fire(found) for rule in rules):
            return None
        # Parsed once: every rule shares the tree and its resolved positions.
        return parse_source(source, tree, found)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _hot_rank(index: CodebaseIndex, limit: int) -> dict[str, int]:
    from bot.analysis.hotspots import rank_hot_spots

    return {spot.qualname: position
            for position, spot in enumerate(rank_hot_spots(index, limit))}


def _modules_by_heat(index: CodebaseIndex, rank: dict[str, int]) -> list[ModuleInfo]:
    modules = [m for m in index.modules.values() if not (m.is_test or m.is_benchmark)]

    def heat(module: ModuleInfo) -> tuple[int, str]:
        best = min((position for name, position in rank.items()
                    if name.startswith(module.name + ".")), default=len(rank))
        return best, module.path

    return sorted(modules, key=heat)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _candidates(rule: type[RuleTransformer], symbols: Sequence[str], module: ModuleInfo,
                index: CodebaseIndex) -> list[_Candidate]:
    loops_only = rule.info.modification_type is ModificationType.PERFORMANCE
    found = []
    for symbol in symbols:
        qualname = module.name if symbol == MODULE_SCOPE else f"{module.name}.{symbol}"
        function = index.function(qualname)
        if loops_only and (function is None or not function.loops):
            # The index shows no loop here: nothing worth proving faster.
            continue
        found.append(_Candidate(rule, module.path, symbol, qualname, function, loops_only))
    return found


def _rewrite(candidate: _Candidate, parsed: ParsedModule, style: Style,
             root: Path) -> Suggestion | None:
    """Make a candidate's rewrite; None when it no longer fires or cannot be kept."""
    rule, path, qualname = candidate.rule, candidate.path, candidate.qualname
    result = apply_rule(rule, parsed, style, only=frozenset({candidate.symbol}),
                        loops_only=candidate.loops_only)
    if not result.sites:
        return None
    modified = _finish(result.source, parsed.source, style, root, path)
    if modified is None:
        _LOG.info("rule %s: %s dropped (would break the line length or not compile)",
                  rule.info.rule_id, qualname)
        return None
    return build_rule_suggestion(rule, path, qualname, candidate.function, parsed.source,
                                 modified, result.sites)


def _symbols_in_order(sites: Sequence[Site]) -> list[str]:
    seen: dict[str, None] = {}
    for site in sites:
        seen.setdefault(site.symbol, None)
    return list(seen)


def _finish(modified: str, original: str, style: Style, root: Path, path: str) -> str | None:
    """Return the modified source in the repository's style, or None if it cannot be."""
    if style.formatter is not None and format_source(original, style, root, path) == original:
        # The file was formatter-clean, so formatting ours touches only what we changed.
        formatted = format_source(modified, style, root, path)
        modified = formatted if formatted is not None else modified
    if style.long_lines(original, modified):
        return None
    try:
        compile(modified, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return modified


def build_rule_suggestion(rule: type[RuleTransformer], path: str, qualname: str,
                          function: FunctionInfo | None, original: str, modified: str,
                          sites: Sequence[Site]) -> Suggestion:
    """Build the Suggestion for one rule's rewrite of one function."""
    info = rule.info
    before, after = build_excerpts(original, modified)
    lines = sorted({site.line for site in sites})
    where = f"{path}:{lines[0]}" if lines else path
    notes = "; ".join(dict.fromkeys(site.note for site in sites))
    kind = "function" if function is not None else "code"
    reasoning = (
        f"In the {kind} `{qualname}` ({where}): {notes}. {info.title}: {info.effect}. "
        f"The rule `{info.rule_id}` fired only because its preconditions hold here: "
        + " ".join(f"({n}) {p}." for n, p in enumerate(info.preconditions, 1))
    )
    return Suggestion(
        modification_type=info.modification_type,
        files=(FileChange(path, original, modified),),
        original_code=before,
        modified_code=after,
        reasoning=reasoning,
        rule_id=info.rule_id,
        target_symbols=(qualname,),
        expected_effect=info.effect,
        title=f"{info.title} in {qualname.rsplit('.', 1)[-1]}",
    )


def build_excerpts(original: str, modified: str) -> tuple[str, str]:
    """Return the changed regions of both texts, with a line of context."""
    old, new = original.splitlines(keepends=True), modified.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    before: list[str] = []
    after: list[str] = []
    for group in matcher.get_grouped_opcodes(_CONTEXT_LINES):
        if before:
            before.append("...\n")
            after.append("...\n")
        before.extend(old[group[0][1]:group[-1][2]])
        after.extend(new[group[0][3]:group[-1][4]])
    return "".join(before), "".join(after)


def _naming_suggestions(root: Path, index: CodebaseIndex) -> list[Suggestion]:
    convention = index.conventions.function_naming
    if convention.confidence < _NAMING_CONFIDENCE:
        return []
    public = {s.qualname for s in index.public_api} | {s.defined_at for s in index.public_api}
    found = []
    for function in sorted(index.functions.values(), key=lambda f: f.qualname):
        new_name = _conventional(function.name, convention.value)
        module = index.modules.get(function.module)
        if (new_name is None or module is None or module.is_test
                or function.qualname != f"{function.module}.{function.name}"):
            continue
        try:
            changes = rename_symbol(root, function.path, function.name, new_name, public=public)
        except GenerationError as exc:
            _LOG.info("%s: not renamed: %s", function.qualname, exc)
            continue
        if changes:
            found.append(build_rename_suggestion(function, new_name, convention.value, changes))
    return found


def _conventional(name: str, style: str) -> str | None:
    """Return the private name in the repository's style, or None when it already fits."""
    if not name.startswith("_") or name.startswith("__"):
        return None
    bare = name[1:]
    if style == "snake_case" and bare[:1].islower() and _CAMEL_HUMP.search(bare) and (
            "_" not in bare):
        return "_" + _CAMEL_HUMP.sub(lambda m: "_" + m.group(1).lower(), bare)
    if style == "camelCase" and "_" in bare.strip("_") and bare.islower():
        head, *rest = bare.split("_")
        return "_" + head + "".join(word.capitalize() for word in rest if word)
    return None


def build_rename_suggestion(function: FunctionInfo, new_name: str, style: str,
                            changes: Collection[FileChange]) -> Suggestion:
    """Build the Suggestion for a project-wide rename of a private function."""
    files = tuple(changes)
    before = "".join(build_excerpts(c.original or "", c.modified or "")[0] for c in files)
    after = "".join(build_excerpts(c.original or "", c.modified or "")[1] for c in files)
    return Suggestion(
        modification_type=ModificationType.REFACTOR,
        files=files,
        original_code=before,
        modified_code=after,
        reasoning=(f"The private function `{function.qualname}` is named `{function.name}`, "
                   f"but the repository names functions in {style}. Renaming it to "
                   f"`{new_name}` updates every reference in {len(files)} file(s); it is "
                   "private (leading underscore, not in __all__ or the public API), so no "
                   "user of the package can depend on the old name."),
        rule_id=RENAME_RULE_ID,
        target_symbols=(function.qualname,),
        expected_effect=f"consistent {style} naming; no behaviour change",
        title=f"Rename {function.name} to {new_name}",
    )
