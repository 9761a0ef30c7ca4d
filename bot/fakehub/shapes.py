"""Responses and webhook payloads in GitHub's shapes, built from GitHub's own examples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.fakehub.state import HubState, Issue, Repo


def iso(moment: datetime | None = None) -> str:
    """Return a timestamp the way GitHub writes it."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Shapes:
    """Builds JSON objects whose URLs point at the double."""

    def __init__(self, state: HubState, base_url: str) -> None:
        self.state = state
        self.base = base_url.rstrip("/")

    def user(self, login: str) -> dict[str, Any]:
        """Return a simple-user object."""
        known = self.state.user(login, kind="Bot" if login.endswith("[bot]") else "User")
        return {"login": known.login, "id": known.id, "node_id": f"U_{known.id}",
                "avatar_url": "", "gravatar_id": "", "type": known.type, "site_admin": False,
                "url": f"{self.base}/users/{known.login}",
                "html_url": f"{self.base}/{known.login}"}

    def repo(self, repo: Repo) -> dict[str, Any]:
        """Return a full repository object."""
        data = self.state.example("full-repository-default-response")
        api = f"{self.base}/repos/{repo.full_name}"
        data.update({
            "id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name,
            "full_name": repo.full_name, "owner": self.user(repo.owner), "private": repo.private,
            "html_url": f"{self.base}/{repo.full_name}", "url": api,
            "clone_url": f"{self.base}/{repo.full_name}.git",
            "git_url": f"{self.base}/{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "issue_comment_url": api + "/issues/comments{/number}",
            "comments_url": api + "/comments{/number}", "pulls_url": api + "/pulls{/number}",
        })
        data.pop("organization", None)
        data.pop("parent", None)
        data.pop("source", None)
        data.pop("template_repository", None)
        return data

    def comment(self, repo: Repo, issue: Issue, comment: dict[str, Any]) -> dict[str, Any]:
        """Return an issue-comment object."""
        data = self.state.example("issue-comment")
        api = f"{self.base}/repos/{repo.full_name}"
        data.update({"id": comment["id"], "node_id": f"IC_{comment['id']}",
                     "url": f"{api}/issues/comments/{comment['id']}",
                     "html_url": f"{self.base}/{repo.full_name}/issues/{issue.number}"
                                 f"#issuecomment-{comment['id']}",
                     "body": comment["body"], "user": self.user(comment["user"]),
                     "created_at": comment["created_at"], "updated_at": comment["created_at"],
                     "issue_url": f"{api}/issues/{issue.number}"})
        return data

    def issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        """Return an issue object (with `pull_request` when it is one)."""
        data = self.state.example("issue")
        api = f"{self.base}/repos/{repo.full_name}"
        data.update({"id": issue.number + 10_000 * repo.id, "number": issue.number,
                     "title": issue.title, "body": issue.body, "user": self.user(issue.user),
                     "state": issue.state, "url": f"{api}/issues/{issue.number}",
                     "comments_url": f"{api}/issues/{issue.number}/comments",
                     "html_url": f"{self.base}/{repo.full_name}/issues/{issue.number}",
                     "repository_url": api, "comments": len(issue.comments),
                     "created_at": iso(issue.created_at), "closed_at":
                         iso(issue.closed_at) if issue.closed_at else None,
                     "labels": [self.label(name) for name in issue.labels],
                     "assignee": None, "assignees": [], "milestone": None,
                     "reactions": self.reactions(repo, issue)})
        if issue.is_pull:
            data["pull_request"] = {"url": f"{api}/pulls/{issue.number}",
                                    "html_url": f"{self.base}/{repo.full_name}/pull/{issue.number}",
                                    "diff_url": None, "patch_url": None}
        else:
            data.pop("pull_request", None)
        return data

    def reactions(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        """Return an issue's reaction-rollup (counts of the reactions on the issue itself)."""
        counts = {name: 0 for name in ("+1", "-1", "laugh", "confused", "heart", "hooray",
                                       "eyes", "rocket")}
        for reaction in issue.reactions:
            if "issue" in reaction and reaction.get("content") in counts:
                counts[reaction["content"]] += 1
        return {"url": f"{self.base}/repos/{repo.full_name}/issues/{issue.number}/reactions",
                "total_count": sum(counts.values()), **counts}

    def label(self, name: str) -> dict[str, Any]:
        """Return a label object."""
        return {"id": abs(hash(name)) % 10**8, "node_id": f"L_{name}", "name": name,
                "url": f"{self.base}/labels/{name}", "color": "ededed", "default": False,
                "description": None}

    def pull(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        """Return a pull-request object."""
        data = self.state.example("pull-request")
        api = f"{self.base}/repos/{repo.full_name}"
        repo_json = self.repo(repo)
        data.update({
            "id": issue.number + 10_000 * repo.id, "number": issue.number,
            "title": issue.title, "body": issue.body, "state": issue.state,
            "user": self.user(issue.user), "url": f"{api}/pulls/{issue.number}",
            "html_url": f"{self.base}/{repo.full_name}/pull/{issue.number}",
            "issue_url": f"{api}/issues/{issue.number}",
            "comments_url": f"{api}/issues/{issue.number}/comments",
            "merged": issue.merged, "merge_commit_sha": issue.merge_commit_sha,
            "created_at": iso(issue.created_at), "updated_at": iso(issue.closed_at
                                                                 or issue.created_at),
            "merged_at": iso(issue.closed_at) if issue.merged else None,
            "closed_at": iso(issue.closed_at) if issue.closed_at else None,
            "labels": [self.label(name) for name in issue.labels],
            "head": {"label": f"{repo.owner}:{issue.head}", "ref": issue.head,
                     "sha": issue.head_sha, "user": self.user(repo.owner), "repo": repo_json},
            "base": {"label": f"{repo.owner}:{issue.base}", "ref": issue.base,
                     "sha": "", "user": self.user(repo.owner), "repo": repo_json},
            "mergeable": None if issue.merged else True, "merged_by": None,
            "assignee": None, "assignees": [], "requested_reviewers": [],
            "requested_teams": [], "milestone": None, "auto_merge": None,
        })
        return data

    def installation(self, installation_id: int) -> dict[str, Any]:
        """Return the installation object webhooks carry."""
        return {"id": installation_id, "node_id": f"I_{installation_id}"}

    def delivery(self, repo: Repo, sender: str, **fields: Any) -> dict[str, Any]:
        """Return a webhook payload with the common keys."""
        payload = dict(fields)
        payload["repository"] = self.repo(repo)
        payload["sender"] = self.user(sender)
        if repo.installation_id is not None:
            payload["installation"] = self.installation(repo.installation_id)
        return payload
