"""Tests of the signing commit writer the local pipeline uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.generate.suggestion import FileChange
from bot.settings import Settings
from bot.vcs.keys import key_path, load_key
from bot.vcs.message import CommitFacts, build_commit_message
from bot.vcs.objects import read_commit, resolve_commit
from bot.vcs.safegit import SafeGit
from bot.vcs.signature import verify_commit
from bot.vcs.writer import SignedCommitWriter


@dataclass(frozen=True)
class Request:
    """The engine's commit request, as a plain value."""

    base: str
    branch: str
    changes: Sequence[FileChange]
    message: str


def test_the_writer_makes_the_branch_with_one_doubly_signed_commit(
        make_repo: Callable[..., Path], git: SafeGit, tmp_path: Path) -> None:
    """The branch self-mod/<id> holds one commit whose Selfmod-Signature verifies."""
    settings = Settings(data_dir=tmp_path / "data")
    path = make_repo(files={"app.py": "x = 1\n", "gone.py": "g = 1\n"})
    writer = SignedCommitWriter.from_settings(settings, git)
    head = resolve_commit(git, git.open(path), "HEAD")
    message = build_commit_message(CommitFacts("m-42", "Change x", "why", "s-1", 0.9))
    commit = writer.write(path, Request(head, "self-mod/m-42", [
        FileChange("app.py", "x = 1\n", "x = 2\n"), FileChange("gone.py", "g = 1\n", None)],
        message))
    repo = git.open(path)
    assert resolve_commit(git, repo, "self-mod/m-42") == commit
    assert read_commit(git, repo, commit).parents == (head,)
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in git.run(repo, "cat-file", "commit",
                                                            commit).text
    public = load_key(key_path(settings)).public
    assert verify_commit(git, repo, commit, public).ok
    assert git.run(repo, "show", f"{commit}:app.py").text == "x = 2"


def test_a_branch_that_does_not_match_the_message_is_refused(
        make_repo: Callable[..., Path], git: SafeGit, tmp_path: Path) -> None:
    """The branch must be self-mod/<the message's id>."""
    path = make_repo()
    writer = SignedCommitWriter.from_settings(Settings(data_dir=tmp_path / "data"), git)
    message = build_commit_message(CommitFacts("m-1", "t"))
    with pytest.raises(GitError, match="does not match"):
        writer.write(path, Request("HEAD", "self-mod/other", [], message))
