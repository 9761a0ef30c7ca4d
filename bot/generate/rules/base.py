"""What every rule codemod shares: scope tracking, sites, refusals and module additions."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from bot.generate.conventions import Style
from bot.generate.rules.facts import FunctionFacts, ModuleFacts, function_facts, module_facts
from bot.generate.rules.triggers import census
from bot.generate.suggestion import ModificationType

MODULE_SCOPE = "<module>"
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass(frozen=True)
class RuleInfo:
    """A rule's identity, kind and the preconditions that make it behaviour-preserving."""

    rule_id: str
    modification_type: ModificationType
    title: str
    preconditions: tuple[str, ...]
    effect: str


@dataclass(frozen=True)
class Site:
    """One place a rule rewrote: the enclosing function (local qualname), line and what."""

    symbol: str
    line: int
    note: str


@dataclass(frozen=True)
class Refusal:
    """One place a rule looked at and left alone, with the precondition that failed."""

    symbol: str
    line: int
    reason: str


@dataclass(frozen=True)
class RuleResult:
    """The rewritten source (unchanged when nothing fired) and what happened where."""

    source: str
    sites: tuple[Site, ...]
    refusals: tuple[Refusal, ...]

    @property
    def changed(self) -> bool:
        """Return whether the rule rewrote anything."""
        return bool(self.sites)


@dataclass
class _Scope:
    name: str
    is_function: bool
    facts: FunctionFacts | None = None


@dataclass
class _ModuleAdditions:
    imports: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = field(
        default_factory=list)
    constants: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = field(
        default_factory=list)
    keys: set[str] = field(default_factory=set)


