"""Read-only facts the rules check their preconditions against, computed with `ast`."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

_BUILTINS = frozenset(dir(builtins))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# Functions and methods whose result is always an exact `str`, whatever they are given.
_STR_FUNCTIONS = frozenset({"str", "repr", "ascii", "format", "chr", "hex", "oct", "bin"})
_STR_METHODS = frozenset({
    "join", "format", "lower", "upper", "strip", "lstrip", "rstrip", "replace", "casefold",
    "title", "capitalize", "center", "ljust", "rjust", "zfill", "expandtabs", "swapcase",
    "removeprefix", "removesuffix", "format_map",
})
_INT_FUNCTIONS = frozenset({"len", "ord", "int"})


@dataclass
class ModuleFacts:
    """Names bound anywhere in a module and its top-level plain imports."""

    bound: dict[str, int] = field(default_factory=dict)  # name -> how many binding sites
    plain_imports: dict[str, str] = field(default_factory=dict)  # `import re` -> {"re": "re"}
    from_imports: dict[str, str] = field(default_factory=dict)  # bound name -> "mod.name"
    has_future_annotations: bool = False

    def is_builtin(self, name: str) -> bool:
        """Return whether `name` means the builtin: it is one and nothing rebinds it."""
        return name in _BUILTINS and name not in self.bound

    def is_plain_module(self, name: str, module: str) -> bool:
        """Return whether `name` is bound only by a top-level `import module`."""
        return self.plain_imports.get(name) == module and self.bound.get(name) == 1

    def is_imported_from(self, name: str, target: str) -> bool:
        """Return whether `name` is bound only by a top-level `from x import y`."""
        return self.from_imports.get(name) == target and self.bound.get(name) == 1


@dataclass
class FunctionFacts:
    """How a function binds and reads its names (nested scopes reported apart)."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    params: set[str] = field(default_factory=set)
    assignments: dict[str, list[ast.expr | None]] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    nested_names: set[str] = field(default_factory=set)  # any name used in a nested scope
    parents: dict[int, ast.AST] = field(default_factory=dict)

    def is_plain_local(self, name: str) -> bool:
        """Return whether `name` is a local no nested scope, global or nonlocal can see."""
        return (name in self.assignments and name not in self.params
                and name not in self.declared and name not in self.nested_names)

    def occurrences(self, name: str) -> list[ast.Name]:
        """Return every `Name` node for `name` in the function's own scope."""
        return [n for n in own_nodes(self.node) if isinstance(n, ast.Name) and n.id == name]

    def parent(self, node: ast.AST) -> ast.AST | None:
        """Return the node's parent inside the function."""
        return self.parents.get(id(node))


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Yield the nodes below `node` that belong to its scope (nested defs, lambdas skipped)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if isinstance(child, _SCOPES):
            # Decorators and defaults belong to the outer scope; the body does not.
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.extend(child.decorator_list)
                stack.extend(child.args.defaults)
                stack.extend(d for d in child.args.kw_defaults if d is not None)
            continue
        stack.extend(ast.iter_child_nodes(child))


