"""Tests of file discovery: exclusions, globs, symlinks, size caps."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bot.analysis.discover import compile_globs, discover
from bot.analysis.model import ProblemKind

WriteTree = Callable[[dict[str, str | bytes]], Path]


def _paths(root: Path, **kwargs: object) -> list[str]:
    return [f.path for f in discover(root, **kwargs)[0]]  # type: ignore[arg-type]


def test_vendored_and_virtualenv_folders_are_excluded(write_tree: WriteTree) -> None:
    """venv, site-packages, build, vendor and any folder with pyvenv.cfg are skipped."""
    root = write_tree({"a.py": "", ".venv/lib/x.py": "", "build/lib/y.py": "",
                       "vendor/z.py": "", "pkg/site-packages/w.py": "", "myenv/pyvenv.cfg": "",
                       "myenv/lib/v.py": "", "node_modules/n.py": "", "x.egg-info/e.py": ""})
    assert _paths(root) == ["a.py"]


def test_notebooks_and_other_files_are_ignored(write_tree: WriteTree) -> None:
    """Only .py files are indexed: notebooks and stubs are not."""
    root = write_tree({"a.py": "", "n.ipynb": "{}", "s.pyi": "", "README.md": ""})
    assert _paths(root) == ["a.py"]


def test_globs_include_and_exclude(write_tree: WriteTree) -> None:
    """Include globs narrow the files, exclude globs remove files and whole folders."""
    root = write_tree({"src/a.py": "", "src/gen/b.py": "", "tests/t.py": "", "c.py": ""})
    assert _paths(root, include=["src/**"]) == ["src/a.py", "src/gen/b.py"]
    assert _paths(root, exclude=["src/gen/", "c.py"]) == ["src/a.py", "tests/t.py"]


def test_glob_without_slash_matches_at_any_depth() -> None:
    """A bare name pattern matches in every folder, as in .gitignore."""
    pattern = compile_globs(["*_pb2.py"])
    assert pattern is not None
    assert pattern.match("a/b/x_pb2.py") and not pattern.match("a/b/x.py")


def test_symlinks_are_never_followed(write_tree: WriteTree, tmp_path: Path) -> None:
    """Links to files or folders are skipped, and a link out of the repository is reported."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    root = write_tree({"a.py": ""})
    os.symlink(outside / "secret.py", root / "leak.py")
    os.symlink(outside, root / "linked_dir")
    os.symlink(root / "a.py", root / "alias.py")
    files, problems = discover(root)
    assert [f.path for f in files] == ["a.py"]
    messages = {p.path: p.message for p in problems if p.kind is ProblemKind.SYMLINK}
    assert "outside" in messages["leak.py"] and "inside" in messages["alias.py"]


def test_huge_files_are_capped_and_reported(write_tree: WriteTree) -> None:
    """A file over the size cap is skipped and reported as too large."""
    root = write_tree({"big_pb2.py": "x = 1\n" * 1000, "a.py": ""})
    files, problems = discover(root, max_file_bytes=1000)
    assert [f.path for f in files] == ["a.py"]
    assert [(p.path, p.kind) for p in problems] == [("big_pb2.py", ProblemKind.TOO_LARGE)]
