"""Performance rules: cheaper ways to compute exactly the same result."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

import libcst as cst

from bot.generate.rules.base import RuleInfo, RuleTransformer
from bot.generate.rules.facts import (
    FunctionFacts,
    is_known_int,
    is_known_str,
    names_in,
)
from bot.generate.rules.triggers import (
    ADD_ASSIGN,
    APPEND_LOOP,
    IN_LITERAL,
    LIST_COMP,
    LIST_OF_SORTED,
    POP_FRONT,
    RE_CALL,
    SORTED_SUBSCRIPT,
)
from bot.generate.suggestion import ModificationType

PERF = ModificationType.PERFORMANCE


class MembershipSet(RuleTransformer):
    """`x in [a, b]` / `x in (a, b)` with literal elements → `x in {a, b}`."""

    info = RuleInfo(
        "membership-set", PERF, "Test membership in a set literal",
        ("the container is a list or tuple literal of str literals (or of int literals)",
         "the left side is certainly a str (or an exact int): a literal, an f-string, str(), "
         "len(), a str method of a str, or a local only ever assigned such values, so it is "
         "hashable and `==` and hashing agree exactly",
         "the comparison has a single `in` / `not in` operator"),
        "a constant-time hash look-up instead of a linear scan (CPython folds the set literal "
        "into a frozenset constant)",
    )
    triggers = frozenset({IN_LITERAL})

    def leave_Comparison(self, original_node: cst.Comparison,
                         updated_node: cst.Comparison) -> cst.BaseExpression:
        if len(updated_node.comparisons) != 1:
            return updated_node
        target = updated_node.comparisons[0]
        if not isinstance(target.operator, (cst.In, cst.NotIn)):
            return updated_node
        container = target.comparator
        if not isinstance(container, (cst.List, cst.Tuple)) or not container.elements:
            return updated_node
        kind = _literal_kind(container.elements)
        if kind is None:
            self.refuse(original_node, "the container holds something other than str or int "
                        "literals")
            return updated_node
        left = self.expr_ast(original_node.left)
        known = is_known_str if kind == "str" else is_known_int
        if not known(left, self.module_facts, self.function):
            self.refuse(original_node, f"the left side is not certainly a {kind}: a set would "
                        "raise TypeError for an unhashable value")
            return updated_node
        if not self.fire(original_node, f"membership in a {kind} literal → set"):
            return updated_node
        elements = [e.with_changes(comma=e.comma) for e in container.elements]
        last = elements[-1]
        if isinstance(container, cst.Tuple) and len(elements) == 1:
            # `(a,)` → `{a}`: the trailing comma is not needed in a set.
            elements[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        new_set = cst.Set(elements=elements, lpar=(), rpar=())
        return updated_node.with_changes(comparisons=[target.with_changes(comparator=new_set)])


def _literal_kind(elements: Sequence[cst.BaseElement]) -> str | None:
    kinds = set()
    for element in elements:
        if not isinstance(element, cst.Element):
            return None
        value = element.value
        if isinstance(value, cst.SimpleString) and "b" not in value.prefix.lower():
            kinds.add("str")
        elif isinstance(value, cst.Integer):
            kinds.add("int")
        else:
            return None
    return kinds.pop() if len(kinds) == 1 else None


_REGEX_ARITY = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2,
                "finditer": 2, "split": 2, "sub": 3, "subn": 3}


class RegexHoist(RuleTransformer):
    """`re.match("lit", s)` inside a loop → one module-level compiled pattern."""

    info = RuleInfo(
        "regex-hoist", PERF, "Compile a constant regular expression once",
        ("the call is `re.<function>(...)` in a loop of a function, where `re` is bound only "
         "by a top-level `import re` in the module's leading import block",
         "the pattern is a plain string literal that compiles now (so compiling at import "
         "time cannot raise where the original did not)",
         "the call has exactly the positional arguments pattern, [repl,] string, and no "
         "flags or keywords (so Pattern.<function> receives the same arguments)"),
        "the pattern is compiled once at import instead of looked up in re's cache on every "
        "iteration",
    )
    triggers = frozenset({RE_CALL})

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == "re" and func.attr.value in _REGEX_ARITY):
            return updated_node
        if self.loop_depth == 0 or not self.in_function:
            return updated_node
        if not (self.module_facts.is_plain_module("re", "re") and "re" in
                self.import_block_names):
            self.refuse(original_node, "`re` is not only the `re` module imported at the top")
            return updated_node
        args = updated_node.args
        name = func.attr.value
        if len(args) != _REGEX_ARITY[name] or any(a.keyword or a.star for a in args):
            self.refuse(original_node, "the call passes flags, keywords or unpacked arguments")
            return updated_node
        pattern = args[0].value
        if not _compiles(pattern):
            self.refuse(original_node, "the pattern is not a string literal that compiles")
            return updated_node
        if not self.fire(original_node, f"re.{name} in a loop → compiled pattern"):
            return updated_node
        pattern_code = self.code(pattern)
        constant = self._constant_for(pattern_code)
        if name == "compile":
            return cst.Name(constant)
        rest = list(args[1:])
        return cst.Call(func=cst.Attribute(cst.Name(constant), cst.Name(name)), args=rest)

    def _constant_for(self, pattern_code: str) -> str:
        existing: dict[str, str] = self.__dict__.setdefault("_constants", {})
        if pattern_code not in existing:
            base = self.function.node.name if self.function else "pattern"
            existing[pattern_code] = self.new_name(f"{base}_re", constant=True, private=True)
            self.add_constant(f"regex:{pattern_code}",
                              f"{existing[pattern_code]} = re.compile({pattern_code})\n")
        return existing[pattern_code]


def _compiles(node: cst.BaseExpression) -> bool:
    if not isinstance(node, cst.SimpleString):
        return False
    try:
        value = ast.literal_eval(node.value)
        re.compile(value)
    except (ValueError, SyntaxError, re.error, TypeError, RecursionError, OverflowError):
        return False
    return True


class StringJoin(RuleTransformer):
    """`s = ""` then `s += <str>` in a loop → a list of parts and one `"".join`."""

    info = RuleInfo(
        "string-join", PERF, "Build a string with join instead of repeated +=",
        ("`s = <str literal>` stands right before a `for`/`while` loop without `else` in a "
         "function, outside any try block (nobody can observe the half-built string)",
         "`s` is a plain local: not a parameter, global, nonlocal or used by a nested scope",
         "inside the loop `s` appears only as the target of `s += <value>` where the value is "
         "certainly a str and does not mention `s`"),
        "linear instead of quadratic time in the number of pieces",
    )
    triggers = frozenset({ADD_ASSIGN})

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        function = self.function
        if function is None or self.try_depth > 0:
            return updated_node
        old, originals = list(updated_node.body), list(original_node.body)
        body: list[cst.BaseStatement] = []
        index, changed = 0, False
        while index < len(old):
            replaced = self._rewrite_pair(old[index], old[index + 1], originals[index + 1],
                                          function) if index + 1 < len(old) else None
            if replaced is None:
                body.append(old[index])
                index += 1
            else:
                body.extend(replaced)
                index += 2
                changed = True
        return updated_node.with_changes(body=body) if changed else updated_node

    def _rewrite_pair(self, first: cst.BaseStatement, loop: cst.BaseStatement,
                      position: cst.BaseStatement,
                      function: FunctionFacts) -> list[cst.BaseStatement] | None:
        name = _simple_assign_name(first)
        if name is None or not isinstance(loop, (cst.For, cst.While)) or loop.orelse:
            return None
        if isinstance(loop, cst.For) and loop.asynchronous:
            return None
        assert isinstance(first, cst.SimpleStatementLine)
        init = first.body[0]
        assert isinstance(init, cst.Assign)
        if not isinstance(init.value, cst.SimpleString) or not is_known_str(
                self.expr_ast(init.value), self.module_facts, None):
            return None
        loop_tree = ast.parse(self.code(loop).strip("\n") + "\n").body[0]
        if not self._only_appends(loop_tree, name, function):
            self.refuse(position, f"`{name}` is used in the loop other than `{name} += <str>`")
            return None
        if not self.fire(position, f"`{name} +=` in a loop → list and join"):
            return None
        parts = self.new_name(f"{name}_parts")
        appended = loop.visit(_AugToAppend(name, parts))
        assert isinstance(appended, (cst.For, cst.While))
        empty = init.value.value in ('""', "''")
        start = "[]" if empty else f"[{init.value.value}]"
        quote = self.style.quote * 2
        return [
            first.with_changes(body=[_small_statement(f"{parts} = {start}")]),
            appended,
            cst.parse_statement(f"{name} = {quote}.join({parts})\n"),
        ]

    def _only_appends(self, loop: ast.stmt, name: str, function: FunctionFacts) -> bool:
        if not function.is_plain_local(name):
            return False
        augs = [n for n in ast.walk(loop) if isinstance(n, ast.AugAssign)
                and isinstance(n.target, ast.Name) and n.target.id == name]
        allowed = {id(n.target) for n in augs}
        if any(isinstance(n, ast.Name) and n.id == name and id(n) not in allowed
               for n in ast.walk(loop)):
            return False
        return bool(augs) and all(
            isinstance(n.op, ast.Add) and name not in names_in(n.value)
            and is_known_str(n.value, self.module_facts, function) for n in augs)


def _small_statement(code: str) -> cst.BaseSmallStatement:
    statement = cst.parse_statement(code + "\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement.body[0]


def _simple_assign_name(stmt: cst.BaseStatement) -> str | None:
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    assign = stmt.body[0]
    if (isinstance(assign, cst.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)):
        return assign.targets[0].target.value
    return None


class _AugToAppend(cst.CSTTransformer):
    def __init__(self, name: str, parts: str) -> None:
        super().__init__()
        self.name, self.parts = name, parts

    def leave_AugAssign(self, original_node: cst.AugAssign,
                        updated_node: cst.AugAssign) -> cst.BaseSmallStatement:
        target = updated_node.target
        if isinstance(target, cst.Name) and target.value == self.name:
            call = cst.Call(cst.Attribute(cst.Name(self.parts), cst.Name("append")),
                            [cst.Arg(updated_node.value)])
            return cst.Expr(call, semicolon=updated_node.semicolon)
        return updated_node


class SortedMin(RuleTransformer):
    """`sorted(x)[0]` → `min(x)`; `sorted(x, reverse=True)[0]` → `max(x)`."""

    info = RuleInfo(
        "sorted-min", PERF, "Use min/max instead of sorting for one element",
        ("the subscript is exactly `[0]` on a call of the builtin `sorted` (nothing rebinds "
         "sorted, min or max) with one positional argument and only key= / reverse=True|False",
         "`[-1]` is refused: sorting is stable, so sorted(x)[-1] is the last of equal maxima "
         "while max(x) is the first (1 vs 1.0, or any key= ties)",
         "outside any try block of the function: on empty input min/max raise ValueError "
         "where sorted()[0] raised IndexError; callers catching IndexError would differ, and "
         "we accept that documented difference only where the function itself catches nothing"),
        "linear time and no list allocation instead of an O(n log n) sort",
    )
    triggers = frozenset({SORTED_SUBSCRIPT})

    def leave_Subscript(self, original_node: cst.Subscript,
                        updated_node: cst.Subscript) -> cst.BaseExpression:
        call = updated_node.value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name)
                and call.func.value == "sorted" and len(updated_node.slice) == 1):
            return updated_node
        index = updated_node.slice[0].slice
        if not isinstance(index, cst.Index):
            return updated_node
        position = self.code(index.value).strip()
        if position not in ("0", "-1"):
            return updated_node
        if position == "-1":
            self.refuse(original_node, "sorted(x)[-1] keeps the last of equal maxima; max(x) "
                        "returns the first")
            return updated_node
        reverse = _reverse_flag(call.args)
        if reverse is None or not all(self.module_facts.is_builtin(n)
                                      for n in ("sorted", "min", "max")):
            self.refuse(original_node, "unexpected arguments or a rebound builtin")
            return updated_node
        if self.try_depth > 0:
            self.refuse(original_node, "inside a try block: the empty-input exception type "
                        "would change from IndexError to ValueError")
            return updated_node
        name = "max" if reverse else "min"
        if not self.fire(original_node, f"sorted(...)[0] → {name}(...)"):
            return updated_node
        args = [a for a in call.args if not (a.keyword and a.keyword.value == "reverse")]
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return call.with_changes(func=cst.Name(name), args=args)


def _reverse_flag(args: Sequence[cst.Arg]) -> bool | None:
    positional = [a for a in args if a.keyword is None]
    if len(positional) != 1 or positional[0].star:
        return None
    reverse = False
    for arg in args:
        if arg.keyword is None:
            continue
        if arg.keyword.value == "key":
            continue
        if arg.keyword.value == "reverse" and isinstance(arg.value, cst.Name) and (
                arg.value.value in ("True", "False")):
            reverse = arg.value.value == "True"
            continue
        return None
    return reverse


_QUEUE_METHODS = frozenset({"append", "extend", "pop"})


class DequeQueue(RuleTransformer):
    """A local list used only as a FIFO queue (`pop(0)`) → `collections.deque`."""

    info = RuleInfo(
        "deque-queue", PERF, "Use a deque for a FIFO queue",
        ("the list is a plain local assigned exactly once, from a list literal",
         "every other use is `q.append(x)`, `q.extend(x)`, `q.pop()`, `q.pop(0)`, `len(q)` or "
         "a truth test (`while q`, `if q`, `not q`): never iterated, indexed, passed, returned "
         "or captured, so no code can tell a deque from a list",
         "at least one `q.pop(0)`; `deque` is reachable: already imported from collections, "
         "or the name `deque` is free for a new `from collections import deque`"),
        "O(1) instead of O(n) removal from the front",
    )
    triggers = frozenset({POP_FRONT})

    def rewrite_function(self, original: cst.FunctionDef,
                         updated: cst.FunctionDef) -> cst.FunctionDef:
        function = self.function
        assert function is not None
        queues = [name for name in _single_list_locals(function)
                  if _only_queue_uses(function, name)]
        if not queues:
            return updated
        deque_name = self._deque_name()
        if deque_name is None:
            self.refuse(original, "the name `deque` is taken and collections is not imported")
            return updated
        if not self.fire(original, f"list {', '.join(queues)} used as a queue → deque"):
            return updated
        if deque_name == "deque" and not self.module_facts.is_imported_from(
                "deque", "collections.deque"):
            self.add_import("deque", "from collections import deque\n")
        result = updated.visit(_ToDeque(frozenset(queues), deque_name))
        assert isinstance(result, cst.FunctionDef)
        return result

    def _deque_name(self) -> str | None:
        facts = self.module_facts
        if facts.is_imported_from("deque", "collections.deque"):
            return "deque"
        if facts.is_plain_module("collections", "collections"):
            return "collections.deque"
        if "deque" not in facts.bound and "deque" not in self.names_used:
            return "deque"
        return None


def _single_list_locals(function: FunctionFacts) -> list[str]:
    found = []
    for name, values in function.assignments.items():
        if (len(values) == 1 and isinstance(values[0], ast.List) and function.is_plain_local(name)
                and not any(isinstance(e, ast.Starred) for e in values[0].elts)):
            found.append(name)
    return sorted(found)


def _only_queue_uses(function: FunctionFacts, name: str) -> bool:
    front_pops = 0
    for occurrence in function.occurrences(name):
        parent = function.parent(occurrence)
        if isinstance(occurrence.ctx, ast.Store):
            if not isinstance(parent, ast.Assign):
                return False
            continue
        if isinstance(parent, ast.Attribute):
            call = function.parent(parent)
            if not (parent.attr in _QUEUE_METHODS and isinstance(call, ast.Call)
                    and call.func is parent and not call.keywords):
                return False
            if parent.attr == "pop":
                if _is_zero_pop(call):
                    front_pops += 1
                elif call.args:
                    return False
            continue
        if not _is_truth_or_len(occurrence, parent, function):
            return False
    return front_pops > 0


def _is_zero_pop(call: ast.Call) -> bool:
    return (len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
            and type(call.args[0].value) is int and call.args[0].value == 0)


def _is_truth_or_len(node: ast.Name, parent: ast.AST | None, function: FunctionFacts) -> bool:
    if isinstance(parent, (ast.While, ast.If, ast.IfExp, ast.Assert)):
        return getattr(parent, "test", None) is node
    if isinstance(parent, ast.UnaryOp):
        return isinstance(parent.op, ast.Not)
    if isinstance(parent, ast.BoolOp):
        # `q and x` returns q itself when q is empty; only a truth-tested BoolOp is safe.
        grand = function.parent(parent)
        return isinstance(grand, (ast.While, ast.If, ast.IfExp)) and getattr(
            grand, "test", None) is parent
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name):
        return parent.func.id == "len" and parent.args == [node] and not parent.keywords
    return False


class _ToDeque(cst.CSTTransformer):
    def __init__(self, names: frozenset[str], deque_name: str) -> None:
        super().__init__()
        self.names, self.deque_name = names, deque_name

    def leave_Assign(self, original_node: cst.Assign,
                     updated_node: cst.Assign) -> cst.Assign:
        target = updated_node.targets[0].target if len(updated_node.targets) == 1 else None
        if isinstance(target, cst.Name) and target.value in self.names:
            value = updated_node.value
            assert isinstance(value, cst.List)
            args = [cst.Arg(value)] if value.elements else []
            func = cst.parse_expression(self.deque_name)
            return updated_node.with_changes(value=cst.Call(func, args))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = updated_node.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value in self.names and func.attr.value == "pop"
                and len(updated_node.args) == 1):
            return updated_node.with_changes(func=func.with_changes(attr=cst.Name("popleft")),
                                             args=[])
        return updated_node


class AppendComprehension(RuleTransformer):
    """`r = []` then `for x in xs: r.append(e)` → `r = [e for x in xs]`."""

    info = RuleInfo(
        "append-comprehension", PERF, "Build a list with a comprehension",
        ("`r = []` stands right before a `for` loop without `else`, in a function (not a class "
         "body, whose names a comprehension cannot see), outside any try block",
         "the loop body is exactly `r.append(e)`, or `if c: r.append(e)` without else",
         "`r` is a plain local not mentioned in the iterable, `e` or `c`; the loop variables "
         "are used nowhere else in the function (they would no longer leak)",
         "`e` and `c` contain no yield, await, lambda or walrus"),
        "the comprehension runs in a specialised loop without a method look-up per item",
    )
    triggers = frozenset({APPEND_LOOP})

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        function = self.function
        if function is None or self.try_depth > 0:
            return updated_node
        old = list(updated_node.body)
        body: list[cst.BaseStatement] = []
        index = 0
        originals = list(original_node.body)
        while index < len(old):
            merged = self._merge(old[index], old[index + 1], originals[index + 1], function) if (
                index + 1 < len(old)) else None
            body.append(old[index] if merged is None else merged)
            index += 1 if merged is None else 2
        return updated_node.with_changes(body=body) if len(body) != len(old) else updated_node

    def _merge(self, first: cst.BaseStatement, loop: cst.BaseStatement,
               position: cst.BaseStatement, function: FunctionFacts) -> cst.BaseStatement | None:
        name = _simple_assign_name(first)
        if name is None or not isinstance(loop, cst.For) or loop.orelse or loop.asynchronous:
            return None
        assert isinstance(first, cst.SimpleStatementLine)
        init = first.body[0]
        assert isinstance(init, cst.Assign)
        if not (isinstance(init.value, cst.List) and not init.value.elements):
            return None
        parsed = _append_body(loop, name)
        if parsed is None:
            return None
        element, condition = parsed
        if _has_comment(loop):
            self.refuse(position, "the loop carries comments a comprehension would lose")
            return None
        tree = ast.parse(self.code(loop).strip("\n") + "\n").body[0]
        assert isinstance(tree, ast.For)
        reason = _comprehension_blocker(tree, name, function)
        if reason is not None:
            self.refuse(position, reason)
            return None
        if not self.fire(position, f"for + {name}.append → list comprehension"):
            return None
        condition_code = f" if {self.code(condition).strip()}" if condition is not None else ""
        text = (f"{name} = [{self.code(element).strip()} for {self.code(loop.target).strip()} "
                f"in {self.code(loop.iter).strip()}{condition_code}]\n")
        return first.with_changes(body=[_small_statement(text.rstrip())])


def _has_comment(node: cst.CSTNode) -> bool:
    found: list[cst.Comment] = []

    class _Find(cst.CSTVisitor):
        def visit_Comment(self, comment: cst.Comment) -> None:
            found.append(comment)

    node.visit(_Find())
    return bool(found)


def _append_body(loop: cst.For, name: str) -> tuple[cst.BaseExpression,
                                                    cst.BaseExpression | None] | None:
    if not isinstance(loop.body, cst.IndentedBlock) or len(loop.body.body) != 1:
        return None
    stmt = loop.body.body[0]
    condition = None
    if isinstance(stmt, cst.If):
        if stmt.orelse is not None or not isinstance(stmt.body, cst.IndentedBlock) or len(
                stmt.body.body) != 1:
            return None
        condition, stmt = stmt.test, stmt.body.body[0]
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    expr = stmt.body[0]
    if not isinstance(expr, cst.Expr) or not isinstance(expr.value, cst.Call):
        return None
    call = expr.value
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
            and func.value.value == name and func.attr.value == "append"
            and len(call.args) == 1 and not call.args[0].keyword and not call.args[0].star):
        return None
    return call.args[0].value, condition


def _comprehension_blocker(loop: ast.For, name: str, function: FunctionFacts) -> str | None:
    if not function.is_plain_local(name):
        return f"`{name}` is not a plain local"
    appended_uses = sum(1 for n in ast.walk(loop) if isinstance(n, ast.Name) and n.id == name)
    if name in names_in(loop.iter) or appended_uses != 1:
        return f"`{name}` is read inside the loop"
    for node in ast.walk(loop):
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.Lambda, ast.NamedExpr)):
            return "the loop contains yield, await, lambda or walrus"
    targets = names_in(loop.target)
    for target in targets:
        # The loop was parsed on its own: compare counts with the whole function's.
        inside = sum(1 for n in ast.walk(loop) if isinstance(n, ast.Name) and n.id == target)
        if len(function.occurrences(target)) != inside:
            return f"the loop variable `{target}` is used outside the loop"
    if targets & function.nested_names or targets & function.declared:
        return "a loop variable is seen by a nested scope or declared global"
    return None


class RedundantCopy(RuleTransformer):
    """`list(sorted(x))` → `sorted(x)`; `[v for v in xs]` → `list(xs)`."""

    info = RuleInfo(
        "redundant-copy", PERF, "Drop a redundant copy",
        ("`list(sorted(...))`: sorted already returns a new list; `list` and `sorted` are the "
         "builtins (nothing in the module rebinds them)",
         "`[v for v in xs]`: one `for` clause, no condition, the element is exactly the loop "
         "variable (a plain name), not async; `list` is the builtin"),
        "one list built instead of two, or a C loop instead of a comprehension",
    )
    triggers = frozenset({LIST_OF_SORTED, LIST_COMP})

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func, args = updated_node.func, updated_node.args
        if not (isinstance(func, cst.Name) and func.value == "list" and len(args) == 1
                and not args[0].keyword and not args[0].star):
            return updated_node
        inner = args[0].value
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Name)
                and inner.func.value == "sorted"):
            return updated_node
        if not (self.module_facts.is_builtin("list") and self.module_facts.is_builtin("sorted")):
            self.refuse(original_node, "list or sorted is rebound in this module")
            return updated_node
        if not self.fire(original_node, "list(sorted(...)) → sorted(...)"):
            return updated_node
        return inner.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_ListComp(self, original_node: cst.ListComp,
                       updated_node: cst.ListComp) -> cst.BaseExpression:
        comp = updated_node.for_in
        if (comp.inner_for_in is not None or comp.ifs or comp.asynchronous is not None
                or not isinstance(comp.target, cst.Name)
                or not isinstance(updated_node.elt, cst.Name)
                or updated_node.elt.value != comp.target.value):
            return updated_node
        if not self.module_facts.is_builtin("list"):
            self.refuse(original_node, "list is rebound in this module")
            return updated_node
        if not self.fire(original_node, "[v for v in xs] → list(xs)"):
            return updated_node
        iterable = comp.iter.with_changes(lpar=(), rpar=()) if isinstance(
            comp.iter, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) else comp.iter
        return cst.Call(cst.Name("list"), [cst.Arg(iterable)], lpar=updated_node.lpar,
                        rpar=updated_node.rpar)

