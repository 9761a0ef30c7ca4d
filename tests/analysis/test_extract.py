"""Tests of per-file extraction: definitions, measures, calls and unreadable sources."""

from __future__ import annotations

import codecs
import textwrap

from bot.analysis.extract import extract_source


def _functions(code: str, module: str = "m") -> dict[str, tuple]:
    record = extract_source(textwrap.dedent(code).encode(), module, False)
    assert record[0] == "ok", record
    return {fn[0]: fn for fn in record[5]}


class TestDefinitions:
    def test_signature_is_rendered_as_written(self) -> None:
        """The signature keeps annotations, defaults, star arguments and the return type."""
        fn = _functions("def f(a: int, /, b=2, *args: str, c: 'X' = None, **kw) -> bool:\n"
                        "    pass\n")["f"]
        assert fn[9] == "(a: int, /, b=2, *args: str, c: 'X' = None, **kw) -> bool"
        assert fn[10] == ("a", "b", "args", "c", "kw")

    def test_method_decorators_span_and_docstring(self) -> None:
        """A method is named Class.method with its decorators, span and cleaned docstring."""
        fn = _functions('''
            class C:
                @staticmethod
                @cache(size=2)
                def m(x):
                    """Do it.

                    Body.
                        Indented.
                    """
                    return x
        ''')["C.m"]
        assert fn[2] == "C" and fn[11] == ("staticmethod", "cache(size=2)")
        assert (fn[4], fn[5], fn[8]) == (5, 11, 3)
        assert fn[12] == "Do it.\n\nBody.\n    Indented."

    def test_nested_function_is_named_with_locals(self) -> None:
        """A function inside a function gets the `<locals>` qualified name."""
        assert "outer.<locals>.inner" in _functions(
            "def outer():\n    def inner():\n        pass\n    return inner\n")

    def test_async_function_is_flagged(self) -> None:
        """An async def is recorded as async."""
        assert _functions("async def f():\n    await g()\n")["f"][3] is True


class TestMeasures:
    def test_complexity_counts_branches(self) -> None:
        """Complexity is one plus ifs, loops, boolean operators and handlers."""
        fn = _functions('''
            def f(x):
                if x and y or z:
                    pass
                for i in x:
                    pass
                try:
                    pass
                except E:
                    pass
                return 1 if x else 2
        ''')["f"]
        assert fn[13] == 1 + 1 + 2 + 1 + 1 + 1

    def test_loop_nesting_depths(self) -> None:
        """Loops record their kind and nesting depth, comprehensions included."""
        fn = _functions('''
            def f(rows):
                for row in rows:
                    while row:
                        row = [c for c in row for d in c]
                for x in rows:
                    pass
        ''')["f"]
        assert [(kind, depth) for kind, _s, _e, depth in fn[14]] == [
            ("for", 1), ("while", 2), ("comprehension", 3), ("comprehension", 4), ("for", 1)]

    def test_loop_iterable_is_not_inside_the_loop(self) -> None:
        """A comprehension in a loop's iterable is at the loop's outer depth."""
        fn = _functions("def f(r):\n    for a in [x for x in r]:\n        pass\n")["f"]
        assert sorted(depth for *_rest, depth in fn[14]) == [1, 1]


class TestCalls:
    def test_calls_resolve_against_imports_and_definitions(self) -> None:
        """Call candidates use import aliases, module definitions and self."""
        record = extract_source(textwrap.dedent('''
            import os.path as osp
            from .sibling import helper as h
            def local(): pass
            class C:
                def m(self, arg):
                    osp.join("a")
                    h()
                    local()
                    self.other()
                    arg.method()
                    len([])
        ''').encode(), "pkg.mod", False)
        calls = {fn[0]: fn[15] for fn in record[5]}["C.m"]
        assert [(expr, cand) for expr, cand, _line in calls] == [
            ("osp.join", "os.path.join"), ("h", "pkg.sibling.helper"),
            ("local", "pkg.mod.local"), ("self.other", "pkg.mod.C.other"),
            ("arg.method", ".method")]

    def test_relative_import_from_a_package(self) -> None:
        """In an __init__, `from . import x` is relative to the package itself."""
        record = extract_source(b"from . import x\nfrom ..up import y\n", "a.b", True)
        assert [i[0] for i in record[3]] == ["a.b.x", "a.up.y"]


class TestUnreadable:
    def test_syntax_error_is_reported_with_its_line(self) -> None:
        """A syntax error gives an error record naming the line."""
        assert extract_source(b"x = 1\ndef f(:\n", "m", False)[:2] == ("error", "syntax_error")
        assert extract_source(b"x = 1\ndef f(:\n", "m", False)[3] == 2

    def test_python2_file_is_recognised(self) -> None:
        """A Python 2 file is reported as such rather than as a plain syntax error."""
        assert extract_source(b'print "hello"\n', "m", False)[1] == "python2"
        assert extract_source(b"try:\n    pass\nexcept E, e:\n    pass\n", "m", False)[1] \
            == "python2"

    def test_invalid_utf8_without_cookie_is_an_encoding_problem(self) -> None:
        """Bytes that are not UTF-8, without a coding cookie, are reported."""
        record = extract_source(b"x = 1\ns = '\xe9t\xe9'\n", "m", False)
        assert record[:2] == ("error", "encoding") and record[3] == 2

    def test_coding_cookie_is_honoured(self) -> None:
        """A latin-1 file with its PEP 263 cookie parses, with byte offsets kept right."""
        source = "# -*- coding: latin-1 -*-\ndef f(a='été'):\n    return a\n".encode("latin-1")
        fn = {f[0]: f for f in extract_source(source, "m", False)[5]}["f"]
        assert fn[9] == "(a='été')"

    def test_byte_order_mark_is_accepted(self) -> None:
        """A UTF-8 byte-order mark does not disturb parsing or columns."""
        record = extract_source(codecs.BOM_UTF8 + b"def f(x: int): pass\n", "m", False)
        assert record[0] == "ok" and record[5][0][9] == "(x: int)"

    def test_null_bytes_are_reported_as_binary(self) -> None:
        """A file with null bytes is binary, not source."""
        assert extract_source(b"x = 1\0\n", "m", False)[1] == "binary"

    def test_too_deep_nesting_is_reported(self) -> None:
        """Pathologically nested expressions are reported, not crashed on."""
        source = ("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n").encode()
        assert extract_source(source, "m", False)[1] in ("too_complex", "syntax_error")
