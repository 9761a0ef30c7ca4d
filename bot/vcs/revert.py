"""Reverts: the tree that undoes a change on top of a later tip, and local rollback."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import GitError
from bot.vcs.commit import Author, checked_out_branch, create_signed_commit, move_branch
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts
from bot.vcs.objects import read_commit, resolve_commit, tree_of
from bot.vcs.safegit import Repo, SafeGit

SUBMODULE_MODE = "160000"


class RevertConflictError(GitError):
    """The change cannot be undone cleanly on top of the current tip."""

    def __init__(self, message: str, paths: tuple[str, ...]) -> None:
        super().__init__(message)
        self.paths = paths


@dataclass(frozen=True)
class TreeChange:
    """One path that differs from the tip's tree: its new mode and blob, or None when deleted."""

    path: str
    mode: str | None
    sha: str | None
    content: bytes | None


@dataclass(frozen=True)
class RevertPlan:
    """The tree that undoes a change, the commit it goes on, and what it changes there."""

    tree: str
    parent: str
    changes: tuple[TreeChange, ...]


@dataclass(frozen=True)
class Rollback:
    """What a local rollback did: `reset` back to the recorded commit or a `revert` commit."""

    kind: str
    branch: str
    commit: str


def compute_revert(git: SafeGit, repo: Repo, change: str, restore: str, onto: str) -> RevertPlan:
    """Undo `restore..change` on top of `onto` (`git revert -m 1` for a merge and its parent 1)."""
    change, restore, onto = (resolve_commit(git, repo, c) for c in (change, restore, onto))
    if not _is_ancestor(git, repo, change, onto):
        raise GitError(f"{change[:12]} is not in the history of {onto[:12]}")
    if change == onto:
        tree = tree_of(git, repo, restore)
    else:
        tree = _merge_inverse(git, repo, change, restore, onto)
    return RevertPlan(tree, onto, tuple(tree_changes(git, repo, tree_of(git, repo, onto), tree)))


def compute_merge_revert(git: SafeGit, repo: Repo, merge: str, onto: str) -> RevertPlan:
    """Undo a merge's changes (relative to its first parent) on top of `onto`."""
    merged = read_commit(git, repo, merge)
    if not merged.parents:
        raise GitError(f"{merged.sha[:12]} has no parent to go back to")
    return compute_revert(git, repo, merged.sha, merged.parents[0], onto)


def _merge_inverse(git: SafeGit, repo: Repo, change: str, restore: str, onto: str) -> str:
    """Three-way merge with base `change`, ours `onto`, theirs the tree of `restore`."""
    # git 2.39's merge-tree picks the merge base itself; a throw-away commit holding the restored
    # tree, whose only parent is `change`, makes `change` that base (this is what revert does).
    env = {"GIT_AUTHOR_NAME": "selfmod", "GIT_AUTHOR_EMAIL": "selfmod@localhost",
           "GIT_COMMITTER_NAME": "selfmod", "GIT_COMMITTER_EMAIL": "selfmod@localhost"}
    inverse = git.run(repo, "commit-tree", tree_of(git, repo, restore), "-p", change,
                      input=b"selfmod: inverse\n", env=env).text
    merged = git.run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages",
                     onto, inverse, check=False)
    lines = merged.text.splitlines()
    if merged.returncode == 1:
        paths = tuple(dict.fromkeys(line for line in lines[1:] if line))
        raise RevertConflictError(
            f"the revert conflicts with later changes in: {', '.join(paths) or '(unknown)'}",
            paths)
    if merged.returncode != 0 or not lines:
        raise GitError(f"git merge-tree failed: {merged.stderr.decode(errors='replace')[:300]}")
    return lines[0]


def tree_changes(git: SafeGit, repo: Repo, old_tree: str, new_tree: str) -> list[TreeChange]:
    """List what differs between two trees, with blob contents for the Git Data API."""
    out = git.run(repo, "diff-tree", "-r", "-z", "--no-renames", old_tree, new_tree).stdout
    fields = out.decode("utf-8", errors="surrogateescape").split("\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        _, new_mode, _, new_sha, status = meta[1:].split(" ")
        if status == "D":
            changes.append(TreeChange(path, None, None, None))
            continue
        content = None
        if new_mode != SUBMODULE_MODE:
            content = git.run(repo, "cat-file", "blob", new_sha).stdout
        changes.append(TreeChange(path, new_mode, new_sha, content))
    return changes


def _is_ancestor(git: SafeGit, repo: Repo, ancestor: str, descendant: str) -> bool:
    found = git.run(repo, "merge-base", "--is-ancestor", ancestor, descendant, check=False)
    if found.returncode not in (0, 1):
        raise GitError(f"cannot compare {ancestor[:12]} and {descendant[:12]}")
    return found.returncode == 0


def rollback_local(git: SafeGit, repo: Repo, key: SigningKey, author: Author, *, branch: str,
                   before: str, applied: str, facts: CommitFacts) -> Rollback:
    """Bring `branch` back to the commit recorded before a modification, losing no one's work."""
    before = resolve_commit(git, repo, before)
    applied = resolve_commit(git, repo, applied)
    head = resolve_commit(git, repo, f"refs/heads/{branch}")
    if head == applied:
        # Nothing came after the modification: going back loses nothing.
        move_branch(git, repo, branch, before, head)
        return Rollback("reset", branch, before)
    plan = compute_revert(git, repo, applied, before, head)
    commit = create_signed_commit(git, repo, key, author, plan.tree, [head], facts)
    move_branch(git, repo, branch, commit, head)
    return Rollback("revert", branch, commit)


def current_branch(git: SafeGit, repo: Repo) -> str:
    """Return the checked-out branch; refuse a detached HEAD."""
    branch = checked_out_branch(git, repo)
    if branch is None:
        raise GitError("HEAD is detached: check out the branch to change first")
    return branch
