"""Tests of incremental linking: an index built from the cache equals a cold index of the tree."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from bot.analysis import incremental
from bot.analysis.hotspots import rank_hot_spots
from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex

WriteTree = Callable[[dict[str, str | bytes]], Path]
PROJECT = Path(__file__).parent / "fixtures" / "project"

BASE = {
    "pkg/__init__.py": dedent("""\
        from pkg.util import helper
        __all__ = ['helper', 'Runner']
        from pkg.main import Runner
        """),
    "pkg/util.py": dedent("""\
        def helper(x):
            for i in x:
                for j in i:
                    print(j)
            return x


        def other():
            return 1


        def lonely():
            return 0
        """),
    "pkg/main.py": dedent("""\
        from pkg import helper
        from pkg import util


        class Base:
            def go(self):
                return helper([])


        class Runner(Base):
            def run(self, items):
                for item in items:
                    self.go()
                    util.later()
                return items.finish()

            def finish(self):
                return 0
        """),
    "tests/conftest.py": dedent("""\
        import pytest


        @pytest.fixture
        def runner():
            from pkg.main import Runner
            return Runner()
        """),
    "tests/test_main.py": dedent("""\
        import unittest
        from pkg.main import Runner
        from pkg.util import other


        def test_run(runner):
            runner.run([])


        class Case(unittest.TestCase):
            def setUp(self):
                self.r = Runner()

            def test_other(self):
                other()
        """),
}

# Each edit: files to write (None deletes), applied to BASE after a first, cached build.
EDITS: dict[str, dict[str, str | None]] = {
    "body_only": {"pkg/util.py": BASE["pkg/util.py"].replace("return 1\n", "return 2 + 1\n")},
    "call_added_in_body": {
        "pkg/util.py": BASE["pkg/util.py"].replace("return 1\n", "return lonely()\n")},
    "renamed_definition_others_import": {
        "pkg/util.py": BASE["pkg/util.py"].replace("def helper(", "def helper2(")},
    "new_definition_resolves_a_call": {
        "pkg/util.py": BASE["pkg/util.py"] + "\n\ndef later():\n    return helper([])\n"},
    "second_method_of_a_name": {
        "pkg/extra.py": "class Other:\n    def finish(self):\n        return 1\n"},
    "file_removed": {"tests/conftest.py": None},
    "file_broken": {"pkg/util.py": "def helper(:\n"},
    "base_class_stops_being_a_testcase": {
        "tests/test_main.py": BASE["tests/test_main.py"].replace("unittest.TestCase", "object")},
    "fixture_renamed": {
        "tests/conftest.py": BASE["tests/conftest.py"].replace("def runner(", "def runner2(")},
    "package_gains_init": {"tests/__init__.py": ""},
    "star_import_added": {
        "pkg/more.py": "from pkg.util import *\n\n\ndef use():\n    return other()\n",
        "pkg/main.py": BASE["pkg/main.py"].replace("util.later()", "more.use()").replace(
            "from pkg import util\n", "from pkg import util, more\n")},
}

# Files parsed again beyond the edited ones: a new __init__.py renames its folder's modules.
RENAMED = {"package_gains_init": 2}


def snapshot(index: CodebaseIndex) -> dict[str, Any]:
    """Return every field and look-up of an index as plain data (timings left out)."""
    functions = sorted(index.functions)
    return {
        "modules": {k: dataclasses.astuple(v) for k, v in index.modules.items()},
        "classes": dict(index.classes), "functions": dict(index.functions),
        "module_graph": dict(index.module_graph), "call_records": dict(index.call_records),
        "resolution": dict(index.resolution),
        "caller_records": {k: list(v) for k, v in index.caller_records.items()},
        "tests": index.tests, "benchmarks": index.benchmarks, "tested": index.tested,
        "benchmarked": index.benchmarked, "public_api": index.public_api,
        "conventions": index.conventions, "problems": index.problems,
        "files": (index.stats.files, index.stats.lines),
        "fan_in": {f: index.fan_in(f) for f in functions},
        "callers_of": {f: index.callers_of(f) for f in functions},
        "tests_for": {f: index.tests_for(f) for f in functions},
        "functions_in": {m.path: index.functions_in(m.path) for m in index.modules.values()},
        "hot_spots": rank_hot_spots(index, 100),
    }


def _age(root: Path) -> None:
    """Make the files look old, as files of a checkout are (not racily recent)."""
    for path in root.rglob("*.py"):
        os.utime(path, (1_600_000_000, 1_600_000_000))


def _apply(root: Path, edit: dict[str, str | None]) -> None:
    for rel, text in edit.items():
        path = root / rel
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _compare(cold: dict[str, Any], warm: dict[str, Any]) -> list[str]:
    return [name for name in cold if cold[name] != warm[name]]


@pytest.mark.parametrize("name", sorted(EDITS))
def test_incremental_index_equals_cold_index(name: str, write_tree: WriteTree,
                                            tmp_path: Path) -> None:
    """After an edit, the index built from the cache equals a cold index, field by field."""
    root = write_tree(dict(BASE))
    _age(root)
    cache = tmp_path / "cache"
    build_index(root, cache_dir=cache)
    _apply(root, EDITS[name])
    warm = build_index(root, cache_dir=cache)
    cold = build_index(root)
    assert _compare(snapshot(cold), snapshot(warm)) == []
    changed = {rel for rel, text in EDITS[name].items() if text is not None}
    assert warm.stats.parsed == len(changed) + RENAMED.get(name, 0)


def test_edits_in_sequence_keep_the_cache_exact(write_tree: WriteTree, tmp_path: Path) -> None:
    """Every edit applied one after another on one cache still matches a cold index."""
    root = write_tree(dict(BASE))
    _age(root)
    cache = tmp_path / "cache"
    build_index(root, cache_dir=cache)
    for name in sorted(EDITS):
        _apply(root, EDITS[name])
        warm = build_index(root, cache_dir=cache)
        assert _compare(snapshot(build_index(root)), snapshot(warm)) == [], name


def test_renamed_definition_is_seen_by_its_importers(write_tree: WriteTree,
                                                     tmp_path: Path) -> None:
    """A call into a renamed function stops resolving although its file did not change."""
    root = write_tree(dict(BASE))
    _age(root)
    cache = tmp_path / "cache"
    before = build_index(root, cache_dir=cache)
    assert before.fan_in("pkg.util.helper") == 1
    _apply(root, EDITS["renamed_definition_others_import"])
    after = build_index(root, cache_dir=cache)
    assert after.stats.parsed == 1
    assert after.fan_in("pkg.util.helper") == 0 and "pkg.util.helper2" in after.functions
    targets = {s.expression: s.target for s in after.calls_from("pkg.main.Base.go")}
    assert targets == {"helper": None}


def test_fixture_project_edit_matches_cold(tmp_path: Path) -> None:
    """On the shop fixture, rewriting a module used by tests and benchmarks matches cold."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT, root)
    _age(root)
    cache = tmp_path / "cache"
    build_index(root, cache_dir=cache)
    pricing = root / "src" / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text().replace("pair_bonus", "pair_reward"))
    warm = build_index(root, cache_dir=cache)
    assert warm.stats.parsed == 1
    assert _compare(snapshot(build_index(root)), snapshot(warm)) == []


