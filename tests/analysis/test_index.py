"""Tests of building the index: module names, the cache, and problems reported."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.analysis.index import build_index, module_names
from bot.analysis.model import ProblemKind
from bot.errors import AnalysisError

WriteTree = Callable[[dict[str, str | bytes]], Path]


def test_module_names_follow_packages() -> None:
    """Names climb folders with __init__.py; a src/ folder without one is not part of it."""
    names = module_names(["src/pkg/__init__.py", "src/pkg/sub/__init__.py", "src/pkg/sub/m.py",
                          "tests/test_m.py", "a/conftest.py", "b/conftest.py"], "repo")
    assert names["src/pkg/sub/m.py"] == ("pkg.sub.m", False)
    assert names["src/pkg/__init__.py"] == ("pkg", True)
    assert names["tests/test_m.py"] == ("test_m", False)
    assert names["b/conftest.py"] == ("conftest[b/conftest.py]", False)


def test_a_folder_without_init_inside_a_package_is_part_of_it() -> None:
    """`src/flask/sansio/app.py` (sansio has no __init__.py) imports as flask.sansio.app."""
    names = module_names(["src/flask/__init__.py", "src/flask/sansio/app.py",
                          "src/flask/sansio/deep/x.py", "scripts/tool/run.py"], "repo")
    assert names["src/flask/sansio/app.py"] == ("flask.sansio.app", False)
    assert names["src/flask/sansio/deep/x.py"] == ("flask.sansio.deep.x", False)
    assert names["scripts/tool/run.py"] == ("run", False)  # no package above: as before


def test_root_that_is_a_package_is_named_after_its_folder() -> None:
    """Analysing a package folder itself prefixes its name."""
    assert module_names(["__init__.py", "m.py"], "pkg")["m.py"] == ("pkg.m", False)


def test_bad_files_are_skipped_and_reported(write_tree: WriteTree) -> None:
    """Broken, Python 2, non-UTF-8 and binary files are reported; the rest is indexed."""
    root = write_tree({"good.py": "def f():\n    return 1\n", "broken.py": "def (:\n",
                       "old.py": 'print "hi"\n', "latin.py": b"s = '\xe9'\n",
                       "bom.py": b"\xef\xbb\xbfdef g():\n    pass\n", "bin.py": b"\0\1\2"})
    index = build_index(root)
    assert set(index.functions) == {"good.f", "bom.g"}
    assert {(p.path, p.kind) for p in index.problems} == {
        ("broken.py", ProblemKind.SYNTAX_ERROR), ("old.py", ProblemKind.PYTHON2),
        ("latin.py", ProblemKind.ENCODING), ("bin.py", ProblemKind.BINARY)}


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    """A root that is not a folder raises AnalysisError naming it."""
    with pytest.raises(AnalysisError, match="is not a folder"):
        build_index(tmp_path / "nope")


class TestCache:
    def _tree(self, write_tree: WriteTree, count: int = 12) -> Path:
        return write_tree({f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(count)})

    def _age(self, root: Path) -> None:
        """Make the files look old, as files of a checkout are (not racily recent)."""
        for path in root.glob("*.py"):
            os.utime(path, (1_600_000_000, 1_600_000_000))

    def test_second_build_parses_nothing(self, write_tree: WriteTree, tmp_path: Path) -> None:
        """An unchanged tree is served from the cache entirely."""
        root = self._tree(write_tree)
        self._age(root)
        first = build_index(root, cache_dir=tmp_path / "cache")
        second = build_index(root, cache_dir=tmp_path / "cache")
        assert (first.stats.parsed, second.stats.parsed, second.stats.cached) == (12, 0, 12)
        assert second.functions == first.functions

    def test_only_changed_files_are_parsed_again(self, write_tree: WriteTree,
                                                 tmp_path: Path) -> None:
        """After two files change, exactly those two are parsed and their change is seen."""
        root = self._tree(write_tree)
        self._age(root)
        build_index(root, cache_dir=tmp_path / "cache")
        (root / "m3.py").write_text("def g3():\n    return 3\n")
        (root / "m5.py").write_text("def f5(x):\n    return x\n")
        index = build_index(root, cache_dir=tmp_path / "cache")
        assert index.stats.parsed == 2
        assert "m3.g3" in index.functions and "m3.f3" not in index.functions
        assert index.functions["m5.f5"].signature == "(x)"

    def test_same_content_after_touch_is_not_parsed(self, write_tree: WriteTree,
                                                    tmp_path: Path) -> None:
        """A file whose stat changed but content did not is matched by its hash."""
        root = self._tree(write_tree)
        self._age(root)
        build_index(root, cache_dir=tmp_path / "cache")
        os.utime(root / "m1.py", (1_700_000_000, 1_700_000_000))
        assert build_index(root, cache_dir=tmp_path / "cache").stats.parsed == 0

    def test_corrupt_cache_is_rebuilt(self, write_tree: WriteTree, tmp_path: Path) -> None:
        """A damaged cache file is ignored and replaced."""
        root = self._tree(write_tree)
        build_index(root, cache_dir=tmp_path / "cache")
        for path in (tmp_path / "cache").iterdir():
            path.write_bytes(b"garbage")
        assert build_index(root, cache_dir=tmp_path / "cache").stats.parsed == 12
        assert build_index(root, cache_dir=tmp_path / "cache").stats.parsed == 0

    def test_process_pool_gives_the_same_index(self, write_tree: WriteTree) -> None:
        """Parsing in worker processes yields the same index as parsing in-process."""
        body = "def f(x):\n    for i in x:\n        g(i)\n" + "# padding\n" * 3000
        root = write_tree({f"m{i}.py": body for i in range(45)})
        pooled = build_index(root, workers=2)
        inline = build_index(root, workers=1)
        assert pooled.functions == inline.functions
