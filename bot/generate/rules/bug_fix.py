"""Bug-fix rules: well-known mistakes, fixed the standard way, with the change they make."""

from __future__ import annotations

import ast
from collections.abc import Callable

import libcst as cst

from bot.generate.rules.base import RuleInfo, RuleTransformer
from bot.generate.rules.facts import FunctionFacts
from bot.generate.rules.triggers import (
    BARE_EXCEPT,
    EQ_NONE,
    IS_COMPARE,
    MUTABLE_DEFAULT,
    SHRINKING_LOOP,
)
from bot.generate.suggestion import ModificationType

FIX = ModificationType.BUG_FIX
_MUTATORS = frozenset({
    "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "update",
    "setdefault", "popitem", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update",
})
Swaps = dict[type[cst.BaseCompOp], Callable[..., cst.BaseCompOp]]
_IS_TO_EQ: Swaps = {cst.Is: cst.Equal, cst.IsNot: cst.NotEqual}
_EQ_TO_IS: Swaps = {cst.Equal: cst.Is, cst.NotEqual: cst.IsNot}
_MEMO_WORDS = ("cache", "memo", "seen", "registry")


class MutableDefault(RuleTransformer):
    """`def f(x=[])` that mutates or hands out `x` → `x=None` and a fresh value per call."""

    info = RuleInfo(
        "mutable-default", FIX, "Do not share a mutable default argument between calls",
        ("the default is a list, dict or set display, or list()/dict()/set() of the builtins",
         "the function mutates the parameter (a mutating method, item assignment, +=) or "
         "hands it out (returns, yields or stores it), so calls can see each other's changes",
         "the parameter name does not suggest a deliberate cache (cache, memo, seen, registry "
         "or a leading underscore) and the body never compares it with None (None must not "
         "already mean something)",
         "an annotated parameter needs `from __future__ import annotations` (to write "
         "`T | None` safely on any Python 3)"),
        "each call that omits the argument gets a fresh container, as the caller expects; "
        "behaviour changes only for callers that relied on state leaking between calls",
    )
    triggers = frozenset({MUTABLE_DEFAULT})

    def rewrite_function(self, original: cst.FunctionDef,
                         updated: cst.FunctionDef) -> cst.FunctionDef:
        function = self.function
        assert function is not None
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        fixes: list[str] = []
        params = updated.params
        new_params: dict[str, list[cst.Param]] = {}
        for group in ("params", "kwonly_params", "posonly_params"):
            new_list = []
            for param in getattr(params, group):
                fixed = self._fix_param(param, function, original)
                if fixed is not None:
                    fixes.append(param.name.value)
                    param = fixed
                new_list.append(param)
            new_params[group] = new_list
        if not fixes or not self.fire(original, f"mutable default of {', '.join(fixes)}"):
            return updated
        guards = []
        for name in fixes:
            default = _default_of(params, name)
            guards.append(cst.parse_statement(
                f"if {name} is None:\n    {name} = {self.code(default).strip()}\n"))
        body = list(updated.body.body)
        at = 1 if body and _is_docstring(body[0]) else 0
        body[at:at] = guards
        return updated.with_changes(params=params.with_changes(**new_params),
                                    body=updated.body.with_changes(body=body))

    def _fix_param(self, param: cst.Param, function: FunctionFacts,
                   original: cst.FunctionDef) -> cst.Param | None:
        default = param.default
        if default is None or not self._is_mutable_display(default):
            return None
        name = param.name.value
        if any(word in name.lower() for word in _MEMO_WORDS) or name.startswith("_"):
            self.refuse(original, f"`{name}` looks like a deliberate cache")
            return None
        if not _mutated_or_escapes(function, name):
            return None
        if _compared_with_none(function, name):
            self.refuse(original, f"`{name}` is already compared with None")
            return None
        changes: dict[str, object] = {"default": cst.Name("None")}
        if param.annotation is not None:
            if not self.module_facts.has_future_annotations:
                self.refuse(original, f"`{name}` is annotated and the module lacks "
                            "`from __future__ import annotations`")
                return None
            annotation = self.code(param.annotation.annotation).strip()
            changes["annotation"] = cst.Annotation(cst.parse_expression(f"{annotation} | None"))
        return param.with_changes(**changes)

    def _is_mutable_display(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, (cst.List, cst.Dict, cst.Set)):
            return True
        return (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                and node.func.value in ("list", "dict", "set")
                and self.module_facts.is_builtin(node.func.value))


