"""The local repository through git plumbing: snapshots and branch commits, hooks never run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.engine.gitrepo import (
    CommitRequest,
    GitCommitWriter,
    apply_changes,
    export_commit,
    head_commit,
    is_safe_path,
)
from bot.errors import GitError
from bot.generate.suggestion import FileChange


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "pkg").mkdir(parents=True)
    (path / "pkg" / "mod.py").write_text("x = 1\n")
    (path / "run.sh").write_text("echo hi\n")
    (path / "run.sh").chmod(0o755)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "one")
    return path


def test_export_writes_the_commit_not_the_working_tree(repo: Path, tmp_path: Path) -> None:
    """The snapshot has the committed content, even when the working tree differs."""
    (repo / "pkg" / "mod.py").write_text("x = 'dirty'\n")
    dest = tmp_path / "snap"
    assert export_commit(repo, head_commit(repo), dest) == 2
    assert (dest / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert (dest / "run.sh").stat().st_mode & 0o111


def test_symlinks_are_left_out(repo: Path, tmp_path: Path) -> None:
    """A committed symbolic link is not written into the snapshot."""
    (repo / "link").symlink_to("/etc/passwd")
    _git(repo, "add", "link")
    _git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "link")
    dest = tmp_path / "snap"
    export_commit(repo, head_commit(repo), dest)
    assert not (dest / "link").exists() and not (dest / "link").is_symlink()


def test_commit_makes_a_branch_without_touching_the_work_tree(repo: Path, tmp_path: Path) -> None:
    """The branch gets one commit by the app's author; HEAD, index and files stay as they were."""
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    head = head_commit(repo)
    writer = GitCommitWriter("agent-self-modify", "bot@example.com")
    commit = writer.write(repo, CommitRequest(head, "self-mod/abc", [
        FileChange("pkg/mod.py", "x = 1\n", "x = 2\n"),
        FileChange("run.sh", "echo hi\n", "echo bye\n")], "Change x\n\nbecause\n"))
    assert _git(repo, "rev-parse", "self-mod/abc").strip() == commit
    assert _git(repo, "show", "self-mod/abc:pkg/mod.py") == "x = 2\n"
    assert _git(repo, "log", "-1", "--format=%an <%ae>|%P", "self-mod/abc").strip() == (
        f"agent-self-modify <bot@example.com>|{head}")
    assert "100755" in _git(repo, "ls-tree", "self-mod/abc", "run.sh")
    assert head_commit(repo) == head
    assert _git(repo, "status", "--porcelain") == ""
    assert not marker.exists()


def test_existing_branch_is_not_overwritten(repo: Path) -> None:
    """Writing a branch that exists is refused."""
    head = head_commit(repo)
    writer = GitCommitWriter("a", "a@b")
    request = CommitRequest(head, "self-mod/x", [FileChange("pkg/mod.py", "x = 1\n", "x = 3\n")],
                            "m\n")
    writer.write(repo, request)
    with pytest.raises(GitError):
        writer.write(repo, request)


def test_path_outside_the_repository_is_refused(repo: Path) -> None:
    """A change naming a path outside the repository or in .git is refused."""
    writer = GitCommitWriter("a", "a@b")
    with pytest.raises(GitError, match="outside"):
        writer.write(repo, CommitRequest(head_commit(repo), "self-mod/y",
                                         [FileChange(".git/config", None, "evil")], "m\n"))


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    """A plain folder is not a git repository."""
    with pytest.raises(GitError, match="not a git repository"):
        head_commit(tmp_path)


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/.git/config", ".GIT/x", ""])
def test_unsafe_paths(path: str) -> None:
    """Paths leaving the tree or reaching .git are unsafe."""
    assert not is_safe_path(path)


def test_apply_changes_writes_and_deletes(tmp_path: Path) -> None:
    """A candidate tree gets modified files written and deleted files removed."""
    (tmp_path / "a.py").write_text("old\n")
    (tmp_path / "gone.py").write_text("bye\n")
    apply_changes(tmp_path, [FileChange("a.py", "old\n", "new\n"),
                             FileChange("gone.py", "bye\n", None),
                             FileChange("sub/new.py", None, "hi\n")])
    assert (tmp_path / "a.py").read_text() == "new\n"
    assert not (tmp_path / "gone.py").exists()
    assert (tmp_path / "sub" / "new.py").read_text() == "hi\n"