class RuleTransformer(cst.CSTTransformer):
    """Base of the rule codemods; subclasses set `info` and override leave_* hooks."""

    METADATA_DEPENDENCIES = (PositionProvider,)
    info: ClassVar[RuleInfo]
    # The census triggers (bot.generate.rules.triggers) of which a module must hold one for
    # this rule to have anything to rewrite there; None: always walk the module.
    triggers: ClassVar[frozenset[str] | None] = None

    @classmethod
    def may_fire(cls, found: frozenset[str]) -> bool:
        """Tell whether a census (of a module or a function) holds one of the triggers."""
        return cls.triggers is None or not cls.triggers.isdisjoint(found)

    def __init__(self, parsed: ParsedModule, style: Style, only: frozenset[str] | None,
                 loops_only: bool = False) -> None:
        super().__init__()
        self.loops_only = loops_only
        self.parsed = parsed
        self.module_facts = parsed.facts
        self.names_used = set(parsed.names)
        self.style = style
        self.only = only
        self.import_block_names = parsed.import_block_names
        self.sites: list[Site] = []
        self.refusals: list[Refusal] = []
        self.additions = _ModuleAdditions()
        self._scopes: list[_Scope] = []
        self.loop_depth = 0
        self.try_depth = 0
        self._module: cst.Module | None = None
        self._saved_depths: list[tuple[int, int]] = []
        self._skipped: list[bool] = []

    # Scope and context tracking -------------------------------------------------------------

    def visit_Module(self, node: cst.Module) -> None:
        self._module = node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._scopes.append(_Scope(node.name.value, is_function=False))

    def leave_ClassDef(self, original_node: cst.ClassDef,
                       updated_node: cst.ClassDef) -> cst.ClassDef:
        self._scopes.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        line = self.line(node.name)
        facts = self.parsed.function_facts(line)
        if facts is None:
            tree = ast.parse(self.code(node).strip("\n") + "\n")
            fn = tree.body[0]
            assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            facts = function_facts(fn)
        self._scopes.append(_Scope(node.name.value, is_function=True, facts=facts))
        self._saved_depths.append((self.loop_depth, self.try_depth))
        self.loop_depth = self.try_depth = 0
        # Walking a function's body is most of a rule's cost: skip the bodies it cannot touch.
        skip = self._is_out_of_scope(line)
        self._skipped.append(skip)
        return not skip

    def _is_out_of_scope(self, line: int) -> bool:
        """Tell whether nothing in this function can fire: not wanted, or loopless."""
        symbol = self.symbol
        if self.only is not None and not any(
                wanted == symbol or wanted.startswith(symbol + ".") for wanted in self.only):
            return True
        found = self.parsed.function_census(line)
        if found is not None and not self.may_fire(found):
            return True  # nothing in this function (nested ones included) could fire
        return self.loops_only and self.parsed.has_loops(line) is False

    def leave_FunctionDef(self, original_node: cst.FunctionDef,
                          updated_node: cst.FunctionDef) -> cst.FunctionDef:
        skipped = self._skipped.pop()
        result = updated_node if skipped else self.rewrite_function(original_node, updated_node)
        self._scopes.pop()
        self.loop_depth, self.try_depth = self._saved_depths.pop()
        return result

    def rewrite_function(self, original: cst.FunctionDef,
                         updated: cst.FunctionDef) -> cst.FunctionDef:
        """Rewrite a whole function after its body; the default keeps it."""
        return updated

    def visit_For_body(self, node: cst.For) -> None:
        self.loop_depth += 1

    def leave_For_body(self, node: cst.For) -> None:
        self.loop_depth -= 1

    def visit_While_body(self, node: cst.While) -> None:
        self.loop_depth += 1

    def leave_While_body(self, node: cst.While) -> None:
        self.loop_depth -= 1

    def visit_While_test(self, node: cst.While) -> None:
        self.loop_depth += 1

    def leave_While_test(self, node: cst.While) -> None:
        self.loop_depth -= 1

    def visit_CompFor_ifs(self, node: cst.CompFor) -> None:
        self.loop_depth += 1

    def leave_CompFor_ifs(self, node: cst.CompFor) -> None:
        self.loop_depth -= 1

    def visit_Try(self, node: cst.Try) -> None:
        self.try_depth += 1

    def leave_Try(self, original_node: cst.Try, updated_node: cst.Try) -> cst.Try:
        self.try_depth -= 1
        return updated_node

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self.try_depth += 1

    def leave_TryStar(self, original_node: cst.TryStar,
                      updated_node: cst.TryStar) -> cst.TryStar:
        self.try_depth -= 1
        return updated_node

    # Helpers for the rules --------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        """Return the local qualified name of the innermost function or class (or module)."""
        parts: list[str] = []
        for index, scope in enumerate(self._scopes):
            parts.append(scope.name)
            if scope.is_function and index + 1 < len(self._scopes):
                parts.append("<locals>")
        return ".".join(parts) or MODULE_SCOPE

    @property
    def function(self) -> FunctionFacts | None:
        """Return the facts of the innermost scope when it is a function (not a class body)."""
        if self._scopes and self._scopes[-1].is_function:
            return self._scopes[-1].facts
        return None

    @property
    def in_function(self) -> bool:
        """Return whether the code being visited runs in a function's own scope."""
        return self.function is not None

    def code(self, node: cst.CSTNode) -> str:
        """Return the source text of a node."""
        assert self._module is not None
        return self._module.code_for_node(node)

    def expr_ast(self, node: cst.BaseExpression) -> ast.expr:
        """Return the `ast` form of an expression node."""
        return ast.parse("(" + self.code(node).strip() + "\n)", mode="eval").body

    def line(self, node: cst.CSTNode) -> int:
        """Return the node's first line in the original source."""
        try:
            return int(self.get_metadata(PositionProvider, node).start.line)
        except KeyError:
            return 0

    def fire(self, node: cst.CSTNode, note: str) -> bool:
        """Record a rewrite at `node` and say whether this run may perform it."""
        symbol = self.symbol
        if self.only is not None and symbol not in self.only:
            return False
        self.sites.append(Site(symbol, self.line(node), note))
        return True

    def refuse(self, node: cst.CSTNode, reason: str) -> None:
        """Record that a precondition failed at `node`."""
        self.refusals.append(Refusal(self.symbol, self.line(node), reason))

    def new_name(self, base: str, *, constant: bool = False, private: bool = False) -> str:
        """Return a fresh identifier in the repository's style, unused anywhere in the module."""
        words = [w for part in base.replace("-", "_").split("_")
                 for w in _WORD.findall(part)]
        name = self.style.constant_name(words) if constant else self.style.local_name(words)
        if private:
            name = "_" + name
        candidate, counter = name, 2
        while candidate in self.names_used or candidate in self.module_facts.bound:
            candidate = f"{name}{'_' if constant or '_' in name else ''}{counter}"
            counter += 1
        self.names_used.add(candidate)
        return candidate

    def add_import(self, key: str, code: str) -> None:
        """Add a top-level import once, at the end of the module's leading import block."""
        if key not in self.additions.keys:
            self.additions.keys.add(key)
            self.additions.imports.append(cst.parse_statement(code))

    def add_constant(self, key: str, code: str) -> None:
        """Add a module constant once, after the leading import block, set off by a blank."""
        if key not in self.additions.keys:
            self.additions.keys.add(key)
            statement = cst.parse_statement(code)
            if not self.additions.constants:
                statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
            self.additions.constants.append(statement)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        added = [*self.additions.imports, *self.additions.constants]
        if not added:
            return updated_node
        position = import_block_end(updated_node.body)
        body = list(updated_node.body)
        body[position:position] = added
        return updated_node.with_changes(body=body)


