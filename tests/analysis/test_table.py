"""Tests of the table of names and the resolver's answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.analysis.table import (
    EMPTY,
    FIXTURE,
    SETUPS,
    SYMBOL,
    TESTCASE,
    Resolver,
    Table,
    changed_keys,
    contribution,
)


def _record(functions: Sequence[tuple[str, str, str | None]] = (),
            classes: Sequence[tuple[str, tuple[str, ...]]] = (),
            imports: Sequence[tuple[str, str]] = (),
            stars: tuple[str, ...] = ()) -> tuple[object, ...]:
    """Return an extraction record with only what the table reads."""
    fns = tuple((qual, name, cls, False, 1, 1, 0, 0, 1, "()", (), (), None, 1, (), (), False,
                 False) for qual, name, cls in functions)
    cls_rows = tuple((qual, qual.rpartition(".")[2], 1, 1, (), None, bases, ())
                     for qual, bases in classes)
    return ("ok", 1, None, tuple((t, b, 1, True) for t, b in imports), cls_rows, fns, {}, None,
            {}, stars)


def _table(modules: dict[str, tuple[object, ...]],
           fixtures: Mapping[str, list[str]] | None = None) -> Table:
    table = Table()
    for module, record in modules.items():
        table.add(module, contribution(record, module, (fixtures or {}).get(module, [])))
    return table


def _resolver(table: Table) -> Resolver:
    return Resolver(lambda: table, {}, {}, {})


PACKAGE = {
    # pkg/__init__.py: from pkg.a import *; from pkg.b import *
    "pkg": _record(stars=("pkg.a", "pkg.b")),
    "pkg.a": _record(functions=[("helper", "helper", None)]),
    "pkg.b": _record(functions=[("tool", "tool", None)], imports=[("pkg.a.helper", "helper")]),
    "pkg.c": _record(classes=[("Base", ("unittest.TestCase",)), ("Child", ("pkg.c.Base",))],
                     functions=[("Base.setUp", "setUp", "Base"), ("Child.run", "run", "Child")]),
    "loop": _record(imports=[("loop.y", "x"), ("loop.x", "y")]),
}


def test_star_imported_names_resolve_through_the_package() -> None:
    """`pkg.tool` resolves through pkg's star imports to the module defining it."""
    resolver = _resolver(_table(PACKAGE))
    assert resolver.resolve("pkg.tool") == "pkg.b.tool"
    assert resolver.resolve("pkg.helper") == "pkg.a.helper"
    assert resolver.resolve("pkg.missing") is None


def test_answers_do_not_depend_on_the_order_of_questions() -> None:
    """Two resolvers asked the same questions in opposite orders give the same answers."""
    table = _table(PACKAGE)
    questions = ["pkg.tool", "pkg.b.helper", "loop.x", "pkg.c.Child", ".run", "pkg.helper",
                 "loop.y.z", "pkg.c.Child.setUp"]
    forward, backward = _resolver(table), _resolver(table)
    answers = [forward.resolve(q) for q in questions]
    assert [backward.resolve(q) for q in reversed(questions)] == list(reversed(answers))
    assert forward.deps == backward.deps


def test_alias_cycles_end_unresolved() -> None:
    """Imports that alias each other in a circle resolve to nothing instead of looping."""
    assert _resolver(_table(PACKAGE)).resolve("loop.x") is None


def test_inherited_methods_and_testcases_are_found() -> None:
    """A method and a TestCase base are found on a project base class."""
    resolver = _resolver(_table(PACKAGE))
    assert resolver.resolve("pkg.c.Child.setUp") == "pkg.c.Base.setUp"
    assert resolver.query(TESTCASE + "pkg.c.Child") is True
    assert resolver.query(SETUPS + "pkg.c.Child") == (("self.setUp", "pkg.c.Base.setUp"),)


def test_answers_record_the_names_they_looked_up() -> None:
    """An answer through an alias records both the alias and its target."""
    resolver = _resolver(_table(PACKAGE))
    assert resolver.resolve("pkg.b.helper") == "pkg.a.helper"
    assert {"pkg.b.helper", "pkg.a.helper"} <= set(resolver.deps["pkg.b.helper"])


def test_public_symbols_follow_reexports() -> None:
    """A re-exported name reports where it is defined."""
    resolver = _resolver(_table(PACKAGE))
    assert resolver.query(SYMBOL + "pkg.b.helper") == ("reexport", "pkg.a.helper")
    assert resolver.query(SYMBOL + "pkg.b.tool") == ("function", "pkg.b.tool")


def test_first_fixture_by_path_wins() -> None:
    """Of two fixtures with one name, the one in the first module added is used."""
    table = _table({"tests.conftest": _record(functions=[("db", "db", None)]),
                    "tests.z": _record(functions=[("db", "db", None)])},
                   {"tests.conftest": ["tests.conftest.db"], "tests.z": ["tests.z.db"]})
    assert _resolver(table).query(FIXTURE + "db") == "tests.conftest.db"


def test_changed_keys_name_what_a_rename_touches() -> None:
    """Renaming a function changes its old and new names; an identical module changes none."""
    before = contribution(_record(functions=[("f", "f", None)]), "m", [])
    after = contribution(_record(functions=[("g", "g", None)]), "m", [])
    assert changed_keys("m", before, after) == {"m.f", "m.g"}
    assert changed_keys("m", before, before) == set()
    assert "m" in changed_keys("m", before, EMPTY)  # the module itself is gone
