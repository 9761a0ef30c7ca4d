"""Read-only checks over Python code: API contracts, naming, error handling, concurrency.

Each check parses the code with `ast`; code that does not parse fails every predicate, since
nothing can be said to follow a convention in it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Naming = Literal["snake_case", "camelCase"]
_SNAKE = re.compile(r"^_*[a-z][a-z0-9]*(_[a-z0-9]+)*_*$")
_CAMEL = re.compile(r"^_*[a-z][a-zA-Z0-9]*$")
_CONSTANT = re.compile(r"^_*[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
_PASCAL = re.compile(r"^_*[A-Z][a-zA-Z0-9]*$")
_THREAD_MODULES = ("threading", "_thread", "concurrent.futures", "multiprocessing.pool")
_THREAD_CALLS = frozenset({"Thread", "ThreadPoolExecutor", "ThreadPool", "Timer",
                           "start_new_thread"})


def parse(code: str | None) -> ast.Module | None:
    """Return the module tree, or None when the code does not parse."""
    if code is None:
        return None
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


# ---- API contracts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Contract:
    """What callers of one public function rely on beyond its name."""

    signature: str
    returns: str  # the return annotation, or "" when there is none
    raises: frozenset[str]
    is_generator: bool
    sentinels: frozenset[str]  # literal error values it returns (None, False, -1, ...)


def public_contracts(code: str | None) -> dict[str, Contract]:
    """Return the contracts of the public top-level functions and public methods."""
    tree = parse(code)
    found: dict[str, Contract] = {}
    for node in tree.body if tree else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_public(node.name):
            found[node.name] = _contract(node)
        elif isinstance(node, ast.ClassDef) and _is_public(node.name):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                        _is_public(item.name) or item.name == "__init__"):
                    found[f"{node.name}.{item.name}"] = _contract(item)
    return found


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """Yield the nodes of a function body, not those of nested functions or classes."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                              | ast.Lambda):
                stack.append(child)