def _default_of(params: cst.Parameters, name: str) -> cst.BaseExpression:
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name and param.default is not None:
            return param.default
    raise LookupError(name)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _mutated_or_escapes(function: FunctionFacts, name: str) -> bool:
    for occurrence in function.occurrences(name):
        parent = function.parent(occurrence)
        if isinstance(parent, ast.Attribute) and parent.attr in _MUTATORS:
            return True
        if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(parent, ast.AugAssign) and parent.target is occurrence:
            return True
        if isinstance(parent, (ast.Return, ast.Yield)):
            return True
        if isinstance(parent, ast.Assign) and parent.value is occurrence and any(
                isinstance(t, (ast.Attribute, ast.Subscript)) for t in parent.targets):
            return True
    return False


def _compared_with_none(function: FunctionFacts, name: str) -> bool:
    for occurrence in function.occurrences(name):
        parent = function.parent(occurrence)
        if isinstance(parent, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value is None
                for c in (parent.left, *parent.comparators)):
            return True
    return False


class IsLiteral(RuleTransformer):
    """`x is "a"` / `x is not 1` → `x == "a"` / `x != 1`."""

    info = RuleInfo(
        "is-literal", FIX, "Compare with a literal by value, not identity",
        ("one side of `is` / `is not` is a str, bytes, int or float literal (never None, "
         "True, False or ...); Python warns (SyntaxWarning) about exactly this",
         "identity of equal literals depends on interning and is not guaranteed; equality is "
         "what the code means. Behaviour changes only where identity and equality differ"),
        "the comparison no longer depends on CPython's caching of small ints and strings",
    )
    triggers = frozenset({IS_COMPARE})

    def leave_Comparison(self, original_node: cst.Comparison,
                         updated_node: cst.Comparison) -> cst.BaseExpression:
        return _swap_operators(self, original_node, updated_node, _IS_TO_EQ, _is_value_literal,
                               "`is` against a literal → `==`")


def _swap_operators(rule: RuleTransformer, original: cst.Comparison, updated: cst.Comparison,
                    swaps: Swaps, operand: Callable[[cst.BaseExpression], bool],
                    note: str) -> cst.Comparison:
    """Swap `is`/`==` (and the negations) where either operand matches; keep the spacing."""
    left: cst.BaseExpression = updated.left
    targets = []
    changed = False
    for target in updated.comparisons:
        swap = swaps.get(type(target.operator))
        if swap is not None and (operand(left) or operand(target.comparator)) and rule.fire(
                original, note):
            operator = target.operator
            spacing: dict[str, cst.BaseParenthesizableWhitespace] = {
                "whitespace_before": operator.whitespace_before,  # type: ignore[attr-defined]
                "whitespace_after": operator.whitespace_after}  # type: ignore[attr-defined]
            if swap is cst.IsNot:
                spacing["whitespace_between"] = cst.SimpleWhitespace(" ")
            target = target.with_changes(operator=swap(**spacing))
            changed = True
        targets.append(target)
        left = target.comparator
    return updated.with_changes(comparisons=targets) if changed else updated


def _is_value_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float,
                             cst.Imaginary))


class BareExcept(RuleTransformer):
    """`except:` → `except Exception:`."""

    info = RuleInfo(
        "bare-except", FIX, "Do not swallow KeyboardInterrupt and SystemExit",
        ("the handler is a bare `except:`",
         "its body has no bare `raise` (a handler that re-raises may mean to see everything)",
         "`Exception` is the builtin (nothing in the module rebinds it)"),
        "Ctrl-C, sys.exit() and generator shutdown propagate again; ordinary errors are "
        "handled as before",
    )
    triggers = frozenset({BARE_EXCEPT})

    def leave_ExceptHandler(self, original_node: cst.ExceptHandler,
                            updated_node: cst.ExceptHandler) -> cst.ExceptHandler:
        if updated_node.type is not None:
            return updated_node
        tree = ast.parse("try:\n    pass\n" + self.code(original_node).strip("\n") + "\n")
        handler = tree.body[0]
        assert isinstance(handler, ast.Try)
        if any(isinstance(n, ast.Raise) and n.exc is None for n in _handler_nodes(handler)):
            self.refuse(original_node, "the handler re-raises with a bare `raise`")
            return updated_node
        if not self.module_facts.is_builtin("Exception"):
            self.refuse(original_node, "`Exception` is rebound in this module")
            return updated_node
        if not self.fire(original_node, "bare except → except Exception"):
            return updated_node
        return updated_node.with_changes(
            type=cst.Name("Exception"),
            whitespace_after_except=cst.SimpleWhitespace(" "))


