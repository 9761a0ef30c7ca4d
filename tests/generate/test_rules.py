"""Every rule rewrites its positive fixture, leaves its negative one, and keeps its tests green."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from bot.generate.conventions import Style
from bot.generate.rules import CATALOGUE, apply_rule, rule_by_id

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RULE_IDS = [rule.info.rule_id for rule in CATALOGUE]


def _run_fixture_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    # Our own fixtures, run on the host with no plugins, cache or outer configuration.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
         "--rootdir", str(folder), str(folder)],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )


def test_catalogue_has_fifteen_distinct_rules() -> None:
    """The catalogue holds at least fifteen rules with distinct ids and stated preconditions."""
    assert len(set(RULE_IDS)) == len(RULE_IDS) >= 15
    assert all(rule.info.preconditions and rule.info.effect for rule in CATALOGUE)


def test_every_rule_has_fixtures() -> None:
    """Each rule has a positive, a negative fixture and the fixtures' own tests."""
    for rule_id in RULE_IDS:
        folder = FIXTURES / rule_id
        assert {"positive.py", "negative.py", "test_fixture.py"} <= {
            p.name for p in folder.iterdir()}, rule_id


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_rewrites_positive_and_refuses_negative(rule_id: str, tmp_path: Path) -> None:
    """The rule rewrites the positive fixture, leaves the negative one, and its tests pass."""
    rule = rule_by_id(rule_id)
    folder = tmp_path / rule_id
    shutil.copytree(FIXTURES / rule_id, folder)
    positive = (folder / "positive.py").read_text()
    negative = (folder / "negative.py").read_text()

    rewritten = apply_rule(rule, positive, Style())
    untouched = apply_rule(rule, negative, Style())

    assert rewritten.changed and rewritten.source != positive
    assert all(site.symbol != "<module>" for site in rewritten.sites)
    assert not untouched.changed and untouched.source == negative
    compile(rewritten.source, "positive.py", "exec")
    (folder / "positive.py").write_text(rewritten.source)
    result = _run_fixture_tests(folder)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_is_idempotent(rule_id: str) -> None:
    """Running a rule on its own output changes nothing more."""
    rule = rule_by_id(rule_id)
    once = apply_rule(rule, (FIXTURES / rule_id / "positive.py").read_text(), Style())
    twice = apply_rule(rule, once.source, Style())
    assert not twice.changed


def test_membership_refuses_a_left_side_that_may_be_unhashable() -> None:
    """`x in ["a"]` with an unknown x is refused and says why."""
    result = apply_rule(rule_by_id("membership-set"), "def f(x):\n    return x in ['a']\n",
                        Style())
    assert not result.changed
    assert "TypeError" in result.refusals[0].reason


def test_sorted_last_element_is_refused_for_stability() -> None:
    """`sorted(x)[-1]` is not rewritten to max: ties would pick a different element."""
    result = apply_rule(rule_by_id("sorted-min"), "def f(x):\n    return sorted(x)[-1]\n",
                        Style())
    assert not result.changed and "max(x) returns the first" in result.refusals[0].reason


def test_regex_constant_follows_the_import_block() -> None:
    """The compiled pattern is defined after `import re`, named in constant style."""
    source = ('"""Doc."""\nimport re\n\n\ndef f(xs):\n    for x in xs:\n'
              '        re.sub("a", "b", x)\n')
    result = apply_rule(rule_by_id("regex-hoist"), source, Style())
    assert '_F_RE = re.compile("a")' in result.source
    assert result.source.index("import re") < result.source.index("_F_RE =")
    assert "_F_RE.sub(\"b\", x)" in result.source


def test_string_join_uses_the_repository_naming_and_quotes() -> None:
    """New identifiers and literals follow the detected naming and quote style."""
    source = "def f(xs):\n    outText = ''\n    for x in xs:\n        outText += str(x)\n" \
             "    return outText\n"
    result = apply_rule(rule_by_id("string-join"), source, Style(naming="camelCase", quote="'"))
    assert "outTextParts = []" in result.source
    assert "outText = ''.join(outTextParts)" in result.source


def test_only_restricts_the_rewrite_to_named_functions() -> None:
    """With `only`, a rule rewrites the named function and leaves the others."""
    source = "def a(x):\n    return x == None\n\n\ndef b(x):\n    return x == None\n"
    result = apply_rule(rule_by_id("eq-none"), source, Style(), only=frozenset({"b"}))
    assert result.source.count("is None") == 1 and [s.symbol for s in result.sites] == ["b"]


def test_methods_and_nested_functions_get_qualified_symbols() -> None:
    """Sites name methods as Class.method and nested functions with <locals>."""
    source = ("class C:\n    def m(self, x):\n        def inner():\n            return x == None\n"
              "        return inner\n")
    result = apply_rule(rule_by_id("eq-none"), source, Style())
    assert [s.symbol for s in result.sites] == ["C.m.<locals>.inner"]


def test_bad_source_raises_a_parser_error() -> None:
    """A module that does not parse is reported with libcst's syntax error."""
    with pytest.raises(cst.ParserSyntaxError):
        apply_rule(rule_by_id("eq-none"), "def f(:\n", Style())


def test_unknown_rule_id_names_the_known_ones() -> None:
    """Asking for a rule that does not exist lists the catalogue."""
    with pytest.raises(KeyError, match="membership-set"):
        rule_by_id("no-such-rule")


_TWO_QUEUES = ("def loopless(item):\n    queue = []\n    queue.append(item)\n"
               "    return queue.pop(0)\n\n\n"
               "def outer(items):\n    def drain():\n        queue = []\n        out = []\n"
               "        queue.extend(items)\n        while queue:\n"
               "            out.append(queue.pop(0))\n        return out\n"
               "    return drain()\n")


def test_loops_only_leaves_loopless_functions_unvisited() -> None:
    """With loops_only, a performance rule finds nothing in a function without a loop."""
    source = ("def f(xs):\n    for x in xs:\n        print(x)\n\n\n"
              "def g(xs):\n    return sorted(xs)[0]\n")
    rule = rule_by_id("sorted-min")
    assert apply_rule(rule, source, Style()).changed
    assert not apply_rule(rule, source, Style(), loops_only=True).changed


def test_loops_only_still_reaches_a_loop_in_a_nested_function() -> None:
    """A loop inside a nested function keeps its enclosing functions walked."""
    result = apply_rule(rule_by_id("deque-queue"), _TWO_QUEUES, Style(), loops_only=True)
    assert {site.symbol for site in result.sites} == {"outer.<locals>.drain"}


def test_only_walks_into_the_enclosing_function_of_a_wanted_symbol() -> None:
    """Naming a nested function rewrites it even though its parent is not named."""
    result = apply_rule(rule_by_id("deque-queue"), _TWO_QUEUES, Style(),
                        only=frozenset({"outer.<locals>.drain"}))
    assert result.changed and "popleft()" in result.source
    assert "return queue.pop(0)" in result.source  # the loopless function is left alone
