"""Tests of local commits: SSH-signed by agent-self-modify, built without touching the work tree."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.vcs.commit import (
    Author,
    create_branch,
    create_signed_commit,
    move_branch,
    write_tree,
)
from bot.vcs.keys import SigningKey, build_allowed_signers_line
from bot.vcs.message import CommitFacts
from bot.vcs.objects import read_commit, resolve_commit
from bot.vcs.safegit import SafeGit


def test_a_local_commit_passes_git_verify_commit(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author,
        host_git: Callable[..., str], tmp_path: Path) -> None:
    """git verify-commit with the allowed-signers file accepts the app's commit."""
    path = make_repo()
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    tree = write_tree(git, repo, base, {"app.py": b"def f():\n    return 2\n"})
    commit = create_signed_commit(git, repo, key, author, tree, [base], CommitFacts("m1", "t"))
    signers = tmp_path / "allowed_signers"
    signers.write_text(build_allowed_signers_line(author.email, key.public) + "\n")
    # host_git raises when git verify-commit exits non-zero.
    host_git(path, "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", commit)
    assert host_git(path, "log", "-1", "--format=%an <%ae>", commit) == (
        "agent-self-modify <agent-self-modify@users.noreply.github.com>")


def test_git_verify_commit_rejects_an_unlisted_key(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author,
        host_git: Callable[..., str], tmp_path: Path) -> None:
    """With an empty allowed-signers file the same commit does not verify."""
    path = make_repo()
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    commit = create_signed_commit(git, repo, key, author, read_commit(git, repo, base).tree,
                                  [base], CommitFacts("m1", "t"))
    signers = tmp_path / "allowed_signers"
    signers.write_text("")
    with pytest.raises(subprocess.CalledProcessError):
        host_git(path, "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", commit)


def test_write_tree_leaves_the_work_tree_and_index_alone(
        make_repo: Callable[..., Path], git: SafeGit, host_git: Callable[..., str]) -> None:
    """Building a tree changes no file and no staged entry of the user."""
    path = make_repo(files={"app.py": "a = 1\n", "old.py": "x = 1\n", "run.sh": "echo\n"})
    (path / "run.sh").chmod(0o755)
    host_git(path, "add", "run.sh")
    host_git(path, "commit", "-qm", "exec")
    (path / "app.py").write_text("a = 'mine'\n")
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    tree = write_tree(git, repo, base, {"app.py": b"a = 2\n", "old.py": None,
                                        "run.sh": b"echo hi\n", "pkg/new.py": b"n = 1\n"})
    listing = git.run(repo, "ls-tree", "-r", tree).text
    assert "old.py" not in listing and "pkg/new.py" in listing
    assert "100755 blob" in next(line for line in listing.splitlines() if "run.sh" in line)
    assert (path / "app.py").read_text() == "a = 'mine'\n"
    assert host_git(path, "status", "--porcelain") == "M app.py"


@pytest.mark.parametrize("bad", ["../escape.py", "/etc/passwd", ".git/config", "a/.GIT/x", ""])
def test_a_path_outside_the_repository_is_refused(make_repo: Callable[..., Path], git: SafeGit,
                                                  bad: str) -> None:
    """A change naming a path outside the tree (or inside .git) is refused."""
    repo = git.open(make_repo())
    with pytest.raises(GitError, match="refusing to write the path"):
        write_tree(git, repo, resolve_commit(git, repo, "HEAD"), {bad: b"x"})


def test_an_existing_branch_is_not_overwritten(make_repo: Callable[..., Path],
                                               git: SafeGit) -> None:
    """Creating a branch that exists fails instead of moving it."""
    repo = git.open(make_repo())
    head = resolve_commit(git, repo, "HEAD")
    create_branch(git, repo, "self-mod/x", head)
    with pytest.raises(GitError, match="already exists"):
        create_branch(git, repo, "self-mod/x", head)


def test_a_bad_branch_name_is_refused(make_repo: Callable[..., Path], git: SafeGit) -> None:
    """A branch name git would not accept is refused clearly."""
    repo = git.open(make_repo())
    with pytest.raises(GitError, match="bad branch name"):
        create_branch(git, repo, "self-mod/a..b", resolve_commit(git, repo, "HEAD"))


def test_moving_the_checked_out_branch_updates_files_and_keeps_local_work(
        make_repo: Callable[..., Path], git: SafeGit, key: SigningKey, author: Author) -> None:
    """The checked-out branch moves with its files; an unrelated uncommitted edit survives."""
    path = make_repo(files={"app.py": "a = 1\n", "notes.md": "n\n"})
    (path / "notes.md").write_text("my edit\n")
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    tree = write_tree(git, repo, base, {"app.py": b"a = 2\n"})
    commit = create_signed_commit(git, repo, key, author, tree, [base], CommitFacts("m1", "t"))
    move_branch(git, repo, "main", commit, base)
    assert resolve_commit(git, repo, "HEAD") == commit
    assert (path / "app.py").read_text() == "a = 2\n"
    assert (path / "notes.md").read_text() == "my edit\n"


def test_a_branch_that_moved_meanwhile_is_not_moved(make_repo: Callable[..., Path],
                                                    git: SafeGit,
                                                    commit_file: Callable[..., str]) -> None:
    """Moving a branch from a commit it is no longer at fails."""
    path = make_repo()
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    commit_file(path, "other.py", "o = 1\n")
    with pytest.raises(GitError, match="moved"):
        move_branch(git, repo, "main", base, base)
