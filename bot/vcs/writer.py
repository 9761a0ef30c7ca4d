"""The signing commit writer `selfmod run` uses: a branch `self-mod/<id>` with one signed commit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.errors import GitError
from bot.generate.suggestion import FileChange
from bot.settings import Settings
from bot.vcs.commit import Author, commit_message_signed, create_branch, write_tree
from bot.vcs.keys import SigningKey, key_path, load_or_create_key
from bot.vcs.message import build_branch_name, parse_commit_message
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import SafeGit


class BranchCommit(Protocol):
    """What to commit: the engine's CommitRequest has this shape."""

    @property
    def base(self) -> str: ...

    @property
    def branch(self) -> str: ...

    @property
    def changes(self) -> Sequence[FileChange]: ...

    @property
    def message(self) -> str: ...


class SignedCommitWriter:
    """Creates `self-mod/<id>` at one commit by the app, SSH-signed and Selfmod-signed."""

    def __init__(self, git: SafeGit, key: SigningKey, author: Author) -> None:
        self.git = git
        self.key = key
        self.author = author

    @classmethod
    def from_settings(cls, settings: Settings, git: SafeGit) -> SignedCommitWriter:
        """Build the writer with the app's key (made on first use) and commit identity."""
        key = load_or_create_key(key_path(settings))
        return cls(git, key, Author(settings.commit_author_name, settings.commit_author_email))

    def write(self, repo: Path, request: BranchCommit) -> str:
        """Create the branch and its commit; return the commit id."""
        handle = self.git.open(repo)
        modification_id = parse_commit_message(request.message).modification_id
        if request.branch != build_branch_name(modification_id):
            raise GitError(f"the branch {request.branch} does not match the message's "
                           f"modification {modification_id}")
        base = resolve_commit(self.git, handle, request.base)
        tree = write_tree(self.git, handle, base, {
            change.path: None if change.modified is None else change.modified.encode("utf-8")
            for change in request.changes})
        commit = commit_message_signed(self.git, handle, self.key, self.author, tree, [base],
                                       request.message)
        create_branch(self.git, handle, request.branch, commit)
        return commit
