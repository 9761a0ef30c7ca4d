"""Telling the user who asked for a job how it went: the reply on their comment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gidgethub.abc import GitHubAPI

COMMENTS_URL = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
MAX_ERROR = 300


@dataclass(frozen=True)
class ReplyTo:
    """The comment a command came from (the payload's `reply_to`)."""

    owner: str
    repo: str
    issue_number: int
    # The payload's `issue.comments_url`; two replies to one issue are equal without it.
    comments_url: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> ReplyTo | None:
        """Read `reply_to` from a job payload; None when nobody waits for a reply."""
        if not data:
            return None
        url = data.get("comments_url")
        return cls(str(data["owner"]), str(data["repo"]), int(data["issue_number"]),
                   str(url) if url else None)


async def post_comment(gh: GitHubAPI, where: ReplyTo, body: str) -> None:
    """Post a comment on the issue or pull request."""
    await gh.post(where.comments_url or COMMENTS_URL, {
        "owner": where.owner, "repo": where.repo, "issue_number": where.issue_number},
        data={"body": body})


def build_failure_reply(what: str, error: BaseException, *, retry: str, final: bool) -> str:
    """Return the reply saying a job failed, why in one line, and how to try again."""
    reason = " ".join(str(error).split())[:MAX_ERROR] or type(error).__name__
    if final:
        return (f"selfmod could not finish {what}: {reason}\n\n"
                f"It will not try again by itself; comment {retry} to retry.")
    return (f"selfmod could not finish {what} yet: {reason}\n\n"
            f"It will retry automatically; if it keeps failing, comment {retry} later.")
