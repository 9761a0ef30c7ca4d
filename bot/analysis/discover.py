"""Finding the Python files of a codebase: exclusions, globs, symlinks and size caps."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.analysis.model import Problem, ProblemKind

# Folders that hold someone else's code or build output, never the project's own.
DEFAULT_EXCLUDED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", "virtualenv", ".env",
    "site-packages", "dist-packages", "node_modules", "build", "dist", ".tox", ".nox",
    ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "vendor",
    "_vendor", "vendored", "third_party", "thirdparty", "htmlcov", ".ipynb_checkpoints",
})
DEFAULT_MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to index: its path relative to the root and its stat fingerprint."""

    path: str  # POSIX, relative
    size: int
    mtime_ns: int
    inode: int


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """Compile gitignore-like globs (`*`, `?`, `**`) over relative POSIX paths into one regex."""
    parts = [_glob_regex(p) for p in patterns if p.strip()]
    return re.compile("|".join(parts)) if parts else None


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> str:
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    # A pattern without a slash matches a name at any depth, as in .gitignore.
    prefix = "" if "/" in pattern.rstrip("*") else "(?:.*/)?"
    return f"(?:{prefix}{body}(?:/.*)?)$"


def discover(root: Path, *, include: Sequence[str] = (), exclude: Sequence[str] = (),
             max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
             ) -> tuple[list[SourceFile], list[Problem]]:
    """List the Python files under root, in path order, with the files skipped and why."""
    include_re = compile_globs(include)
    exclude_re = compile_globs(exclude)
    files: list[SourceFile] = []
    problems: list[Problem] = []
    real_root = os.path.realpath(root)
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(real_root, rel_dir)))
        except OSError as exc:
            problems.append(Problem(rel_dir or ".", ProblemKind.UNREADABLE, str(exc.strerror)))
            continue
        if rel_dir and any(e.name == "pyvenv.cfg" for e in entries):
            continue  # a virtual environment under any name
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                if entry.name.endswith(".py"):
                    problems.append(_symlink_problem(real_root, entry.path, rel))
                continue  # never followed: a link may leave the repository or loop
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in DEFAULT_EXCLUDED_DIRS and not entry.name.endswith(
                        ".egg-info") and not (exclude_re and exclude_re.match(rel)):
                    stack.append(rel)
                continue
            if not entry.name.endswith(".py"):
                continue  # notebooks, stubs and data are not indexed
            if (exclude_re and exclude_re.match(rel)) or (include_re and not include_re.match(rel)):
                continue
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if info.st_size > max_file_bytes:
                problems.append(Problem(rel, ProblemKind.TOO_LARGE,
                                        f"{info.st_size} bytes, over the cap of {max_file_bytes}"))
                continue
            files.append(SourceFile(rel, info.st_size, info.st_mtime_ns, info.st_ino))
    files.sort(key=lambda f: f.path)
    problems.sort(key=lambda p: p.path)
    return files, problems


def _symlink_problem(real_root: str, link: str, rel: str) -> Problem:
    target = os.path.realpath(link)
    inside = target == real_root or target.startswith(real_root + os.sep)
    where = "inside" if inside else "outside"
    return Problem(rel, ProblemKind.SYMLINK, f"symbolic link to a file {where} the repository, "
                   "not followed")


def read_source(root: Path | str, rel: str, *, resolved: bool = False) -> bytes:
    """Read one discovered file without following a symlink swapped in since discovery.

    `resolved` says root is already a real path (a caller reading many files resolves once).
    """
    real_root = root if resolved else os.path.realpath(root)
    fd = os.open(os.path.join(real_root, rel), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