def import_block_end(body: Sequence[cst.BaseStatement]) -> int:
    """Return the index just after the leading run of docstring and import statements."""
    end = 0
    for index, stmt in enumerate(body):
        if not isinstance(stmt, cst.SimpleStatementLine):
            break
        small = stmt.body
        if all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in small):
            end = index + 1
        elif index == 0 and len(small) == 1 and isinstance(small[0], cst.Expr) and isinstance(
                small[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            end = 1
        else:
            break
    return end


def _import_block_names(body: Sequence[cst.BaseStatement]) -> frozenset[str]:
    names: set[str] = set()
    for stmt in body[:import_block_end(body)]:
        assert isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if alias.asname is None:
                        names.add(cst.Module([]).code_for_node(alias.name).split(".")[0])
            elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    if alias.asname is None and isinstance(alias.name, cst.Name):
                        names.add(alias.name.value)
    return frozenset(names)


@dataclass
class ParsedModule:
    """One module parsed once (libcst and ast) and shared by every rule run over it."""

    source: str
    wrapper: MetadataWrapper
    facts: ModuleFacts
    names: frozenset[str]
    import_block_names: frozenset[str]
    defs: dict[int, ast.FunctionDef | ast.AsyncFunctionDef]
    census: frozenset[str]
    _function_facts: dict[int, FunctionFacts] = field(default_factory=dict)
    _function_census: dict[int, frozenset[str]] = field(default_factory=dict)

    def function_facts(self, line: int) -> FunctionFacts | None:
        """Return the facts of the function whose name stands on `line`, computed once."""
        if line not in self._function_facts:
            node = self.defs.get(line)
            if node is None:
                return None
            self._function_facts[line] = function_facts(node)
        return self._function_facts[line]

    def function_census(self, line: int) -> frozenset[str] | None:
        """Return the census triggers of the function whose name stands on `line` (its
        parameters, decorators and nested functions included), computed once; None when no
        def stands there."""
        found = self._function_census.get(line)
        if found is None:
            node = self.defs.get(line)
            if node is None:
                return None
            found = self._function_census[line] = census(node)
        return found

    def has_loops(self, line: int) -> bool | None:
        """Tell whether the function whose name stands on `line` has a loop or comprehension
        anywhere (nested functions included); None when no def stands there."""
        node = self.defs.get(line)
        if node is None:
            return None
        return any(isinstance(n, _LOOPS) for n in ast.walk(node))


def parse_source(source: str, tree: ast.Module | None = None,
                 found: frozenset[str] | None = None) -> ParsedModule:
    """Parse a module for the rules; raise libcst.ParserSyntaxError or SyntaxError.

    `tree` and `found` are the source's `ast` and its census when the caller has them already.
    """
    module = cst.parse_module(source)
    if tree is None:
        tree = ast.parse(source)
    names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    defs: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The name stands on the `def` line; two defs never share one.
            defs[node.lineno] = node
    return ParsedModule(source, MetadataWrapper(module, unsafe_skip_copy=True),
                        module_facts(tree), names, _import_block_names(module.body), defs,
                        census(tree) if found is None else found)


def apply_rule(rule: type[RuleTransformer], source: str | ParsedModule, style: Style,
               only: frozenset[str] | None = None, *, loops_only: bool = False) -> RuleResult:
    """Run one rule over a module; raise libcst.ParserSyntaxError on a source that won't parse.

    `only` limits the rewrites (and the walk) to those functions; `loops_only` skips the
    bodies of functions without a loop, where a performance rule has nothing worth proving.
    """
    parsed = parse_source(source) if isinstance(source, str) else source
    visited = _visit(rule, parsed, style, only, loops_only)
    if visited is None:
        return RuleResult(parsed.source, (), ())
    transformer, result = visited
    code = result.code if transformer.sites else parsed.source
    return RuleResult(code, tuple(transformer.sites), tuple(transformer.refusals))


def find_sites(rule: type[RuleTransformer], parsed: ParsedModule, style: Style, *,
               loops_only: bool = False) -> tuple[Site, ...]:
    """Return where the rule would rewrite the module, without writing the new source out
    (a fifth of a survey's cost on a large module)."""
    visited = _visit(rule, parsed, style, None, loops_only)
    return () if visited is None else tuple(visited[0].sites)


def _visit(rule: type[RuleTransformer], parsed: ParsedModule, style: Style,
           only: frozenset[str] | None, loops_only: bool,
           ) -> tuple[RuleTransformer, cst.Module] | None:
    """Walk the module with the rule; None when its census holds none of the triggers."""
    if not rule.may_fire(parsed.census):
        return None
    transformer = rule(parsed, style, only, loops_only)
    return transformer, parsed.wrapper.visit(transformer)
