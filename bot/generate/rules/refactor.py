"""Refactoring rules: simpler code with exactly the same behaviour."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst

from bot.generate.rules.base import RuleInfo, RuleTransformer
from bot.generate.rules.facts import binds_names
from bot.generate.rules.triggers import AFTER_EXIT, ELIF, ELSE_AFTER_EXIT
from bot.generate.suggestion import ModificationType

REFACTOR = ModificationType.REFACTOR
_EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


def _is_exit(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[-1], _EXITS)


def _ends_in_exit(block: cst.BaseSuite) -> bool:
    if isinstance(block, cst.SimpleStatementSuite):
        return isinstance(block.body[-1], _EXITS)
    assert isinstance(block, cst.IndentedBlock)
    return bool(block.body) and _is_exit(block.body[-1])


class Unreachable(RuleTransformer):
    """Statements after `return` / `raise` / `continue` / `break` in the same block → removed."""

    info = RuleInfo(
        "unreachable-code", REFACTOR, "Remove code that can never run",
        ("the statements follow a return, raise, continue or break in the same block",
         "they bind or declare no name (removing an assignment, import, def, global or "
         "nonlocal could change whether a name is local to the function)",
         "they contain no yield or await (removing a yield would turn a generator into a "
         "plain function)"),
        "less code to read; no behaviour changes because the code never ran",
    )
    triggers = frozenset({AFTER_EXIT})

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        body = list(updated_node.body)
        for index, stmt in enumerate(body[:-1]):
            if not _is_exit(stmt):
                continue
            dead = body[index + 1:]
            text = "".join(self.code(s) for s in original_node.body[index + 1:])
            tree = ast.parse(textwrap.dedent(text))
            if binds_names(tree) or any(
                    isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await)) for n in ast.walk(tree)):
                self.refuse(dead[0], "the unreachable code binds a name or yields")
                return updated_node
            if not self.fire(original_node.body[index + 1], f"{len(dead)} unreachable "
                             "statement(s) removed"):
                return updated_node
            return updated_node.with_changes(body=body[:index + 1])
        return updated_node


class RedundantElse(RuleTransformer):
    """`if c: ... return` / `else: body` → `if c: ... return` then `body` unindented."""

    info = RuleInfo(
        "redundant-else", REFACTOR, "Drop an else after a branch that always leaves",
        ("the `if` has a plain `else` (no `elif`) and its own branch ends in return, raise, "
         "continue or break, so the else body runs exactly when it would after the if",
         "the `if` is a statement of an indented block (a function, loop or branch body)"),
        "one indentation level less; identical control flow",
    )
    triggers = frozenset({ELSE_AFTER_EXIT})

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        body: list[cst.BaseStatement] = []
        changed = False
        for original, stmt in zip(original_node.body, updated_node.body, strict=True):
            if (isinstance(stmt, cst.If) and isinstance(stmt.orelse, cst.Else)
                    and isinstance(stmt.orelse.body, cst.IndentedBlock)
                    and _ends_in_exit(stmt.body) and not _has_comment(stmt.orelse)
                    and self.fire(original, "else after an exiting branch → dedented")):
                body.append(stmt.with_changes(orelse=None))
                body.extend(stmt.orelse.body.body)
                changed = True
            else:
                body.append(stmt)
        return updated_node.with_changes(body=body) if changed else updated_node


def _has_comment(node: cst.Else) -> bool:
    """Return whether the else line carries a comment we would lose."""
    header = node.body.header if isinstance(node.body, cst.IndentedBlock) else None
    return bool(header and header.comment) or any(line.comment for line in node.leading_lines)


class DuplicateBranches(RuleTransformer):
    """`if a: X` / `elif b: X` with identical bodies → `if a or b: X`."""

    info = RuleInfo(
        "duplicate-branches", REFACTOR, "Merge an elif whose body repeats the if's",
        ("an `if` and its directly following `elif` have bodies that are identical in code",
         "`if a: X elif b: X` and `if a or b: X` evaluate a, then b only when a is false, "
         "exactly once each, and run X in the same cases"),
        "the shared body is written once",
    )
    triggers = frozenset({ELIF})

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If:
        orelse = updated_node.orelse
        if not isinstance(orelse, cst.If):
            return updated_node
        if not updated_node.body.deep_equals(orelse.body):
            return updated_node
        if not self.fire(original_node, "elif with the same body as the if → `or`"):
            return updated_node
        test = cst.BooleanOperation(_wrapped(updated_node.test), cst.Or(),
                                    _wrapped(orelse.test))
        return updated_node.with_changes(test=test, orelse=orelse.orelse)


def _wrapped(test: cst.BaseExpression) -> cst.BaseExpression:
    # Lower precedence than `or`: a conditional expression, a lambda or a walrus needs parens.
    if isinstance(test, (cst.IfExp, cst.Lambda, cst.NamedExpr)) and not test.lpar:
        return test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return test
