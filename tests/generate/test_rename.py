"""Project-wide renames with rope: private symbols only, never executing or touching the repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from unidiff import PatchSet

from bot.errors import GenerationError
from bot.generate.rename import rename_symbol
from bot.generate.suggestion import FileChange, ModificationType, Suggestion


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a two-module package whose private helper is used across files."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('__all__ = ["api", "_exported"]\n')
    (pkg / "core.py").write_text(
        "def _helperFn(x):\n    return x + 1\n\n\ndef _exported():\n    return 0\n\n\n"
        "def api(x):\n    return _helperFn(x)\n")
    (pkg / "other.py").write_text(
        "from pkg.core import _helperFn\n\n\ndef use():\n    return _helperFn(2)\n")
    # A rope config in the repository must never run: it would create this file.
    (tmp_path / ".ropeproject").mkdir()
    (tmp_path / ".ropeproject" / "config.py").write_text(
        f"open({str(tmp_path / 'PWNED')!r}, 'w').close()\n")
    return tmp_path


def test_private_rename_updates_every_reference(project: Path) -> None:
    """Renaming a private function rewrites its definition, import and calls in all files."""
    changes = rename_symbol(project, "pkg/core.py", "_helperFn", "_helper_fn")
    assert [c.path for c in changes] == ["pkg/core.py", "pkg/other.py"]
    assert all("_helperFn" not in (c.modified or "") for c in changes)
    suggestion = Suggestion(ModificationType.REFACTOR, changes, "", "", "why", "private-naming")
    assert len(PatchSet(suggestion.diff)) == 2


def test_rename_never_runs_or_writes_the_repository(project: Path) -> None:
    """Rope reads no .ropeproject/config.py of the repository and writes nothing into it."""
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    rename_symbol(project, "pkg/core.py", "_helperFn", "_helper_fn")
    assert not (project / "PWNED").exists()
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert "_helperFn" in (project / "pkg/core.py").read_text()


@pytest.mark.parametrize(("name", "reason"), [
    ("api", "public API"),
    ("_exported", "__all__"),
])
def test_public_names_are_never_renamed(project: Path, name: str, reason: str) -> None:
    """A public name, or a private one listed in __all__, is refused with the reason."""
    with pytest.raises(GenerationError, match=reason):
        rename_symbol(project, "pkg/core.py" if name != "_exported" else "pkg/__init__.py",
                      name, "_renamed")


def test_names_in_the_public_api_index_are_refused(project: Path) -> None:
    """A private-looking name the index lists as public API is refused."""
    with pytest.raises(GenerationError, match="public API"):
        rename_symbol(project, "pkg/core.py", "_helperFn", "_helper_fn",
                      public={"pkg.core._helperFn"})


def test_a_new_name_already_in_use_is_refused(project: Path) -> None:
    """Renaming onto a name that already appears in the project is refused."""
    with pytest.raises(GenerationError, match="already appears"):
        rename_symbol(project, "pkg/core.py", "_helperFn", "_exported")


def test_bad_new_name_and_missing_symbol_are_refused(project: Path) -> None:
    """A non-private new name and an unknown symbol each get a clear error."""
    with pytest.raises(GenerationError, match="not a private identifier"):
        rename_symbol(project, "pkg/core.py", "_helperFn", "helper")
    with pytest.raises(GenerationError, match="no top-level function"):
        rename_symbol(project, "pkg/core.py", "_missing", "_other")


def test_file_changes_carry_both_contents(project: Path) -> None:
    """Each change holds the original and the renamed text."""
    changes = rename_symbol(project, "pkg/core.py", "_helperFn", "_helper_fn")
    assert isinstance(changes[0], FileChange) and "_helperFn" in (changes[0].original or "")
