"""Tests of reverts as trees and of local rollback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.vcs.commit import Author, create_signed_commit, move_branch, write_tree
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts
from bot.vcs.objects import read_commit, resolve_commit, tree_of
from bot.vcs.revert import (
    RevertConflictError,
    compute_merge_revert,
    compute_revert,
    current_branch,
    rollback_local,
)
from bot.vcs.safegit import SafeGit

HostGit = Callable[..., str]


def _merged(path: Path, host_git: HostGit, commit_file: Callable[..., str]) -> tuple[str, str]:
    """Merge a feature branch with --no-ff; return (commit before the merge, merge commit)."""
    before = host_git(path, "rev-parse", "HEAD")
    host_git(path, "checkout", "-qb", "self-mod/m1")
    commit_file(path, "app.py", "def f():\n    return 2\n", "faster f")
    commit_file(path, "extra.py", "e = 1\n", "new module")
    host_git(path, "checkout", "-q", "main")
    host_git(path, "merge", "-q", "--no-ff", "-m", "Merge self-mod/m1", "self-mod/m1")
    return before, host_git(path, "rev-parse", "HEAD")


def test_the_revert_of_the_last_merge_is_the_tree_before_it(
        make_repo: Callable[..., Path], git: SafeGit, host_git: HostGit,
        commit_file: Callable[..., str]) -> None:
    """With nothing merged since, the revert's tree equals the tree before the merge."""
    path = make_repo()
    before, merge = _merged(path, host_git, commit_file)
    repo = git.open(path)
    plan = compute_merge_revert(git, repo, merge, "main")
    assert plan.tree == tree_of(git, repo, before)
    assert plan.parent == merge
    changes = {c.path: c for c in plan.changes}
    assert changes["extra.py"].sha is None and changes["extra.py"].content is None
    assert changes["app.py"].content == b"def f():\n    return 1\n"
    assert changes["app.py"].mode == "100644"


def test_the_revert_keeps_what_merged_after(
        make_repo: Callable[..., Path], git: SafeGit, host_git: HostGit,
        commit_file: Callable[..., str]) -> None:
    """A later unrelated change stays while the merge's changes go (git revert -m 1)."""
    path = make_repo(files={"app.py": "def f():\n    return 1\n", "other.py": "o = 1\n"})
    _, merge = _merged(path, host_git, commit_file)
    tip = commit_file(path, "other.py", "o = 2\n", "someone else's work")
    repo = git.open(path)
    plan = compute_merge_revert(git, repo, merge, tip)
    listing = git.run(repo, "ls-tree", "-r", "--name-only", plan.tree).text.split()
    assert "extra.py" not in listing
    assert git.run(repo, "cat-file", "blob", f"{plan.tree}:other.py").text == "o = 2"
    host_git(path, "revert", "--no-edit", "-m", "1", merge)
    assert plan.tree == host_git(path, "rev-parse", "HEAD^{tree}")


def test_a_revert_that_conflicts_names_the_files(
        make_repo: Callable[..., Path], git: SafeGit, host_git: HostGit,
        commit_file: Callable[..., str]) -> None:
    """When later work rewrote the same lines, the conflict names the file."""
    path = make_repo()
    _, merge = _merged(path, host_git, commit_file)
    tip = commit_file(path, "app.py", "def f():\n    return 3\n", "rewrote f")
    repo = git.open(path)
    with pytest.raises(RevertConflictError, match=r"app\.py") as failure:
        compute_merge_revert(git, repo, merge, tip)
    assert failure.value.paths == ("app.py",)


def test_a_change_outside_the_tip_history_is_refused(
        make_repo: Callable[..., Path], git: SafeGit, host_git: HostGit,
        commit_file: Callable[..., str]) -> None:
    """Reverting a commit that is not in the target's history fails clearly."""
    path = make_repo()
    base = host_git(path, "rev-parse", "HEAD")
    host_git(path, "checkout", "-qb", "side")
    side = commit_file(path, "s.py", "s = 1\n")
    host_git(path, "checkout", "-q", "main")
    with pytest.raises(GitError, match="is not in the history of"):
        compute_revert(git, git.open(path), side, base, "main")


