"""The double's HTTP surface: REST endpoints, git smart HTTP and the middleware in front."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.fakehub import git as gitops
from bot.fakehub.server import CONTROL_PREFIX, FakeHub, Handler, _error
from bot.fakehub.shapes import iso
from bot.fakehub.state import Repo

HUB = web.AppKey("fakehub", FakeHub)
AUTH = web.AppKey("fakehub_auth", dict)
routes = web.RouteTableDef()
REPO = "/repos/{owner}/{repo}"
# The status of an injected fault that closes the connection instead of answering.
DROP_CONNECTION = 0


def _is_git(path: str) -> bool:
    return ".git/" in path or path.endswith(".git")


@web.middleware
async def rest_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log REST requests, play injected faults, and check authentication."""
    hub = request.app[HUB]
    path = request.path
    if path.startswith(CONTROL_PREFIX) or _is_git(path):
        return await handler(request)
    body: Any = None
    if request.can_read_body:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "Problems parsing JSON")
    # The log keeps the path as sent (`%2F` inside a segment stays encoded), which is what
    # GitHub routes on and what the contract is checked against.
    hub.log_request(request.method, request.raw_path.split("?", 1)[0], body)
    request["json"] = body
    fault = hub.state.take_fault(request.method, path)
    if fault is not None:
        if fault.status == DROP_CONNECTION:
            # A connection lost before any answer: what a proxy or network failure looks like.
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("fault: connection dropped")
        return web.json_response(fault.body, status=fault.status, headers=fault.headers)
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if path.startswith("/app"):
        if scheme.lower() != "bearer" or not hub.verify_app_jwt(token):
            return _error(401, "A JSON web token could not be decoded")
    elif scheme.lower() not in ("token", "bearer") or hub.token_installation(token) is None:
        return _error(401, "Bad credentials")
    else:
        request["installation_id"] = hub.token_installation(token)
    return await handler(request)


def _body(request: web.Request) -> dict[str, Any]:
    body = request.get("json")
    if not isinstance(body, dict):
        raise web.HTTPUnprocessableEntity(text='{"message": "Invalid request"}',
                                          content_type="application/json")
    return body


def _repo(request: web.Request) -> Repo:
    hub = request.app[HUB]
    repo = hub.find_repo(request)
    if repo.installation_id != request.get("installation_id"):
        raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
    return repo


# ---- the App ------------------------------------------------------------------------------

@routes.get("/app")
async def get_app(request: web.Request) -> web.Response:
    """GET /app: the authenticated App."""
    hub = request.app[HUB]
    data = hub.state.example("integration")
    data.update({"id": hub.state.app_id, "slug": hub.state.app_slug, "name": hub.state.app_slug})
    return web.json_response(data)


@routes.post("/app/installations/{installation_id}/access_tokens")
async def create_token(request: web.Request) -> web.Response:
    """POST an installation access token."""
    hub = request.app[HUB]
    installation_id = int(request.match_info["installation_id"])
    if installation_id not in hub.state.installations:
        return _error(404, "Not Found")
    token, expires = hub.issue_token(installation_id)
    data = hub.state.example("installation-token")
    data.update({"token": token, "expires_at": iso(expires), "repository_selection": "selected"})
    data.pop("repositories", None)
    return web.json_response(data, status=201)


@routes.get("/installation/repositories")
async def installation_repositories(request: web.Request) -> web.Response:
    """GET the installation's repositories, paginated with Link headers."""
    hub = request.app[HUB]
    repos = [r for r in hub.state.repos.values()
             if r.installation_id == request["installation_id"]]
    per_page = min(int(request.query.get("per_page", "30")), 100)
    page = int(request.query.get("page", "1"))
    chunk = repos[(page - 1) * per_page: page * per_page]
    headers = {}
    if page * per_page < len(repos):
        headers["Link"] = (f'<{hub.base_url}/installation/repositories?per_page={per_page}'
                           f'&page={page + 1}>; rel="next"')
    return web.json_response({"total_count": len(repos),
                              "repositories": [hub.shapes.repo(r) for r in chunk]},
                             headers=headers)


# ---- repositories and permissions -------------------------------------------------------

@routes.get(REPO)
async def get_repo(request: web.Request) -> web.Response:
    """GET a repository."""
    return web.json_response(request.app[HUB].shapes.repo(_repo(request)))


@routes.get(REPO + "/branches/{branch}")
async def get_branch(request: web.Request) -> web.Response:
    """GET a branch with its head commit."""
    hub, repo = request.app[HUB], _repo(request)
    sha = await gitops.resolve(repo.path, f"refs/heads/{request.match_info['branch']}")
    if sha is None:
        return _error(404, "Branch not found")
    data = hub.state.example("branch-get")
    data["name"] = request.match_info["branch"]
    data["commit"]["sha"] = sha
    data["protected"] = False
    return web.json_response(data)


@routes.get(REPO + "/collaborators/{username}/permission")
async def collaborator_permission(request: web.Request) -> web.Response:
    """GET a user's permission on the repository."""
    hub, repo = request.app[HUB], _repo(request)
    login = request.match_info["username"]
    role = hub.state.permissions.get((repo.full_name.lower(), login.lower()), "none")
    folded = {"maintain": "write", "triage": "read"}.get(role, role)
    data = hub.state.example(
        "repository-collaborator-permission-response-if-user-has-admin-permissions")
    data.update({"permission": folded, "role_name": role, "user": hub.shapes.user(login)})
    return web.json_response(data)


