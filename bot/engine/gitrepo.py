"""The local repository through git plumbing: read a commit's files, write a branch with a commit.

Nothing of the repository runs here: git is called without a shell, with hooks and fsmonitor
off; files are read as raw blobs (no checkout, so no smudge filters or attributes) and written
back with `hash-object --no-filters`; the user's working tree and index are never touched.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from bot.errors import GitError
from bot.generate.suggestion import FileChange

SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
               "-c", "protocol.allow=never")
_REGULAR = {"100644": 0o644, "100755": 0o755}
_ZERO = "0" * 40


def run_git(repo: Path, *args: str, stdin: bytes | None = None,
            env: Mapping[str, str] | None = None) -> bytes:
    """Run one git command in repo; return its stdout or raise GitError with its stderr."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    base.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"})
    base.update(env or {})
    try:
        done = subprocess.run(["git", *SAFE_CONFIG, "-C", str(repo), *args], input=stdin,
                              capture_output=True, env=base, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def head_commit(repo: Path) -> str:
    """Return the commit HEAD points at; raise GitError when repo is not a git repository."""
    if not (repo / ".git").exists():
        raise GitError(f"{repo} is not a git repository (no .git)")
    return run_git(repo, "rev-parse", "--verify", "HEAD^{commit}").decode().strip()


def is_safe_path(path: str) -> bool:
    """Tell whether a path from a tree stays inside the repository and outside `.git`."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and all(
        p not in ("..", ".", "") and p.lower() != ".git" for p in parts)


def export_commit(repo: Path, commit: str, dest: Path) -> int:
    """Write the regular files of a commit into dest (links and submodules left out)."""
    listing = run_git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries: list[tuple[str, str, int]] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind == "blob" and mode in _REGULAR and is_safe_path(path):
            entries.append((sha, path, _REGULAR[mode]))
    blobs = _read_blobs(repo, [sha for sha, _, _ in entries])
    for sha, path, perms in entries:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[sha])
        target.chmod(perms)
    return len(entries)


def _read_blobs(repo: Path, shas: Sequence[str]) -> dict[str, bytes]:
    """Return blob contents by id with one `cat-file --batch`."""
    unique = list(dict.fromkeys(shas))
    out = run_git(repo, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in unique).encode())
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


class GitCommitWriter:
    """Plain, unsigned commits by the app's author, built with plumbing in a private index."""

    def __init__(self, author_name: str, author_email: str) -> None:
        self._identity = {"GIT_AUTHOR_NAME": author_name, "GIT_AUTHOR_EMAIL": author_email,
                          "GIT_COMMITTER_NAME": author_name,
                          "GIT_COMMITTER_EMAIL": author_email}

    def write(self, repo: Path, request: CommitRequest) -> str:
        """Create refs/heads/<branch> at a new commit; refuse when the branch exists."""
        run_git(repo, "check-ref-format", "--branch", request.branch)
        with tempfile.TemporaryDirectory(prefix="selfmod-index-") as folder:
            env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
            run_git(repo, "read-tree", request.base, env=env)
            for change in request.changes:
                self._stage(repo, request.base, change, env)
            tree = run_git(repo, "write-tree", env=env).decode().strip()
        commit = run_git(repo, "commit-tree", tree, "-p", request.base, "-F", "-",
                         stdin=request.message.encode(), env=self._identity).decode().strip()
        run_git(repo, "update-ref", "-m", "selfmod: proposal", f"refs/heads/{request.branch}",
                commit, _ZERO)
        return commit

    def _stage(self, repo: Path, base: str, change: FileChange, env: dict[str, str]) -> None:
        if not is_safe_path(change.path):
            raise GitError(f"refusing to commit outside the repository: {change.path}")
        if change.modified is None:
            run_git(repo, "update-index", "--force-remove", "--", change.path, env=env)
            return
        blob = run_git(repo, "hash-object", "-w", "--no-filters", "--stdin",
                       stdin=change.modified.encode()).decode().strip()
        listed = run_git(repo, "ls-tree", base, "--", change.path).decode().split()
        mode = listed[0] if listed and listed[0] in _REGULAR else "100644"
        run_git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{change.path}",
                env=env)


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
