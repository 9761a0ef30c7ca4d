"""Reads of the double over git history: compare, a pull's commits and files, contents."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from bot.fakehub import git as gitops
from bot.fakehub.routes import HUB, REPO, _repo
from bot.fakehub.server import FakeHub, _error
from bot.fakehub.state import Issue, Repo

routes = web.RouteTableDef()

_STATUS = {"A": "added", "D": "removed", "M": "modified", "T": "changed"}
MAX_COMPARE_COMMITS = 250  # GitHub's cap on the commits a comparison lists


async def rev_list(repo: Repo, base: str, head: str) -> list[str]:
    """Return the commits in head but not in base, oldest first."""
    out = await gitops.git(repo.path, "rev-list", "--reverse", f"{base}..{head}")
    return out.decode().split()


async def changed_files(repo: Repo, base: str, head: str) -> list[dict[str, Any]]:
    """Return the files that differ between two commits, as diff entries."""
    out = await gitops.git(repo.path, "diff", "--numstat", "-z", "--no-renames", base, head)
    status = await gitops.git(repo.path, "diff", "--name-status", "-z", "--no-renames", base,
                              head)
    kinds = status.decode("utf-8", "replace").split("\0")
    by_path = {path: _STATUS.get(kind[:1], "modified")
               for kind, path in zip(kinds[0::2], kinds[1::2], strict=False)}
    entries = []
    for record in out.decode("utf-8", "replace").split("\0"):
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        plus = int(added) if added.isdigit() else 0
        minus = int(deleted) if deleted.isdigit() else 0
        entries.append({"filename": path, "status": by_path.get(path, "modified"),
                        "additions": plus, "deletions": minus, "changes": plus + minus})
    return entries


async def commit_item(hub: FakeHub, repo: Repo, sha: str) -> dict[str, Any]:
    """Return a commit in the shape the commits lists use."""
    commit = await gitops.parse_commit(repo.path, sha)
    data = hub.state.example("commit-items")
    api = f"{hub.base_url}/repos/{repo.full_name}"

    def account(person: dict[str, str]) -> dict[str, Any] | None:
        # GitHub links a commit to an account by its email; the double knows its bot's.
        name = person.get("name", "")
        known = hub.state.users.get(name)
        return hub.shapes.user(name) if known is not None else None

    data.update({
        "sha": sha, "node_id": f"C_{sha}", "url": f"{api}/commits/{sha}",
        "html_url": f"{hub.base_url}/{repo.full_name}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "author": account(commit["author"]), "committer": account(commit["committer"]),
        "parents": [{"sha": p, "url": f"{api}/commits/{p}",
                     "html_url": f"{hub.base_url}/{repo.full_name}/commit/{p}"}
                    for p in commit["parents"]],
    })
    data["commit"] = {**data["commit"], "author": commit["author"],
                      "committer": commit["committer"], "message": commit["message"],
                      "tree": {"sha": commit["tree"], "url": f"{api}/git/trees/{commit['tree']}"},
                      "url": f"{api}/git/commits/{sha}", "comment_count": 0,
                      "verification": {"verified": sha in hub.state.verified_commits,
                                       "reason": "valid" if sha in hub.state.verified_commits
                                       else "unsigned", "signature": None, "payload": None,
                                       "verified_at": None}}
    data.pop("files", None)
    data.pop("stats", None)
    return data


def _pull(request: web.Request, repo: Repo) -> Issue:
    pull = request.app[HUB].state.issues[repo.full_name.lower()].get(
        int(request.match_info["number"]))
    if pull is None or not pull.is_pull:
        raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
    return pull


async def _pull_range(repo: Repo, pull: Issue) -> tuple[str, str]:
    """Return (base, head) of a pull: the merge base with its base branch, and its head."""
    head = pull.head_sha or ""
    base = await gitops.resolve(repo.path, f"refs/heads/{pull.base}") or head
    if pull.merged and pull.merge_commit_sha:
        merge = await gitops.parse_commit(repo.path, pull.merge_commit_sha)
        base = merge["parents"][0]
    found = (await gitops.git(repo.path, "merge-base", base, head)).decode().strip()
    return found, head


@routes.get(REPO + "/compare/{basehead}")
async def compare(request: web.Request) -> web.Response:
    """GET a comparison `base...head`: its commits and files."""
    hub, repo = request.app[HUB], _repo(request)
    base_name, sep, head_name = request.match_info["basehead"].partition("...")
    if not sep:
        return _error(404, "Not Found")
    base = await gitops.resolve(repo.path, base_name) or await gitops.resolve(
        repo.path, f"refs/heads/{base_name}")
    head = await gitops.resolve(repo.path, head_name) or await gitops.resolve(
        repo.path, f"refs/heads/{head_name}")
    if base is None or head is None:
        return _error(404, "Not Found")
    merge_base = (await gitops.git(repo.path, "merge-base", base, head)).decode().strip()
    ahead = await rev_list(repo, merge_base, head)
    behind = await rev_list(repo, merge_base, base)
    status = ("identical" if base == head else "ahead" if not behind
              else "behind" if not ahead else "diverged")
    data = hub.state.example("commit-comparison")
    data.update({
        "url": f"{hub.base_url}/repos/{repo.full_name}/compare/{base_name}...{head_name}",
        "html_url": f"{hub.base_url}/{repo.full_name}/compare/{base_name}...{head_name}",
        "base_commit": await commit_item(hub, repo, base),
        "merge_base_commit": await commit_item(hub, repo, merge_base),
        "status": status, "ahead_by": len(ahead), "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [await commit_item(hub, repo, sha) for sha in ahead[:MAX_COMPARE_COMMITS]],
        "files": await changed_files(repo, merge_base, head),
    })
    return web.json_response(data)


@routes.get(REPO + "/pulls/{number}/commits")
async def pull_commits(request: web.Request) -> web.Response:
    """GET the commits of a pull request, oldest first."""
    hub, repo = request.app[HUB], _repo(request)
    base, head = await _pull_range(repo, _pull(request, repo))
    return web.json_response([await commit_item(hub, repo, sha)
                              for sha in await rev_list(repo, base, head)])


@routes.get(REPO + "/pulls/{number}/files")
async def pull_files(request: web.Request) -> web.Response:
    """GET the files a pull request changes."""
    repo = _repo(request)
    base, head = await _pull_range(repo, _pull(request, repo))
    return web.json_response(await changed_files(repo, base, head))


@routes.get(REPO + "/pulls/{number}/reviews")
async def pull_reviews(request: web.Request) -> web.Response:
    """GET the reviews submitted on a pull request."""
    repo = _repo(request)
    return web.json_response(_pull(request, repo).reviews)


@routes.get(REPO + "/contents/{path:.+}")
async def get_contents(request: web.Request) -> web.Response:
    """GET a file's content (base64) at a ref, the default branch by default."""
    hub, repo = request.app[HUB], _repo(request)
    ref = request.query.get("ref", repo.default_branch)
    commit = await gitops.resolve(repo.path, ref) or await gitops.resolve(
        repo.path, f"refs/heads/{ref}")
    path = request.match_info["path"]
    if commit is None:
        return _error(404, "No commit found for the ref")
    try:
        listed = await gitops.git(repo.path, "ls-tree", commit, "--", path)
    except gitops.GitCommandError:
        return _error(404, "Not Found")
    fields = listed.decode("utf-8", "replace").split(None, 3)
    if len(fields) != 4 or fields[1] != "blob":
        return _error(404, "Not Found")
    raw = await gitops.read_object(repo.path, fields[2])
    data = hub.state.example("content-file-response-if-content-is-a-file")
    api = f"{hub.base_url}/repos/{repo.full_name}"
    data.update({"name": path.rsplit("/", 1)[-1], "path": path, "sha": fields[2],
                 "size": len(raw), "content": base64.encodebytes(raw).decode(),
                 "url": f"{api}/contents/{path}?ref={ref}", "git_url":
                 f"{api}/git/blobs/{fields[2]}", "html_url": None, "download_url": None})
    data["_links"] = {"self": data["url"], "git": data["git_url"], "html": None}
    return web.json_response(data)