# ---- issues, comments, reactions, labels --------------------------------------------------

@routes.post(REPO + "/issues/{number}/comments")
async def create_comment(request: web.Request) -> web.Response:
    """POST a comment (as the app's bot)."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("body"), str):
        return _error(422, "body is required")
    issue = _issue(request, repo)
    comment = {"id": hub.state.new_id(), "user": f"{hub.state.app_slug}[bot]",
               "body": body["body"], "created_at": iso()}
    issue.comments.append(comment)
    return web.json_response(hub.shapes.comment(repo, issue, comment), status=201)


@routes.get(REPO + "/issues/{number}/comments")
async def list_comments(request: web.Request) -> web.Response:
    """GET an issue's comments."""
    hub, repo = request.app[HUB], _repo(request)
    issue = _issue(request, repo)
    return web.json_response([hub.shapes.comment(repo, issue, c) for c in issue.comments])


@routes.post(REPO + "/issues/comments/{comment_id}/reactions")
async def react_to_comment(request: web.Request) -> web.Response:
    """POST a reaction to a comment."""
    hub, repo = request.app[HUB], _repo(request)
    content = _body(request).get("content")
    comment_id = int(request.match_info["comment_id"])
    for issue in hub.state.issues[repo.full_name.lower()].values():
        for comment in issue.comments:
            if comment["id"] == comment_id:
                issue.reactions.append({"comment_id": comment_id, "content": content})
                data = hub.state.example("reaction")
                data.update({"content": content,
                             "user": hub.shapes.user(f"{hub.state.app_slug}[bot]")})
                return web.json_response(data, status=201)
    return _error(404, "Not Found")


@routes.get(REPO + "/issues/{number}")
async def get_issue(request: web.Request) -> web.Response:
    """GET an issue."""
    repo = _repo(request)
    return web.json_response(request.app[HUB].shapes.issue(repo, _issue(request, repo)))


@routes.post(REPO + "/issues/{number}/labels")
async def add_labels(request: web.Request) -> web.Response:
    """POST labels onto an issue or pull request."""
    hub, repo = request.app[HUB], _repo(request)
    issue = _issue(request, repo)
    body = request.get("json")
    names = body.get("labels", []) if isinstance(body, dict) else body or []
    issue.labels.extend(str(n) for n in names if str(n) not in issue.labels)
    return web.json_response([hub.shapes.label(n) for n in issue.labels])


def _issue(request: web.Request, repo: Repo) -> Any:
    issues = request.app[HUB].state.issues[repo.full_name.lower()]
    number = int(request.match_info["number"])
    if number not in issues:
        raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
    return issues[number]


# ---- checks and statuses -----------------------------------------------------------------

@routes.post(REPO + "/check-runs")
async def create_check_run(request: web.Request) -> web.Response:
    """POST a check run."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("name"), str) or not isinstance(body.get("head_sha"), str):
        return _error(422, "name and head_sha are required")
    data = hub.state.example("check-run")
    run_id = hub.state.new_id()
    data.update({"id": run_id, "name": body["name"], "head_sha": body["head_sha"],
                 "status": body.get("status", "queued"), "conclusion": body.get("conclusion"),
                 "output": {**data["output"], **body.get("output", {})}})
    hub.state.check_runs[run_id] = {**data, "repository": repo.full_name}
    return web.json_response(data, status=201)


@routes.patch(REPO + "/check-runs/{check_run_id}")
async def update_check_run(request: web.Request) -> web.Response:
    """PATCH a check run."""
    hub = request.app[HUB]
    _repo(request)
    run = hub.state.check_runs.get(int(request.match_info["check_run_id"]))
    if run is None:
        return _error(404, "Not Found")
    run.update({k: v for k, v in _body(request).items() if k != "output"})
    return web.json_response({k: v for k, v in run.items() if k != "repository"})


@routes.post(REPO + "/statuses/{sha}")
async def create_status(request: web.Request) -> web.Response:
    """POST a commit status."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    data = hub.state.example("status")
    data.update({"state": body.get("state"), "context": body.get("context", "default"),
                 "description": body.get("description"), "target_url": body.get("target_url")})
    hub.state.statuses.append({**data, "sha": request.match_info["sha"],
                               "repository": repo.full_name})
    return web.json_response(data, status=201)


def build_app(hub: FakeHub) -> web.Application:
    """Return the double's aiohttp application."""
    from bot.fakehub import gitdata, history, issues, pulls, smarthttp

    app = web.Application(middlewares=[rest_middleware], client_max_size=200 * 1024 * 1024)
    app[HUB] = hub
    app.add_routes(routes)
    app.add_routes(gitdata.routes)
    app.add_routes(pulls.routes)
    app.add_routes(history.routes)
    app.add_routes(issues.routes)
    app.add_routes(smarthttp.routes)

    async def close(_: web.Application) -> None:
        await hub.aclose()

    app.on_cleanup.append(close)
    return app


