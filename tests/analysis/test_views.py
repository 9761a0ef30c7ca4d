"""Tests of the index's mappings, which are built from the cached modules when looked at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.analysis.index import build_index

WriteTree = Callable[[dict[str, str | bytes]], Path]

FILES = {
    "pkg/__init__.py": "",
    "pkg/mod.py": "def outer():\n    def inner():\n        return 1\n    return inner()\n\n\n"
                  "class K:\n    def m(self):\n        return outer()\n",
    "a/conftest.py": "def hook():\n    return 1\n",
    "b/conftest.py": "def hook():\n    return 2\n",
}


def test_lookups_find_nested_functions_and_methods(write_tree: WriteTree) -> None:
    """Nested functions, methods and classes are found by qualified name without iteration."""
    index = build_index(write_tree(FILES))
    assert index.function("pkg.mod.outer.<locals>.inner") is not None
    assert index.functions["pkg.mod.K.m"].class_qualname == "pkg.mod.K"
    assert index.classes["pkg.mod.K"].methods == ("m",)
    assert index.function("pkg.mod.missing") is None and "pkg.nothing.f" not in index.functions


def test_modules_with_dotted_names_are_looked_up(write_tree: WriteTree) -> None:
    """Two top-level files of one name (named with their path) keep their own functions."""
    index = build_index(write_tree(FILES))
    first = index.function("conftest[b/conftest.py].hook")
    assert first is not None and first.path == "b/conftest.py"
    assert index.function("conftest.hook") is not None


def test_lookup_and_iteration_agree(write_tree: WriteTree) -> None:
    """A mapping looked up key by key holds what its iteration lists."""
    index = build_index(write_tree(FILES))
    names = ["pkg.mod.outer", "pkg.mod.K.m", "conftest.hook"]
    one_by_one = {name: index.functions[name] for name in names}
    assert len(index.functions) == 5 and set(index.functions) >= set(names)
    assert {name: index.functions[name] for name in names} == one_by_one
    assert dict(index.modules)["pkg.mod"].functions == (
        "pkg.mod.outer", "pkg.mod.outer.<locals>.inner", "pkg.mod.K.m")


def test_call_graph_is_built_on_first_use(write_tree: WriteTree) -> None:
    """Callers, call records and the resolution agree with each other."""
    index = build_index(write_tree(FILES))
    assert [site.caller for site in index.callers_of("pkg.mod.outer")] == ["pkg.mod.K.m"]
    assert index.call_records["pkg.mod.K.m"] == (("outer", "pkg.mod.outer", 9),)
    assert index.resolution["pkg.mod.outer"] == "pkg.mod.outer"
    assert index.module_graph["pkg.mod"] == ()
