"""Pull requests of the double: open, read, update and merge (a real merge commit)."""

from __future__ import annotations

from aiohttp import web

from bot.fakehub.routes import HUB, REPO, _body, _repo
from bot.fakehub.server import _error

routes = web.RouteTableDef()


@routes.post(REPO + "/pulls")
async def create_pull(request: web.Request) -> web.Response:
    """POST a pull request from a branch of the same repository."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not all(isinstance(body.get(k), str) for k in ("head", "base")):
        return _error(422, "head and base are required")
    head = body["head"].split(":", 1)[-1]
    try:
        pull = await hub.open_pull(repo, head, body["base"], str(body.get("title") or head),
                                   f"{hub.state.app_slug}[bot]", body.get("body"))
    except ValueError as exc:
        return _error(422, str(exc))
    await hub.send(repo, "pull_request", sender=f"{hub.state.app_slug}[bot]", action="opened",
                   number=pull.number, pull_request=hub.shapes.pull(repo, pull))
    return web.json_response(hub.shapes.pull(repo, pull), status=201)


@routes.get(REPO + "/pulls")
async def list_pulls(request: web.Request) -> web.Response:
    """GET pull requests: state (open), sort (created) and direction (desc), paginated."""
    hub, repo = request.app[HUB], _repo(request)
    state = request.query.get("state", "open")
    sort = request.query.get("sort", "created")
    if sort not in ("created", "updated") or request.query.get("direction") not in (
            None, "asc", "desc"):
        return _error(422, "sort must be created or updated, direction asc or desc")
    pulls = [p for p in hub.state.issues[repo.full_name.lower()].values()
             if p.is_pull and (state == "all" or p.state == state)]
    # As on GitHub: newest first unless asked otherwise; equal times keep number order.
    descending = request.query.get("direction", "desc") == "desc"
    pulls.sort(key=lambda p: ((p.closed_at or p.created_at) if sort == "updated"
                              else p.created_at, p.number), reverse=descending)
    return hub.paginate(request, [hub.shapes.pull(repo, p) for p in pulls])


@routes.get(REPO + "/pulls/{number}")
async def get_pull(request: web.Request) -> web.Response:
    """GET a pull request."""
    hub, repo = request.app[HUB], _repo(request)
    pull = hub.state.issues[repo.full_name.lower()].get(int(request.match_info["number"]))
    if pull is None or not pull.is_pull:
        return _error(404, "Not Found")
    return web.json_response(hub.shapes.pull(repo, pull))


@routes.patch(REPO + "/pulls/{number}")
async def update_pull(request: web.Request) -> web.Response:
    """PATCH a pull request's title, body or state."""
    hub, repo = request.app[HUB], _repo(request)
    pull = hub.state.issues[repo.full_name.lower()].get(int(request.match_info["number"]))
    if pull is None or not pull.is_pull:
        return _error(404, "Not Found")
    body = _body(request)
    pull.title = body.get("title", pull.title)
    pull.body = body.get("body", pull.body)
    if body.get("state") == "closed" and pull.state == "open":
        await hub.close(repo, pull.number, f"{hub.state.app_slug}[bot]")
    return web.json_response(hub.shapes.pull(repo, pull))


@routes.get(REPO + "/pulls/{number}/merge")
async def is_merged(request: web.Request) -> web.Response:
    """GET whether a pull request was merged: 204 yes, 404 no."""
    hub, repo = request.app[HUB], _repo(request)
    pull = hub.state.issues[repo.full_name.lower()].get(int(request.match_info["number"]))
    return web.Response(status=204 if pull is not None and pull.merged else 404)


@routes.put(REPO + "/pulls/{number}/merge")
async def merge_pull(request: web.Request) -> web.Response:
    """PUT a merge: a real merge commit on the base branch, then the webhooks."""
    hub, repo = request.app[HUB], _repo(request)
    number = int(request.match_info["number"])
    merger = str((request.get("json") or {}).get("merged_by", "octocat"))
    try:
        sha = await hub.merge(repo, number, merger)
    except (ValueError, KeyError) as exc:
        return _error(405, f"Pull Request is not mergeable: {exc}")
    data = hub.state.example("pull-request-merge-result-response-if-merge-was-successful")
    data["sha"] = sha
    return web.json_response(data)