def module_facts(tree: ast.Module) -> ModuleFacts:
    """Collect every binding site in the module and its top-level imports."""
    facts = ModuleFacts()

    def bind(name: str) -> None:
        facts.bound[name] = facts.bound.get(name, 0) + 1

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bind(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(node.name)
        elif isinstance(node, ast.arg):
            bind(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bind(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bind(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                bind(name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bind(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bind(node.rest)
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname is None and "." not in alias.name:
                    facts.plain_imports[alias.name] = alias.name
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            if stmt.module == "__future__":
                facts.has_future_annotations |= any(a.name == "annotations" for a in stmt.names)
            for alias in stmt.names:
                facts.from_imports[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
    return facts


def function_facts(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionFacts:
    """Collect the function's parameters, assignments and names seen by nested scopes."""
    facts = FunctionFacts(node)
    arguments = node.args
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                arguments.vararg, arguments.kwarg):
        if arg is not None:
            facts.params.add(arg.arg)
            facts.assignments.setdefault(arg.arg, []).append(None)
    for child in ast.iter_child_nodes(node):
        facts.parents[id(child)] = node
    for sub in own_nodes(node):
        for child in ast.iter_child_nodes(sub):
            facts.parents[id(child)] = sub
        _record_binding(facts, sub)
    for sub in ast.walk(node):
        if isinstance(sub, _SCOPES) and sub is not node:
            for inner in ast.walk(sub):
                if isinstance(inner, ast.Name):
                    facts.nested_names.add(inner.id)
    return facts


def _record_binding(facts: FunctionFacts, sub: ast.AST) -> None:
    if isinstance(sub, (ast.Global, ast.Nonlocal)):
        facts.declared.update(sub.names)
    elif isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(
            sub.targets[0], ast.Name):
        facts.assignments.setdefault(sub.targets[0].id, []).append(sub.value)
    elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
        facts.assignments.setdefault(sub.target.id, []).append(sub.value)
    elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
        # Recorded as the value it adds: `s += "x"` keeps a str a str.
        value = sub.value if isinstance(sub.op, ast.Add) else None
        facts.assignments.setdefault(sub.target.id, []).append(value)
    elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
        parent = facts.parents.get(id(sub))
        simple = isinstance(parent, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and (
            getattr(parent, "target", None) is sub or sub in getattr(parent, "targets", ()))
        if not simple:
            facts.assignments.setdefault(sub.id, []).append(None)
    elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        facts.assignments.setdefault(sub.name, []).append(None)
    elif isinstance(sub, (ast.Import, ast.ImportFrom)):
        for alias in sub.names:
            facts.assignments.setdefault(alias.asname or alias.name.split(".")[0], []).append(None)
    elif isinstance(sub, ast.ExceptHandler) and sub.name:
        facts.assignments.setdefault(sub.name, []).append(None)


def is_known_str(expr: ast.expr, module: ModuleFacts, function: FunctionFacts | None,
                 depth: int = 0) -> bool:
    """Return whether `expr` certainly evaluates to a `str` (or raises before it does)."""
    if depth > 4:
        return False
    again = depth + 1
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name):
            return func.id in _STR_FUNCTIONS and module.is_builtin(func.id) and _not_local(
                func.id, function)
        if isinstance(func, ast.Attribute):
            return func.attr in _STR_METHODS and is_known_str(func.value, module, function, again)
        return False
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.Add):
            return (is_known_str(expr.left, module, function, again)
                    and is_known_str(expr.right, module, function, again))
        if isinstance(expr.op, ast.Mod):
            return isinstance(expr.left, (ast.Constant, ast.JoinedStr)) and is_known_str(
                expr.left, module, function, again)
        return False
    if isinstance(expr, ast.Subscript):
        return is_known_str(expr.value, module, function, again)
    if isinstance(expr, ast.IfExp):
        return (is_known_str(expr.body, module, function, again)
                and is_known_str(expr.orelse, module, function, again))
    if isinstance(expr, ast.Name) and function is not None and function.is_plain_local(expr.id):
        values = function.assignments[expr.id]
        return all(v is not None and is_known_str(v, module, function, again) for v in values)
    return False


def is_known_int(expr: ast.expr, module: ModuleFacts, function: FunctionFacts | None,
                 depth: int = 0) -> bool:
    """Return whether `expr` certainly evaluates to an exact `int` (never a bool)."""
    if depth > 4:
        return False
    if isinstance(expr, ast.Constant):
        return type(expr.value) is int
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name = expr.func.id
        return name in _INT_FUNCTIONS and module.is_builtin(name) and _not_local(name, function)
    if isinstance(expr, ast.Name) and function is not None and function.is_plain_local(expr.id):
        values = function.assignments[expr.id]
        return all(v is not None and is_known_int(v, module, function, depth + 1)
                   for v in values)
    return False


def _not_local(name: str, function: FunctionFacts | None) -> bool:
    return function is None or name not in function.assignments


def binds_names(tree: ast.AST) -> bool:
    """Return whether the code binds or declares any name (which would change scoping)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                             ast.ImportFrom, ast.Global, ast.Nonlocal, ast.NamedExpr,
                             ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            return True
        if isinstance(node, ast.ExceptHandler) and node.name:
            return True
    return False


def has_yield_or_await(tree: ast.AST) -> bool:
    """Return whether the code yields or awaits in its own scope."""
    nodes = [tree, *own_nodes(tree)]
    return any(isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await)) for n in nodes)


def names_in(tree: ast.AST) -> set[str]:
    """Return every name read or written anywhere in the code."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
