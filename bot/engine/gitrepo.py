"""The local repository through bot/vcs's SafeGit: read a commit's files, apply changes to a copy.

Nothing of the repository runs here: every git command goes through `SafeGit` (a private empty
HOME, no host git config, hooks, fsmonitor, filters, helpers and pagers disarmed); files are read
as raw blobs (no checkout, so no smudge filters or attributes); the user's working tree and index
are never touched. Commits are written by bot/vcs's `SignedCommitWriter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from bot.errors import GitError
from bot.generate.suggestion import FileChange
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import Repo, SafeGit

_REGULAR = {"100644": 0o644, "100755": 0o755}


def open_repository(git: SafeGit, path: Path) -> Repo:
    """Return the repository whose top folder is path; a clear error when it is not one."""
    if not (path / ".git").exists():
        raise GitError(f"{path} is not a git repository (no .git)")
    return git.open(path)


def head_commit(git: SafeGit, repo: Repo) -> str:
    """Return the commit HEAD points at."""
    return resolve_commit(git, repo, "HEAD")


def is_safe_path(path: str) -> bool:
    """Tell whether a path from a tree stays inside the repository and outside `.git`."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and all(
        p not in ("..", ".", "") and p.lower() != ".git" for p in parts)


def export_commit(git: SafeGit, repo: Repo, commit: str, dest: Path) -> int:
    """Write the regular files of a commit into dest (links and submodules left out)."""
    listing = git.run(repo, "ls-tree", "-r", "-z", "--full-tree", commit).stdout
    entries: list[tuple[str, str, int]] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind == "blob" and mode in _REGULAR and is_safe_path(path):
            entries.append((sha, path, _REGULAR[mode]))
    blobs = _read_blobs(git, repo, [sha for sha, _, _ in entries])
    for sha, path, perms in entries:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[sha])
        target.chmod(perms)
    return len(entries)


def _read_blobs(git: SafeGit, repo: Repo, shas: Sequence[str]) -> dict[str, bytes]:
    """Return blob contents by id with one `cat-file --batch`."""
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    out = git.run(repo, "cat-file", "--batch",
                  input="".join(f"{s}\n" for s in unique).encode()).stdout
    blobs: dict[str, bytes] = {}
    position = 0
    for sha in unique:
        header_end = out.index(b"\n", position)
        _, _, size = out[position:header_end].decode().split()
        start = header_end + 1
        blobs[sha] = out[start:start + int(size)]
        position = start + int(size) + 1
    return blobs


@dataclass(frozen=True)
class CommitRequest:
    """A change to commit on a new branch off base."""

    base: str
    branch: str
    changes: Sequence[FileChange]
    message: str


class CommitWriter(Protocol):
    """Something that creates a branch with one commit on a local repository."""

    def write(self, repo: Path, request: CommitRequest) -> str:
        """Create the branch and its commit; return the commit id."""


def apply_changes(tree: Path, changes: Sequence[FileChange]) -> None:
    """Write a suggestion's files into a tree (a private copy of the snapshot)."""
    for change in changes:
        if not is_safe_path(change.path):
            raise GitError(f"a change leaves the repository: {change.path}")
        target = tree / change.path
        if change.modified is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(change.modified, encoding="utf-8")
