"""Project-wide renames of private symbols with rope, on a throwaway copy of the code.

Rope reads and rewrites source text only; it never imports the project. We still keep it away
from the repository: it runs on a temporary copy holding nothing but the `.py` files, with no
`.ropeproject` folder (so no `config.py` of the repository is ever executed and nothing is
written), and with dynamic analysis and standard-library imports switched off.
"""

from __future__ import annotations

import ast
import keyword
import re
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from bot.errors import GenerationError
from bot.generate.suggestion import FileChange

_MAX_FILE_BYTES = 2_000_000
_ROPE_PREFS = {
    "perform_doa": False,
    "automatic_soa": False,
    "validate_objectdb": False,
    "save_objectdb": False,
    "import_dynload_stdmods": False,
    "ignore_syntax_errors": True,
}


def rename_symbol(root: Path, path: str, name: str, new_name: str, *,
                  public: Collection[str] = ()) -> tuple[FileChange, ...]:
    """Rename a private module-level function or class and every reference in the project.

    `path` is the defining file relative to root; `public` holds qualified names of the
    project's public API. Raise GenerationError when the rename is not allowed or not safe.
    """
    source = _read(root / path)
    _check_allowed(source, path, name, new_name, public)
    with tempfile.TemporaryDirectory(prefix="selfmod-rope-") as tmp:
        copy = Path(tmp) / "project"
        originals = _copy_python_files(root, copy)
        if any(re.search(rf"\b{re.escape(new_name)}\b", text) for text in originals.values()):
            raise GenerationError(f"`{new_name}` already appears in the project")
        changed = _rope_rename(copy, path, _definition_offset(source, name), new_name)
    return tuple(FileChange(rel, originals[rel], text) for rel, text in sorted(changed.items())
                 if originals.get(rel) != text)


def _check_allowed(source: str, path: str, name: str, new_name: str,
                   public: Collection[str]) -> None:
    if not name.startswith("_") or name.startswith("__"):
        raise GenerationError(f"`{name}` is public API (no leading underscore): never renamed")
    if any(q == name or q.endswith("." + name) for q in public):
        raise GenerationError(f"`{name}` is part of the public API: never renamed")
    if not new_name.isidentifier() or keyword.iskeyword(new_name) or not new_name.startswith(
            "_") or new_name.startswith("__"):
        raise GenerationError(f"`{new_name}` is not a private identifier")
    tree = ast.parse(source)
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets) and (
                name in ast.unparse(stmt.value)):
                raise GenerationError(f"`{name}` is listed in {path}'s __all__: never renamed")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenerationError(f"cannot read {path.name}: {exc.__class__.__name__}") from None


def _definition_offset(source: str, name: str) -> int:
    """Return the character offset of the name in its top-level `def` or `class`."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
                stmt.name == name):
            line = lines[stmt.lineno - 1]
            column = len(line.encode("utf-8")[:stmt.col_offset].decode("utf-8"))
            match = re.compile(rf"\b{re.escape(name)}\b").search(line, column)
            assert match is not None
            return sum(len(text) for text in lines[:stmt.lineno - 1]) + match.start()
    raise GenerationError(f"no top-level function or class `{name}`")


def _copy_python_files(root: Path, copy: Path) -> dict[str, str]:
    """Copy the regular .py files (never symlinks) and return their text by relative path."""
    texts: dict[str, str] = {}
    for source in sorted(root.rglob("*.py")):
        rel = source.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or source.is_symlink():
            continue
        if not source.is_file() or source.stat().st_size > _MAX_FILE_BYTES:
            continue
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        target = copy / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        texts[rel.as_posix()] = text
    return texts


def _rope_rename(copy: Path, path: str, offset: int, new_name: str) -> dict[str, str]:
    from rope.base.exceptions import RopeError
    from rope.base.project import Project
    from rope.refactor.rename import Rename

    project = Project(str(copy), ropefolder=None, **_ROPE_PREFS)
    try:
        resource = project.get_resource(path)
        changes = Rename(project, resource, offset).get_changes(new_name)
        return {str(change.resource.path): str(change.new_contents)  # type: ignore[attr-defined]
                for change in _flatten(changes)}
    except RopeError as exc:
        raise GenerationError(f"rope could not rename: {exc}") from None
    finally:
        project.close()
        shutil.rmtree(copy / ".ropeproject", ignore_errors=True)


def _flatten(changes: object) -> list[object]:
    inner = getattr(changes, "changes", None)
    if inner is None:
        return [changes] if hasattr(changes, "new_contents") else []
    return [leaf for change in inner for leaf in _flatten(change)]
