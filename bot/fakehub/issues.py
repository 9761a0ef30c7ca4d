"""Issues of the double beyond comments: create, update (close), edit a comment, react."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bot.fakehub.routes import HUB, REPO, _body, _issue, _repo
from bot.fakehub.server import _error
from bot.fakehub.state import Issue

routes = web.RouteTableDef()

REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


@routes.post(REPO + "/issues")
async def create_issue(request: web.Request) -> web.Response:
    """POST an issue (as the app's bot)."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        return _error(422, "title is required")
    issues = hub.state.issues[repo.full_name.lower()]
    issue = Issue(len(issues) + 1, body["title"], body.get("body"),
                  f"{hub.state.app_slug}[bot]",
                  labels=[str(n) for n in body.get("labels") or [] if isinstance(n, str)])
    issues[issue.number] = issue
    return web.json_response(hub.shapes.issue(repo, issue), status=201)


@routes.patch(REPO + "/issues/{number}")
async def update_issue(request: web.Request) -> web.Response:
    """PATCH an issue's title, body or state (closing a pull request closes it unmerged)."""
    hub, repo = request.app[HUB], _repo(request)
    issue = _issue(request, repo)
    body = _body(request)
    if body.get("state") not in (None, "open", "closed"):
        return _error(422, "state must be open or closed")
    issue.title = str(body.get("title", issue.title))
    issue.body = body.get("body", issue.body)
    if body.get("state") == "closed" and issue.state == "open":
        if issue.is_pull:
            await hub.close(repo, issue.number, f"{hub.state.app_slug}[bot]")
        else:
            issue.state, issue.closed_at = "closed", datetime.now(UTC)
    return web.json_response(hub.shapes.issue(repo, issue))


@routes.patch(REPO + "/issues/comments/{comment_id}")
async def update_comment(request: web.Request) -> web.Response:
    """PATCH a comment's body."""
    hub, repo = request.app[HUB], _repo(request)
    text = _body(request).get("body")
    if not isinstance(text, str):
        return _error(422, "body is required")
    comment_id = int(request.match_info["comment_id"])
    for issue in hub.state.issues[repo.full_name.lower()].values():
        for comment in issue.comments:
            if comment["id"] == comment_id:
                comment["body"] = text
                return web.json_response(hub.shapes.comment(repo, issue, comment))
    return _error(404, "Not Found")


@routes.post(REPO + "/issues/{number}/reactions")
async def react_to_issue(request: web.Request) -> web.Response:
    """POST a reaction to an issue or pull request."""
    hub, repo = request.app[HUB], _repo(request)
    issue = _issue(request, repo)
    content = _body(request).get("content")
    if content not in REACTIONS:
        return _error(422, "content is not a reaction")
    issue.reactions.append({"issue": issue.number, "content": content})
    data = hub.state.example("reaction")
    data.update({"content": content, "user": hub.shapes.user(f"{hub.state.app_slug}[bot]")})
    return web.json_response(data, status=201)
