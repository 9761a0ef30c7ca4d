"""Reading commits and trees of a repository: ids resolved, raw commits parsed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import GitError
from bot.vcs.safegit import Repo, SafeGit


@dataclass(frozen=True)
class RawCommit:
    """The parts of a commit object the signature covers, and its message."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str


def resolve_commit(git: SafeGit, repo: Repo, revision: str) -> str:
    """Return the full id of a commit; a clear error when there is none."""
    if revision.startswith("-"):
        raise GitError(f"bad revision {revision!r}")
    found = git.run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                    f"{revision}^{{commit}}", check=False)
    if found.returncode != 0 or not found.text:
        raise GitError(f"unknown commit {revision!r} in {repo.work_tree or repo.git_dir}")
    return found.text


def tree_of(git: SafeGit, repo: Repo, commit: str) -> str:
    """Return the tree id of a commit."""
    return git.run(repo, "rev-parse", "--verify", f"{commit}^{{tree}}").text


def parse_raw_commit(sha: str, raw: bytes) -> RawCommit:
    """Read the tree, the parents and the message from a raw commit object."""
    text = raw.decode("utf-8", errors="replace")
    header, _, message = text.partition("\n\n")
    tree = ""
    parents: list[str] = []
    for line in header.splitlines():
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(value)
    if not tree:
        raise GitError(f"{sha} is not a commit object")
    return RawCommit(sha, tree, tuple(parents), message)


def read_commit(git: SafeGit, repo: Repo, revision: str) -> RawCommit:
    """Resolve a revision to a commit and read its tree, parents and message."""
    sha = resolve_commit(git, repo, revision)
    return parse_raw_commit(sha, git.run(repo, "cat-file", "commit", sha).stdout)
