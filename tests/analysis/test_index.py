"""Tests of building the index: module names, the cache, and problems reported."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.analysis.index import (
    _TREE_BYTES_PER_SOURCE_BYTE,
    Task,
    _extract_batch,
    _Kept,
    build_index,
    module_names,
    spare_memory,
)
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


def _tasks(count: int) -> list[Task]:
    source = b"def f(x):\n    return [y for y in x if y]\n"
    return [(i, source, f"pkg.m{i}", False, f"pkg/m{i}.py", "") for i in range(count)]


def test_a_worker_keeps_its_trees_up_to_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parsing worker keeps trees unfreed while the budget lasts; the records do not change."""
    tasks = _tasks(5)
    cost = len(tasks[0][1]) * _TREE_BYTES_PER_SOURCE_BYTE
    expected = _extract_batch(tasks)  # outside a worker: nothing kept
    assert _Kept.trees is None
    monkeypatch.setattr(_Kept, "trees", [])
    monkeypatch.setattr(_Kept, "budget", 3 * cost)
    monkeypatch.setattr(_Kept, "used", 0)
    assert _extract_batch(tasks) == expected
    assert len(_Kept.trees) == 3 and all(isinstance(t, ast.Module) for t in _Kept.trees)
    assert _Kept.used == 3 * cost


def _memory_files(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc, groups = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    (proc / "self" / "cgroup").write_text(cgroup)
    for name, text in files.items():
        (groups / name).parent.mkdir(parents=True, exist_ok=True)
        (groups / name).write_text(text)
    return proc, groups


def test_spare_memory_is_the_machines_without_a_limit(tmp_path: Path) -> None:
    """With no control-group limit ("max"), the machine's available memory is the answer."""
    proc, groups = _memory_files(tmp_path, "0::/\n", {"memory.max": "max\n",
                                                      "memory.current": "100\n"})
    assert spare_memory(proc, groups) == 4_000_000 * 1024


def test_spare_memory_respects_a_cgroup_v2_limit(tmp_path: Path) -> None:
    """A container limited to 1 GB, 400 MB of it used, has 600 MB to spare."""
    proc, groups = _memory_files(tmp_path, "0::/app.slice/job\n",
                                 {"app.slice/job/memory.max": "1000000000\n",
                                  "app.slice/job/memory.current": "400000000\n"})
    assert spare_memory(proc, groups) == 600_000_000


def test_spare_memory_respects_a_cgroup_v1_limit(tmp_path: Path) -> None:
    """The v1 memory controller's limit counts the same way."""
    proc, groups = _memory_files(tmp_path, "4:memory:/docker/abc\n3:pids:/docker/abc\n",
                                 {"memory/docker/abc/memory.limit_in_bytes": "500000000\n",
                                  "memory/docker/abc/memory.usage_in_bytes": "100000000\n"})
    assert spare_memory(proc, groups) == 400_000_000


def test_spare_memory_unknown_is_zero(tmp_path: Path) -> None:
    """Nothing readable: no memory is reckoned spare, so no tree is kept."""
    assert spare_memory(tmp_path / "none", tmp_path / "none") == 0