def test_an_unknown_commit_is_refused(make_repo: Callable[..., Path], git: SafeGit) -> None:
    """A merge id that does not exist gives a clear error."""
    with pytest.raises(GitError, match="unknown commit"):
        compute_merge_revert(git, git.open(make_repo()), "f" * 40, "main")


def test_a_root_commit_has_nothing_to_go_back_to(make_repo: Callable[..., Path],
                                                 git: SafeGit) -> None:
    """Reverting a commit without parents is refused."""
    repo = git.open(make_repo())
    with pytest.raises(GitError, match="has no parent"):
        compute_merge_revert(git, repo, "HEAD", "HEAD")


def _apply(git: SafeGit, key: SigningKey, author: Author, path: Path) -> tuple[str, str]:
    """Commit a modification on main as selfmod run does; return (before, applied)."""
    repo = git.open(path)
    before = resolve_commit(git, repo, "main")
    tree = write_tree(git, repo, before, {"app.py": b"def f():\n    return 2\n"})
    applied = create_signed_commit(git, repo, key, author, tree, [before],
                                   CommitFacts("m1", "Return two"))
    move_branch(git, repo, "main", applied, before)
    return before, applied


def test_rollback_with_nothing_after_resets_to_the_recorded_commit(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author) -> None:
    """When the modification is the tip, rollback puts the branch back where it was."""
    path = make_repo()
    before, applied = _apply(git, key, author, path)
    repo = git.open(path)
    done = rollback_local(git, repo, key, author, branch="main", before=before,
                          applied=applied, facts=CommitFacts("m1", "Roll back"))
    assert (done.kind, done.commit) == ("reset", before)
    assert resolve_commit(git, repo, "HEAD") == before
    assert (path / "app.py").read_text() == "def f():\n    return 1\n"


def test_rollback_with_later_work_makes_a_signed_revert_commit(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author,
        commit_file: Callable[..., str]) -> None:
    """When commits came after, rollback adds a revert commit and keeps them."""
    path = make_repo(files={"app.py": "def f():\n    return 1\n", "b.py": "b = 1\n"})
    before, applied = _apply(git, key, author, path)
    later = commit_file(path, "b.py", "b = 2\n", "later work")
    repo = git.open(path)
    done = rollback_local(git, repo, key, author, branch="main", before=before,
                          applied=applied, facts=CommitFacts("m1", "Roll back", reverts=applied))
    assert done.kind == "revert"
    commit = read_commit(git, repo, "HEAD")
    assert commit.sha == done.commit and commit.parents == (later,)
    assert (path / "app.py").read_text() == "def f():\n    return 1\n"
    assert (path / "b.py").read_text() == "b = 2\n"
    assert f"Selfmod-Reverts: {applied}" in commit.message


def test_rollback_of_a_commit_not_on_the_branch_is_refused(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author) -> None:
    """Rolling back twice fails: the modification is no longer on the branch."""
    path = make_repo()
    before, applied = _apply(git, key, author, path)
    repo = git.open(path)
    facts = CommitFacts("m1", "Roll back")
    rollback_local(git, repo, key, author, branch="main", before=before, applied=applied,
                   facts=facts)
    with pytest.raises(GitError, match="is not in the history of"):
        rollback_local(git, repo, key, author, branch="main", before=before, applied=applied,
                       facts=facts)


def test_a_detached_head_has_no_current_branch(make_repo: Callable[..., Path], git: SafeGit,
                                               host_git: HostGit) -> None:
    """The current branch is named, and a detached HEAD is refused."""
    path = make_repo()
    repo = git.open(path)
    assert current_branch(git, repo) == "main"
    host_git(path, "checkout", "-q", "--detach")
    with pytest.raises(GitError, match="detached"):
        current_branch(git, repo)
