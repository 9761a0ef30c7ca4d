"""The census triggers: a rule is skipped only where it could not have rewritten anything."""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

import libcst as cst
import pytest

from bot.generate.conventions import Style
from bot.generate.rules import CATALOGUE
from bot.generate.rules.base import ParsedModule, Site, apply_rule, find_sites, parse_source
from bot.generate.rules.triggers import census

FIXTURES = Path(__file__).parent / "fixtures"
_STDLIB = Path(sysconfig.get_paths()["stdlib"])
# A spread of real modules: many loops, comparisons, handlers and branches of every kind.
STDLIB_SAMPLE = ("argparse.py", "configparser.py", "difflib.py", "email/_header_value_parser.py",
                 "ftplib.py", "inspect.py", "pickletools.py", "pydoc.py", "smtplib.py",
                 "tarfile.py", "textwrap.py", "typing.py", "zipfile.py", "tokenize.py",
                 "http/cookiejar.py", "logging/__init__.py", "json/decoder.py", "shlex.py")


def _corpus() -> list[tuple[str, str]]:
    found = [(str(p.relative_to(FIXTURES)), p.read_text(encoding="utf-8"))
             for p in sorted(FIXTURES.rglob("*.py"))]
    found += [(name, (_STDLIB / name).read_text(encoding="utf-8")) for name in STDLIB_SAMPLE
              if (_STDLIB / name).is_file()]
    return found


def _sites_without_triggers(rule: type, parsed: ParsedModule,
                            monkeypatch: pytest.MonkeyPatch) -> tuple[Site, ...]:
    """Return the rule's sites over every function body: no census consulted."""
    with monkeypatch.context() as patch:
        patch.setattr(ParsedModule, "function_census", lambda self, line: None)
        transformer = rule(parsed, Style(), None, False)
        parsed.wrapper.visit(transformer)
    return tuple(transformer.sites)


@pytest.mark.slow
def test_every_rewrite_happens_where_the_census_has_a_trigger(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the rule fixtures and real modules, each rule fires only where its trigger is:
    in the module's census, and in that of every function around the site. So skipping a
    module or a function body without the trigger loses no rewrite."""
    fired: dict[str, int] = {rule.info.rule_id: 0 for rule in CATALOGUE}
    missed = []
    for name, source in _corpus():
        try:
            parsed = parse_source(source)
        except (cst.ParserSyntaxError, SyntaxError):
            continue
        for rule in CATALOGUE:
            everywhere = _sites_without_triggers(rule, parsed, monkeypatch)
            if not everywhere:
                continue
            fired[rule.info.rule_id] += 1
            if rule.triggers is not None and rule.triggers.isdisjoint(parsed.census):
                missed.append((rule.info.rule_id, name, "module"))
            elif find_sites(rule, parsed, Style()) != everywhere:
                missed.append((rule.info.rule_id, name, "function"))
    assert missed == []
    assert all(fired.values()), fired  # each rule was seen firing: the check is not vacuous


def test_a_function_without_the_trigger_is_not_walked() -> None:
    """The module holds an `== None`, but only in `b`: the rule never enters `a`'s body."""
    source = ("def a(x):\n    return [y for y in x]\n\n"
              "def b(x):\n    return x == None\n")
    rule = next(r for r in CATALOGUE if r.info.rule_id == "eq-none")
    parsed = parse_source(source)
    entered: list[str] = []

    class Watching(rule):  # type: ignore[misc, valid-type]
        def visit_Return(self, node: cst.Return) -> None:
            entered.append(self.symbol)

    assert parsed.function_census(1) == frozenset({"list-comp"})
    assert [site.symbol for site in find_sites(Watching, parsed, Style())] == ["b"]
    assert entered == ["b"]


def test_a_module_without_the_trigger_skips_the_rule() -> None:
    """No bare except, no walk: the result says nothing fired and the source is unchanged."""
    source = "def f():\n    try:\n        g()\n    except ValueError:\n        pass\n"
    rule = next(r for r in CATALOGUE if r.info.rule_id == "bare-except")
    parsed = parse_source(source)
    assert not parsed.census & rule.triggers
    result = apply_rule(rule, parsed, Style())
    assert result.source == source and result.sites == ()


@pytest.mark.parametrize(("source", "trigger"), [
    ("x in [1, 2]", "in-literal"), ("re.match('a', s)", "re-call"),
    ("s = ''\nfor x in y:\n    s += x", "add-assign"),
    ("sorted(xs)[0]", "sorted-subscript"), ("q.pop(0)", "pop-front"),
    ("for x in xs:\n    r.append(x)", "append-loop"), ("list(sorted(xs))", "list-of-sorted"),
    ("[v for v in xs]", "list-comp"), ("def f(x={}): pass", "mutable-default"),
    ("async def f(*, x=set()): pass", "mutable-default"), ("x is 'a'", "is-compare"),
    ("-1 is not x", "is-compare"), ("a is b is 2.5", "is-compare"),
    ("None != x", "eq-none"), ("try: pass\nexcept: pass", "bare-except"),
    ("async def f():\n    async for k in d.keys():\n        del d[k]", "shrinking-loop"),
    ("for k in d:\n    d.pop(k)", "shrinking-loop"),
    ("def f():\n    return 1\n    g()", "after-exit"),
    ("for x in y:\n    try: pass\n    except E:\n        break\n        g()", "after-exit"),
    ("if a:\n    return\nelse:\n    b()", "else-after-exit"),
    ("if a:\n    b()\nelif c:\n    b()", "elif"),
])
def test_census_finds_each_trigger(source: str, trigger: str) -> None:
    """Each shape a rule rewrites puts its trigger in the census."""
    assert trigger in census(ast.parse(source))


def test_census_of_plain_code_is_empty() -> None:
    """Code with none of the shapes gives no trigger; identity tests of None, bools and
    names are what `is` is for."""
    assert census(ast.parse("def f(x=None):\n    return g(x) + 1\n")) == frozenset()
    assert census(ast.parse("a is None or a is not True or a is b or a is ...")) == frozenset()
    assert census(ast.parse("n = 0\nn += 1\ns = ''\nt += s\nr = [v + 1 for v in xs]\n"
                            "q = [v for v in xs if v]")) == frozenset()
