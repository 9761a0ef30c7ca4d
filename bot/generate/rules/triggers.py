"""What a module holds that some rule could rewrite: one `ast` pass instead of a libcst visit.

Each rule names the triggers it needs (`RuleTransformer.triggers`); a module whose census holds
none of them is skipped without walking its libcst tree, which costs about a tenth of a second
per rule on a module of a thousand lines, and so is the body of a function whose own census
holds none. Every trigger is a necessary condition of its rule's preconditions, only looser
(a test walks the rules over real code to keep it so).
"""

from __future__ import annotations

import ast

IN_LITERAL = "in-literal"  # `x in [...]` / `x in (...)`
RE_CALL = "re-call"  # `re.<function>(...)`
ADD_ASSIGN = "add-assign"  # `s = "..."` and `s += ...` (one name)
SORTED_SUBSCRIPT = "sorted-subscript"  # `sorted(...)[i]`
POP_FRONT = "pop-front"  # `q.pop(0)`
APPEND_LOOP = "append-loop"  # a `for` loop and an `.append` in one module
LIST_OF_SORTED = "list-of-sorted"  # `list(sorted(...))`
LIST_COMP = "list-comp"  # `[v for v in xs]`
MUTABLE_DEFAULT = "mutable-default"  # `def f(x=[])`, `={}`, `=set()`...
IS_COMPARE = "is-compare"  # `x is <str, bytes or number literal>`
EQ_NONE = "eq-none"  # `== None` / `!= None`
BARE_EXCEPT = "bare-except"
SHRINKING_LOOP = "shrinking-loop"  # `for k in c` (or its keys/values/items) removing from c
AFTER_EXIT = "after-exit"  # a statement after return/raise/continue/break in one block
ELSE_AFTER_EXIT = "else-after-exit"  # `if`, whose branch ends leaving, with an else
ELIF = "elif"

_EXITS = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_MUTABLE_CALLS = frozenset({"list", "dict", "set"})
_SHRINKERS = frozenset({"pop", "remove", "popitem", "discard", "clear"})
_VIEWS = frozenset({"keys", "values", "items"})
_BLOCKS = ("body", "orelse", "finalbody")


def census(tree: ast.AST) -> frozenset[str]:
    """Return the triggers present anywhere in the tree (a module, or one function)."""
    found: set[str] = set()
    has_for = has_append = False
    str_assigned: set[str] = set()  # `s = "..."`
    added_to: set[str] = set()  # `s += ...`
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            _compare(node, found)
        elif isinstance(node, ast.Call):
            _call(node, found)
        elif isinstance(node, ast.Attribute):
            has_append = has_append or node.attr == "append"
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name):
                added_to.add(node.target.id)
        elif isinstance(node, ast.Assign):
            if (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, (str, bytes))):
                str_assigned.add(node.targets[0].id)
        elif isinstance(node, ast.Subscript):
            if isinstance(node.value, ast.Call) and _named(node.value.func, "sorted"):
                found.add(SORTED_SUBSCRIPT)
        elif isinstance(node, ast.ListComp):
            if _copies(node):
                found.add(LIST_COMP)
        elif isinstance(node, ast.ExceptHandler):
            if node.type is None:
                found.add(BARE_EXCEPT)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            has_for = True
            if _shrinks_what_it_iterates(node):
                found.add(SHRINKING_LOOP)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(_is_mutable(d) for d in (*node.args.defaults, *node.args.kw_defaults)):
                found.add(MUTABLE_DEFAULT)
        elif isinstance(node, ast.If) and node.orelse:
            if isinstance(node.body[-1], _EXITS):
                found.add(ELSE_AFTER_EXIT)
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                found.add(ELIF)
        if AFTER_EXIT not in found and _exits_before_the_end(node):
            found.add(AFTER_EXIT)
    if has_for and has_append:
        found.add(APPEND_LOOP)
    if not str_assigned.isdisjoint(added_to):
        found.add(ADD_ASSIGN)
    return frozenset(found)


def _compare(node: ast.Compare, found: set[str]) -> None:
    operands = [node.left, *node.comparators]
    for i, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
        kind = type(op)
        if kind in (ast.In, ast.NotIn) and type(right) in (ast.List, ast.Tuple):
            found.add(IN_LITERAL)
        elif kind in (ast.Is, ast.IsNot) and (
                _value_literal(operands[i]) or _value_literal(right)):
            found.add(IS_COMPARE)
        elif kind in (ast.Eq, ast.NotEq) and any(
                type(o) is ast.Constant and o.value is None for o in operands):
            found.add(EQ_NONE)


def _call(node: ast.Call, found: set[str]) -> None:
    func = node.func
    if type(func) is ast.Attribute:
        if _named(func.value, "re"):
            found.add(RE_CALL)
        elif func.attr == "pop" and len(node.args) == 1:
            arg = node.args[0]
            if type(arg) is ast.Constant and type(arg.value) is int and arg.value == 0:
                found.add(POP_FRONT)
    elif _named(func, "list") and len(node.args) == 1:
        inner = node.args[0]
        if type(inner) is ast.Call and _named(inner.func, "sorted"):
            found.add(LIST_OF_SORTED)


def _copies(node: ast.ListComp) -> bool:
    """Tell whether the comprehension only copies: `[v for v in xs]`."""
    if len(node.generators) != 1:
        return False
    gen = node.generators[0]
    return (not gen.ifs and not gen.is_async and isinstance(gen.target, ast.Name)
            and isinstance(node.elt, ast.Name) and node.elt.id == gen.target.id)


def _value_literal(node: ast.expr) -> bool:
    """Tell whether the node is a str, bytes or number literal (not None, a bool or ...).

    An f-string counts: libcst sees `"a" f"{b}"` as one concatenated string literal.
    """
    if type(node) is ast.UnaryOp and type(node.op) is ast.USub:
        node = node.operand
    return type(node) is ast.JoinedStr or (
        type(node) is ast.Constant and type(node.value) in (str, bytes, int, float, complex))


def _named(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_mutable(default: ast.expr | None) -> bool:
    if isinstance(default, (ast.List, ast.Dict, ast.Set)):
        return True
    return isinstance(default, ast.Call) and isinstance(default.func, ast.Name) and (
        default.func.id in _MUTABLE_CALLS)


def _iterated(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if (isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute)
            and node.func.attr in _VIEWS and isinstance(node.func.value, ast.Name)):
        return node.func.value.id
    return None


def _shrinks_what_it_iterates(loop: ast.For | ast.AsyncFor) -> bool:
    name = _iterated(loop.iter)
    if name is None:
        return False
    for node in ast.walk(loop):
        if isinstance(node, ast.Delete) or (isinstance(node, ast.Attribute) and node.attr
                                            in _SHRINKERS and _named(node.value, name)):
            return True
    return False


def _exits_before_the_end(node: ast.AST) -> bool:
    """Tell whether one of the node's statement lists goes on after a leaving statement."""
    for field in _BLOCKS:  # handlers and match cases are nodes of the walk themselves
        block = getattr(node, field, None)
        if isinstance(block, list) and any(isinstance(s, _EXITS) for s in block[:-1]):
            return True
    return False
