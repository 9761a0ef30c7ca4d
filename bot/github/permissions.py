"""Collaborator permissions, asked of GitHub and remembered briefly."""

from __future__ import annotations

from datetime import datetime, timedelta

from gidgethub.abc import GitHubAPI

WRITER_PERMISSIONS = frozenset({"write", "maintain", "admin"})
DEFAULT_TTL = timedelta(seconds=60)


def is_writer(permission: str) -> bool:
    """Tell whether a permission (or role name) may run /selfmod commands."""
    return permission in WRITER_PERMISSIONS


class PermissionCache:
    """Answers "what may this user do here" with at most one GitHub call per TTL."""

    def __init__(self, ttl: timedelta = DEFAULT_TTL) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, str, str], tuple[str, datetime]] = {}

    async def permission(self, gh: GitHubAPI, owner: str, repo: str, username: str, *,
                         now: datetime, url: str | None = None) -> str:
        """Return the user's role on the repository: admin, maintain, write, triage, read, none.

        `url` is the payload's repository URL, where the question is asked.
        """
        key = (owner.lower(), repo.lower(), username.lower())
        cached = self._entries.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        answer = await gh.getitem((url or "/repos/{owner}/{repo}")
                                  + "/collaborators/{username}/permission",
                                  {"owner": owner, "repo": repo, "username": username})
        # `permission` folds maintain into write and triage into read; `role_name` does not.
        permission = str(answer.get("role_name") or answer.get("permission") or "none")
        self._entries[key] = (permission, now + self._ttl)
        return permission
