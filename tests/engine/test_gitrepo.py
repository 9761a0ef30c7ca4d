"""The local repository through SafeGit: snapshots and candidate trees, nothing of it runs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine.gitrepo import (
    apply_changes,
    export_commit,
    head_commit,
    is_safe_path,
    open_repository,
)
from bot.errors import GitError
from bot.generate.suggestion import FileChange
from bot.vcs.safegit import SafeGit


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def git() -> Iterator[SafeGit]:
    with SafeGit.create() as runner:
        yield runner


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


def _export(git: SafeGit, repo: Path, dest: Path) -> int:
    handle = open_repository(git, repo)
    return export_commit(git, handle, head_commit(git, handle), dest)


def test_export_writes_the_commit_not_the_working_tree(git: SafeGit, repo: Path,
                                                       tmp_path: Path) -> None:
    """The snapshot has the committed content, even when the working tree differs."""
    (repo / "pkg" / "mod.py").write_text("x = 'dirty'\n")
    dest = tmp_path / "snap"
    assert _export(git, repo, dest) == 2
    assert (dest / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert (dest / "run.sh").stat().st_mode & 0o111


def test_symlinks_are_left_out(git: SafeGit, repo: Path, tmp_path: Path) -> None:
    """A committed symbolic link is not written into the snapshot."""
    (repo / "link").symlink_to("/etc/passwd")
    _git(repo, "add", "link")
    _git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "link")
    dest = tmp_path / "snap"
    _export(git, repo, dest)
    assert not (dest / "link").exists() and not (dest / "link").is_symlink()


def test_repository_filters_and_fsmonitor_never_run(git: SafeGit, repo: Path,
                                                    tmp_path: Path) -> None:
    """Programs the repository's own config names (fsmonitor, filters) are never started."""
    marker = tmp_path / "ran"
    program = tmp_path / "evil.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    program.chmod(0o755)
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    _git(repo, "add", ".gitattributes")
    _git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "attrs")
    for key in ("filter.evil.smudge", "filter.evil.clean", "core.fsmonitor"):
        _git(repo, "config", key, str(program))
    _git(repo, "config", "filter.evil.required", "true")
    _export(git, repo, tmp_path / "snap")
    assert (tmp_path / "snap" / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert not marker.exists()


def test_host_git_config_is_not_read(git: SafeGit, repo: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's HOME and GIT_* environment do not reach the git the engine runs."""
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "ran"
    program = tmp_path / "evil.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    (home / ".gitconfig").write_text(f"[core]\n\tfsmonitor = {program}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    assert _export(git, repo, tmp_path / "snap") == 2
    assert not marker.exists()


def test_not_a_repository_is_a_clear_error(git: SafeGit, tmp_path: Path) -> None:
    """A plain folder is not a git repository."""
    with pytest.raises(GitError, match="not a git repository"):
        open_repository(git, tmp_path)


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


def test_apply_changes_refuses_paths_outside(tmp_path: Path) -> None:
    """A change naming a path in .git or outside the tree is refused."""
    with pytest.raises(GitError, match="leaves the repository"):
        apply_changes(tmp_path, [FileChange(".git/config", None, "evil")])