def test_unchanged_tree_reuses_every_link(write_tree: WriteTree, tmp_path: Path) -> None:
    """A second build of an unchanged tree neither parses nor rewrites the cache."""
    root = write_tree(dict(BASE))
    _age(root)
    cache = tmp_path / "cache"
    first = build_index(root, cache_dir=cache)
    (blob,) = cache.iterdir()
    written = blob.stat().st_mtime_ns
    second = build_index(root, cache_dir=cache)
    assert second.stats.parsed == 0 and blob.stat().st_mtime_ns == written
    assert snapshot(first) == snapshot(second)


def _large_tree() -> dict[str, str | bytes]:
    """Return BASE plus enough modules calling into it for the worker pool to be used."""
    tree: dict[str, str | bytes] = dict(BASE)
    body = ("from pkg.util import helper\nfrom pkg.main import Runner\n\n\n"
            "def use{n}(items):\n    Runner().run(items)\n    return helper(items)\n"
            + "# padding\n" * 2600)
    tree.update({f"pkg/user{n}.py": body.format(n=n) for n in range(45)})
    return tree


def test_workers_link_like_the_main_process(write_tree: WriteTree, tmp_path: Path) -> None:
    """Parsing and hashing in worker processes gives the in-process index and a valid cache."""
    root = write_tree(_large_tree())
    _age(root)
    cache = tmp_path / "cache"
    pooled = build_index(root, cache_dir=cache, workers=2)
    inline = build_index(root, workers=1)
    assert _compare(snapshot(inline), snapshot(pooled)) == []
    assert pooled.fan_in("pkg.util.helper") == 46
    _apply(root, EDITS["renamed_definition_others_import"])
    warm = build_index(root, cache_dir=cache, workers=2)
    assert warm.stats.parsed == 1
    assert _compare(snapshot(build_index(root, workers=1)), snapshot(warm)) == []


@pytest.fixture
def link_in_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link in two processes from the first module on (this test process may run threads)."""
    monkeypatch.setattr(incremental, "_FORK_MIN_MODULES", 1)
    monkeypatch.setattr(incremental, "fork_is_safe", lambda: True)


def test_linking_in_two_processes_gives_the_same_index(
        write_tree: WriteTree, tmp_path: Path, link_in_two: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked child linking a share of the modules gives the one-process index and cache."""
    root = write_tree(_large_tree())
    _age(root)
    cache = tmp_path / "cache"
    linked_here: list[str] = []
    link = incremental._Run._link

    def count(run: Any, entry: Any, resolver: Any) -> Any:
        linked_here.append(entry.path)
        return link(run, entry, resolver)

    with monkeypatch.context() as spy:
        spy.setattr(incremental._Run, "_link", count)
        forked = build_index(root, cache_dir=cache, workers=1)
    # Counted in this process only: the child linked its share, 3 modules of every 8.
    total = len(_large_tree())
    theirs = sum(1 for i in range(total) if i % incremental._CHILD_OF in incremental._CHILD_SLOTS)
    assert 0 < theirs < total / 2
    assert len(linked_here) == total - theirs
    with monkeypatch.context() as serial:
        serial.setattr(incremental, "_FORK_MIN_MODULES", 10**9)
        alone = build_index(root, workers=1)
    assert _compare(snapshot(alone), snapshot(forked)) == []
    assert forked.fan_in("pkg.util.helper") == 46
    # The answers the child computed came back: the cache re-links a rename exactly.
    _apply(root, EDITS["renamed_definition_others_import"])
    warm = build_index(root, cache_dir=cache, workers=1)
    assert warm.stats.relinked > 1
    assert _compare(snapshot(build_index(root, workers=1)), snapshot(warm)) == []


def test_a_failed_link_child_costs_only_time(write_tree: WriteTree, link_in_two: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """When the child dies without an answer, its share is linked in this process."""
    root = write_tree(_large_tree())

    def die(*_args: Any) -> None:
        os._exit(3)

    monkeypatch.setattr(incremental._Run, "_link_share", die)
    index = build_index(root, workers=1)
    assert index.fan_in("pkg.util.helper") == 46
    assert len(index.modules) == len(_large_tree())
