"""What every event callback receives: the delivery, the clock reading and its collaborators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gidgethub.abc import GitHubAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.github.permissions import PermissionCache
from bot.store.queue import JobQueue

# Job kinds the GitHub side enqueues; their handlers belong to the engine and vcs issues.
# analyze_repository payload: installation_id, repository_id, full_name, repository_url,
#   clone_url, default_branch, commit_sha, trigger ("push" | "comment"), delivery_id, reply_to.
# rollback_modification payload: modification_id, repository_id, installation_id, full_name,
#   repository_url, reason, automatic, requested_by, delivery_id, reply_to.
# repository_url is the payload's `repository.url`: API calls go under it.
# reply_to (or None): {"owner", "repo", "issue_number", "comment_id", "comments_url"}: where
#   the job posts its "done" reply to the command that asked for it.
ANALYZE_JOB = "analyze_repository"
ROLLBACK_JOB = "rollback_modification"


@dataclass(frozen=True)
class EventContext:
    """The collaborators of one delivery's callbacks, passed as a dispatch keyword."""

    delivery_id: str
    now: datetime
    sessions: async_sessionmaker[AsyncSession]
    queue: JobQueue
    bot_login: str
    permissions: PermissionCache
    github: Callable[[], Awaitable[GitHubAPI]]


def repository_group(repository_id: int) -> str:
    """Return the job group that serialises one repository's work."""
    return f"repository:{repository_id}"
