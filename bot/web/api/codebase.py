"""Which codebases the API may touch: inside SELFMOD_API_ROOTS, symlinks resolved, git only."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bot.errors import GitError
from bot.vcs.safegit import Repo, SafeGit
from bot.web.api.problems import ApiError


def resolve_within_roots(text: str, roots: Sequence[Path]) -> Path:
    """Return the real path of a codebase; 403 when it lies outside every allowed root."""
    if not os.path.isabs(text):
        raise ApiError(400, "codebase_path: must be an absolute path", field="codebase_path")
    if not roots:
        raise ApiError(403, "no codebase is allowed: the server sets no SELFMOD_API_ROOTS",
                       field="codebase_path")
    # realpath follows every symlink and folds `..`, so neither can lead out of a root.
    real = Path(os.path.realpath(text))
    if not is_within(real, roots):
        raise ApiError(403, f"codebase_path: {text} is outside the allowed roots",
                       field="codebase_path")
    return real


def is_within(path: Path, roots: Sequence[Path]) -> bool:
    """Tell whether a resolved path is one of the roots or below one."""
    return any(path == root or root in path.parents
               for root in (Path(os.path.realpath(r)) for r in roots))


def open_codebase(git: SafeGit, path: Path, roots: Sequence[Path]) -> Repo:
    """Open the git repository at a resolved path; 422 when it is none, 403 when it leads out."""
    if not path.is_dir():
        raise ApiError(422, f"codebase_path: {path} is not an existing folder",
                       field="codebase_path")
    try:
        repo = git.open(path)
    except GitError:
        raise ApiError(422, f"codebase_path: {path} is not a git repository (or not its top "
                       "folder)", field="codebase_path") from None
    if repo.work_tree is None:
        raise ApiError(422, f"codebase_path: {path} is a bare repository; name a work tree",
                       field="codebase_path")
    # A `.git` file may point anywhere: the objects we write must stay inside the roots too.
    if not is_within(Path(os.path.realpath(repo.git_dir)), roots):
        raise ApiError(403, f"codebase_path: the git folder of {path} is outside the allowed "
                       "roots", field="codebase_path")
    return repo
