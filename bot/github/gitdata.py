"""The app's commits through GitHub's Git Data API: blobs, tree, commit, then the ref.

GitHub signs an installation's commit (and shows it Verified) only when the request names no
author or committer, so none is ever sent. The app never pushes with git.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.errors import GitHubError
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts, build_commit_message
from bot.vcs.signature import sign_commit_fields

DELETED_MODE = "100644"
REPO = "/repos/{owner}/{repo}"
_KINDS = {"160000": "commit", "040000": "tree"}


@dataclass(frozen=True)
class RepoRef:
    """A repository: its names, its default branch and its API URL from the payload."""

    owner: str
    repo: str
    default_branch: str
    # The payload's `repository.url`. Calls go there rather than to a URL built from the
    # names (the host may be a GitHub Enterprise server); None only for job payloads that
    # carry no URL, which fall back to the relative template on the client's base URL.
    url: str | None = None

    @classmethod
    def parse(cls, full_name: str, default_branch: str, url: str | None = None) -> RepoRef:
        """Split `owner/name`."""
        owner, _, repo = full_name.partition("/")
        if not owner or not repo:
            raise GitHubError(f"bad repository name {full_name!r}")
        return cls(owner, repo, default_branch, url.rstrip("/") if url else None)

    def api(self, suffix: str = "") -> str:
        """Return the URL template of an endpoint under the repository."""
        return (self.url or REPO) + suffix

    def args(self, **more: Any) -> dict[str, Any]:
        """Return the URL template arguments."""
        return {"owner": self.owner, "repo": self.repo, **more}


@dataclass(frozen=True)
class Change:
    """One path's new state: content (bytes), an existing object (sha), or deleted."""

    path: str
    mode: str | None
    content: bytes | None = None
    sha: str | None = None

    @property
    def is_deleted(self) -> bool:
        """Tell whether the path goes away."""
        return self.mode is None


async def create_tree(gh: GitHubAPI, where: RepoRef, base_tree: str,
                      changes: Sequence[Change]) -> str:
    """Create the blobs and the tree of `changes` on `base_tree`; return the tree id."""
    entries: list[dict[str, Any]] = []
    for change in changes:
        if change.is_deleted:
            entries.append({"path": change.path, "mode": DELETED_MODE, "type": "blob",
                            "sha": None})
            continue
        sha = change.sha
        if change.content is not None:
            # Base64 keeps the bytes exact (no newline or encoding changes on the way).
            blob = await gh.post(where.api("/git/blobs"), where.args(), data={
                "content": base64.b64encode(change.content).decode(), "encoding": "base64"})
            sha = blob["sha"]
        entries.append({"path": change.path, "mode": change.mode,
                        "type": _KINDS.get(str(change.mode), "blob"), "sha": sha})
    tree = await gh.post(where.api("/git/trees"), where.args(),
                         data={"base_tree": base_tree, "tree": entries})
    return str(tree["sha"])


async def create_signed_commit(gh: GitHubAPI, where: RepoRef, key: SigningKey, *, tree: str,
                               parent: str, facts: CommitFacts) -> str:
    """Create the commit with the Selfmod-Signature over its tree, parent and id."""
    signature = sign_commit_fields(key, tree, [parent], facts.modification_id)
    message = build_commit_message(facts, signature)
    # No author, no committer: GitHub makes the bot the author and signs the commit.
    commit = await gh.post(where.api("/git/commits"), where.args(),
                           data={"message": message, "tree": tree, "parents": [parent]})
    return str(commit["sha"])


async def get_commit_tree(gh: GitHubAPI, where: RepoRef, sha: str) -> str:
    """Return the tree id of a commit."""
    commit = await gh.getitem(where.api("/git/commits/{commit_sha}"), where.args(commit_sha=sha))
    return str(commit["tree"]["sha"])


async def branch_head(gh: GitHubAPI, where: RepoRef, branch: str) -> str | None:
    """Return the commit a branch points at, or None when there is no such branch."""
    try:
        ref = await gh.getitem(where.api("/git/ref/{ref}"), where.args(ref=f"heads/{branch}"))
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) == 404:
            return None
        raise
    return str(ref["object"]["sha"])


async def is_app_only_branch(gh: GitHubAPI, where: RepoRef, branch: str,
                             bot_login: str) -> bool:
    """Tell whether every commit on the branch beyond the default branch is the app's."""
    comparison = await gh.getitem(where.api("/compare/{basehead}"),
                                  where.args(basehead=f"{where.default_branch}...{branch}"))
    for commit in comparison.get("commits") or []:
        author = (commit.get("author") or {}).get("login")
        committer = (commit.get("committer") or {}).get("login")
        if author != bot_login or committer not in (bot_login, "web-flow"):
            return False
    return True


async def point_branch(gh: GitHubAPI, where: RepoRef, branch: str, sha: str, *,
                       bot_login: str) -> None:
    """Create the branch at sha, or move the app's own branch there; never anyone else's."""
    current = await branch_head(gh, where, branch)
    if current is None:
        await gh.post(where.api("/git/refs"), where.args(),
                      data={"ref": f"refs/heads/{branch}", "sha": sha})
        return
    if current == sha:
        return
    if not await is_app_only_branch(gh, where, branch, bot_login):
        raise GitHubError(f"the branch {branch} has commits by someone other than the app; "
                          "selfmod never rewrites it")
    await gh.patch(where.api("/git/refs/{ref}"), where.args(ref=f"heads/{branch}"),
                   data={"sha": sha, "force": True})


async def delete_branch(gh: GitHubAPI, where: RepoRef, branch: str) -> bool:
    """Delete a branch; False when it was already gone."""
    try:
        await gh.delete(where.api("/git/refs/{ref}"), where.args(ref=f"heads/{branch}"))
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) in (404, 422):
            return False
        raise
    return True