def _contract(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Contract:
    raises: set[str] = set()
    sentinels: set[str] = set()
    generator = False
    for node in _own_nodes(function):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            raises.add(ast.unparse(target))
        elif isinstance(node, ast.Yield | ast.YieldFrom):
            generator = True
        elif isinstance(node, ast.Return) and is_error_code(node.value):
            sentinels.add(ast.unparse(node.value) if node.value else "None")
    return Contract(ast.unparse(function.args), ast.unparse(function.returns)
                    if function.returns else "", frozenset(raises), generator,
                    frozenset(sentinels))


def is_error_code(value: ast.expr | None) -> bool:
    """Tell whether a returned expression is a literal error value (None, False, -n)."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return isinstance(value.operand, ast.Constant) and isinstance(value.operand.value, int)
    return isinstance(value, ast.Constant) and (value.value is None or value.value is False)


def api_contract_changes(original: str | None, modified: str | None) -> list[str]:
    """Return how the modified code changes what callers of its public functions rely on."""
    before, after = public_contracts(original), public_contracts(modified)
    changes = []
    for name, old in sorted(before.items()):
        new = after.get(name)
        if new is None:
            changes.append(f"removes public `{name}`")
            continue
        if new.signature != old.signature:
            changes.append(f"changes the parameters of `{name}`")
        if new.returns != old.returns:
            changes.append(f"changes the return type of `{name}` ({old.returns or 'none'} → "
                           f"{new.returns or 'none'})")
        if new.raises != old.raises:
            changes.append(f"changes the exceptions `{name}` raises "
                           f"({', '.join(sorted(old.raises)) or 'none'} → "
                           f"{', '.join(sorted(new.raises)) or 'none'})")
        if new.is_generator != old.is_generator:
            changes.append(f"turns `{name}` {'into' if new.is_generator else 'from'} a "
                           "generator")
        if new.sentinels - old.sentinels:
            changes.append(f"makes `{name}` return error values "
                           f"({', '.join(sorted(new.sentinels - old.sentinels))})")
    return changes


def breaks_api_contract(original: str | None, modified: str | None) -> bool:
    """Tell whether the modified code changes a public function's contract."""
    return bool(api_contract_changes(original, modified))


# ---- naming ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identifier:
    """A name the code defines, and what kind of thing it names."""

    name: str
    kind: Literal["function", "class", "variable", "parameter", "attribute", "constant"]


def defined_identifiers(code: str | None) -> list[Identifier]:
    """Return every name the code defines (functions, classes, parameters, variables)."""
    tree = parse(code)
    found: list[Identifier] = []
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not (node.name.startswith("__") and node.name.endswith("__")):
                found.append(Identifier(node.name, "function"))
        elif isinstance(node, ast.ClassDef):
            found.append(Identifier(node.name, "class"))
        elif isinstance(node, ast.arg) and node.arg not in ("self", "cls"):
            found.append(Identifier(node.arg, "parameter"))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.append(Identifier(node.id, "variable"))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and (
                isinstance(node.value, ast.Name) and node.value.id == "self"):
            found.append(Identifier(node.attr, "attribute"))
    return found


def fits_naming(identifier: Identifier, naming: Naming) -> bool:
    """Tell whether one identifier follows the naming convention (constants are UPPER_CASE)."""
    name = identifier.name
    if identifier.kind == "class":
        return bool(_PASCAL.match(name))
    if name == "_" or (_CONSTANT.match(name) and identifier.kind in ("variable", "attribute")):
        return True
    return bool((_SNAKE if naming == "snake_case" else _CAMEL).match(name))


def naming_violations(code: str | None, naming: Naming,
                      original: str | None = None) -> list[str]:
    """Return the names that break the convention (only new ones when original is given)."""
    old = {i.name for i in defined_identifiers(original)} if original is not None else set()
    return sorted({i.name for i in defined_identifiers(code)
                   if i.name not in old and not fits_naming(i, naming)})


def follows_naming_conventions(code: str | None, naming: Naming = "snake_case",
                               original: str | None = None) -> bool:
    """Tell whether the code parses and every name it defines follows the convention."""
    return parse(code) is not None and not naming_violations(code, naming, original)


def uses_snake_case_naming(code: str | None) -> bool:
    """Tell whether every function, variable and parameter the code defines is snake_case."""
    return follows_naming_conventions(code, "snake_case")


# ---- error handling -------------------------------------------------------------------------

def error_code_sites(code: str | None) -> list[str]:
    """Return where the code signals errors by return codes instead of exceptions.

    Return codes are: a negative literal returned, a literal error value returned from an
    `except` handler (the exception swallowed into a code), and a call's result compared with
    a negative literal (a caller checking a code).
    """
    tree = parse(code)
    sites = []
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Return) and isinstance(node.value, ast.UnaryOp) and (
                is_error_code(node.value)):
            sites.append(f"line {node.lineno}: returns {ast.unparse(node.value)}")
        elif isinstance(node, ast.ExceptHandler):
            for inner in node.body:
                if isinstance(inner, ast.Return) and is_error_code(inner.value):
                    sites.append(f"line {inner.lineno}: an except handler returns "
                                 f"{ast.unparse(inner.value) if inner.value else 'None'}")
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Call) and any(
                isinstance(c, ast.UnaryOp) and is_error_code(c) for c in node.comparators):
            sites.append(f"line {node.lineno}: checks a call's result against an error code")
    return sites


def uses_exception_handling(code: str | None) -> bool:
    """Tell whether the code parses and signals errors only by exceptions, never by codes."""
    return parse(code) is not None and not error_code_sites(code)


# ---- concurrency ----------------------------------------------------------------------------

def thread_sites(code: str | None) -> list[str]:
    """Return where the code uses threads, or blocks inside a coroutine."""
    tree = parse(code)
    sites = []
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            sites += [f"line {node.lineno}: imports {n}" for n in names
                      if n.startswith(_THREAD_MODULES)]
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name in _THREAD_CALLS:
                sites.append(f"line {node.lineno}: calls {ast.unparse(node.func)}")
        elif isinstance(node, ast.AsyncFunctionDef):
            sites += [f"line {call.lineno}: time.sleep blocks the event loop in "
                      f"`{node.name}`" for call in _own_nodes(node)
                      if isinstance(call, ast.Call) and ast.unparse(call.func) == "time.sleep"]
    return sites


def uses_asyncio_pattern(code: str | None) -> bool:
    """Tell whether the code parses and its concurrency, if any, is asyncio and not threads."""
    return parse(code) is not None and not thread_sites(code)
