"""Local rollback of a `selfmod run` modification: the branch goes back, the reason is recorded."""

from __future__ import annotations

import uuid
from pathlib import Path

from bot.engine.record import SessionStore
from bot.errors import GitError
from bot.settings import Settings
from bot.vcs.commit import Author
from bot.vcs.keys import key_path, load_or_create_key
from bot.vcs.message import CommitFacts
from bot.vcs.revert import Rollback, current_branch, rollback_local
from bot.vcs.safegit import SafeGit


async def rollback_modification(git: SafeGit, path: Path, store: SessionStore,
                                settings: Settings, modification_id: uuid.UUID,
                                reason: str) -> Rollback:
    """Bring the checked-out branch back to before the modification and record why."""
    row = await store.modification(modification_id)
    if row is None or not row.commit_sha or not row.base_sha:
        raise GitError(f"modification {modification_id} was never committed by selfmod run")
    repo = git.open(path)
    branch = current_branch(git, repo)
    facts = CommitFacts(str(row.id), f"Revert {row.title or row.rule_id or 'change'}",
                        f"Rollback reason: {reason}",
                        str(row.session_id) if row.session_id else None,
                        reverts=row.commit_sha)
    author = Author(settings.commit_author_name, settings.commit_author_email)
    done = rollback_local(git, repo, load_or_create_key(key_path(settings)), author,
                          branch=branch, before=row.base_sha, applied=row.commit_sha,
                          facts=facts)
    await store.record_rollback(modification_id, reason, done.kind, done.commit)
    return done
