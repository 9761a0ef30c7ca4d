"""Git smart HTTP for the double: `git http-backend` as a CGI subprocess per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.fakehub import git as gitops
from bot.fakehub.routes import HUB
from bot.fakehub.server import FakeHub, decode_basic
from bot.fakehub.state import Repo

routes = web.RouteTableDef()


def _pusher(hub: FakeHub, request: web.Request, repo: Repo) -> str | None:
    """Return who the basic credentials belong to, or None (installation or person)."""
    credentials = decode_basic(request.headers.get("Authorization", ""))
    if credentials is None:
        return None
    user, password = credentials
    if user == "x-access-token":
        installation = hub.token_installation(password)
        if installation is not None and installation == repo.installation_id:
            return f"{hub.state.app_slug}[bot]"
        return None
    known = hub.state.users.get(user)
    return user if known is not None and known.token == password else None


@routes.route("*", "/{owner}/{name}.git/{tail:.*}")
async def smart_http(request: web.Request) -> web.StreamResponse:
    """Serve clone, fetch and push; 401 without an installation or user token."""
    hub = request.app[HUB]
    repo = hub.state.repos.get(f"{request.match_info['owner']}/{request.match_info['name']}"
                               .lower())
    if repo is None:
        return web.Response(status=404, text="Repository not found")
    pusher = _pusher(hub, request, repo)
    if pusher is None:
        return web.Response(status=401, text="Authentication required",
                            headers={"WWW-Authenticate": 'Basic realm="fakehub"'})
    is_push = (request.match_info["tail"] == "git-receive-pack"
               or request.query.get("service") == "git-receive-pack")
    before = await gitops.list_refs(repo.path) if is_push else {}
    status, headers, body = await _run_backend(hub.repos_dir, repo, request, pusher)
    if is_push and request.method == "POST":
        after = await gitops.list_refs(repo.path)
        for ref in sorted(set(before) | set(after)):
            if before.get(ref) != after.get(ref):
                await hub.send_push(repo, ref, before.get(ref), after.get(ref), pusher)
    return web.Response(status=status, headers=headers, body=body)


async def _run_backend(root: Path, repo: Repo, request: web.Request,
                       user: str) -> tuple[int, dict[str, str], bytes]:
    relative = repo.path.relative_to(root)
    env = gitops.git_env({
        "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{relative}/{request.match_info['tail']}",
        "REQUEST_METHOD": request.method, "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1",
        # Pushes are allowed to authenticated users; no hook of the repository ever runs.
        "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "http.receivepack",
        "GIT_CONFIG_VALUE_0": "true", "GIT_CONFIG_KEY_1": "core.hooksPath",
        "GIT_CONFIG_VALUE_1": "/dev/null",
    })
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    body = await request.read()
    env["CONTENT_LENGTH"] = str(len(body))
    process = await asyncio.create_subprocess_exec(
        "git", "http-backend", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, _ = await process.communicate(body)
    head, _, payload = out.partition(b"\r\n\r\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    return status, headers, payload