def _handler_nodes(tree: ast.Try) -> list[ast.AST]:
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(tree.handlers)
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return found


class EqNone(RuleTransformer):
    """`x == None` / `x != None` → `x is None` / `x is not None`."""

    info = RuleInfo(
        "eq-none", FIX, "Compare with None by identity",
        ("one side of `==` / `!=` is the literal None",
         "not inside `__eq__` / `__ne__` (where comparing with None by value may be the point)",
         "note: an object overriding __eq__ (a numpy array compares element-wise) now gets an "
         "identity test; that is the standard fix (PEP 8), classified as bug_fix for it"),
        "the test no longer calls a user __eq__ and is always a plain bool",
    )
    triggers = frozenset({EQ_NONE})

    def leave_Comparison(self, original_node: cst.Comparison,
                         updated_node: cst.Comparison) -> cst.BaseExpression:
        if self.function is not None and self.function.node.name in ("__eq__", "__ne__"):
            return updated_node
        return _swap_operators(self, original_node, updated_node, _EQ_TO_IS, _is_none,
                               "`== None` → `is None`")


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


_SHRINKERS = frozenset({"pop", "remove", "popitem", "discard", "clear"})


class MutateWhileIterating(RuleTransformer):
    """`for k in d: d.pop(k)` → `for k in list(d): d.pop(k)`."""

    info = RuleInfo(
        "mutate-while-iterating", FIX, "Iterate over a copy of a container the loop shrinks",
        ("the loop iterates a plain name `c` (or `c.keys()` / `c.values()` / `c.items()`)",
         "its body removes from `c` (`c.pop`, `c.remove`, `c.popitem`, `c.discard`, `c.clear`, "
         "`del c[...]`) and at least one removal is not followed at once by `break` / `return`",
         "`c` is not rebound in the loop; `list` is the builtin"),
        "a dict or set no longer raises RuntimeError; a list no longer skips the element after "
        "each removal. Each element present at the start is visited once",
    )
    triggers = frozenset({SHRINKING_LOOP})

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        name = _iterated_name(updated_node.iter)
        if name is None:
            return updated_node
        loop = ast.parse(self.code(original_node).strip("\n") + "\n").body[0]
        assert isinstance(loop, (ast.For, ast.AsyncFor))
        removals = _removals(loop, name)
        if not removals:
            return updated_node
        if all(_followed_by_exit(loop, stmt) for stmt in removals):
            self.refuse(original_node, f"every removal from `{name}` leaves the loop at once")
            return updated_node
        if any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
               for n in ast.walk(loop)) or not self.module_facts.is_builtin("list"):
            self.refuse(original_node, f"`{name}` is rebound in the loop or list is rebound")
            return updated_node
        if not self.fire(original_node, f"`{name}` shrinks while iterated → iterate a copy"):
            return updated_node
        iterable = cst.Call(cst.Name("list"), [cst.Arg(updated_node.iter.with_changes(
            lpar=(), rpar=()))])
        return updated_node.with_changes(iter=iterable)


def _iterated_name(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if (isinstance(node, cst.Call) and not node.args and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
            and node.func.attr.value in ("keys", "values", "items")):
        return node.func.value.value
    return None


def _removals(loop: ast.For | ast.AsyncFor, name: str) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for stmt in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            if (isinstance(func, ast.Attribute) and func.attr in _SHRINKERS
                    and isinstance(func.value, ast.Name) and func.value.id == name):
                found.append(stmt)
        elif isinstance(stmt, ast.Delete) and any(
                isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                and t.value.id == name for t in stmt.targets):
            found.append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            value = stmt.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and (
                    value.func.attr in _SHRINKERS and isinstance(value.func.value, ast.Name)
                    and value.func.value.id == name):
                found.append(stmt)
    return found


def _followed_by_exit(loop: ast.For | ast.AsyncFor, stmt: ast.stmt) -> bool:
    for block in _blocks(loop):
        for index, candidate in enumerate(block):
            if candidate is stmt:
                nxt = block[index + 1] if index + 1 < len(block) else None
                return isinstance(nxt, (ast.Break, ast.Return, ast.Raise))
    return False


def _blocks(tree: ast.AST) -> list[list[ast.stmt]]:
    blocks = []
    for node in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            value = getattr(node, field_name, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                blocks.append(value)
    return blocks