@routes.get(REPO + "/commits/{ref:.+}/check-runs")
async def ref_check_runs(request: web.Request) -> web.Response:
    """GET the check runs on a commit (a sha or a branch)."""
    hub, repo = request.app[HUB], _repo(request)
    sha = await _commit_of(repo, request.match_info["ref"])
    runs = [{k: v for k, v in run.items() if k != "repository"}
            for run in hub.state.check_runs.values()
            if run["repository"] == repo.full_name and run["head_sha"] == sha]
    return web.json_response({"total_count": len(runs), "check_runs": runs})


@routes.get(REPO + "/commits/{ref:.+}/status")
async def combined_status(request: web.Request) -> web.Response:
    """GET the combined status of a commit: failure, pending or success."""
    hub, repo = request.app[HUB], _repo(request)
    sha = await _commit_of(repo, request.match_info["ref"])
    latest: dict[str, dict[str, Any]] = {}
    for status in hub.state.statuses:
        if status["repository"] == repo.full_name and status["sha"] == sha:
            latest[status["context"]] = {k: v for k, v in status.items()
                                         if k not in ("repository", "sha")}
    states = {s["state"] for s in latest.values()}
    state = ("failure" if states & {"failure", "error"} else
             "pending" if "pending" in states or not states else "success")
    data = hub.state.example("combined-commit-status")
    data.update({"state": state, "sha": sha, "statuses": list(latest.values()),
                 "total_count": len(latest), "repository": hub.shapes.repo(repo),
                 "commit_url": f"{hub.base_url}/repos/{repo.full_name}/commits/{sha}",
                 "url": f"{hub.base_url}/repos/{repo.full_name}/commits/{sha}/status"})
    return web.json_response(data)


async def _commit_of(repo: Repo, ref: str) -> str:
    sha = await gitops.resolve(repo.path, ref) or await gitops.resolve(
        repo.path, f"refs/heads/{ref}")
    if sha is None:
        raise web.HTTPNotFound(text='{"message": "No commit found for SHA"}',
                               content_type="application/json")
    return sha
