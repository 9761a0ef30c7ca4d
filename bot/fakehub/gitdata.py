"""The Git Data API of the double (blobs, trees, commits, refs) on real bare repositories."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.fakehub import git as gitops
from bot.fakehub.routes import HUB, REPO, _body, _repo
from bot.fakehub.server import _error

routes = web.RouteTableDef()


def _commit_json(base: str, full_name: str, sha: str, commit: dict[str, Any],
                 verified: bool = False) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}/git"
    return {"sha": sha, "node_id": f"C_{sha}", "url": f"{api}/commits/{sha}",
            "html_url": f"{base}/{full_name}/commit/{sha}",
            "author": commit["author"], "committer": commit["committer"],
            "message": commit["message"],
            "tree": {"sha": commit["tree"], "url": f"{api}/trees/{commit['tree']}"},
            "parents": [{"sha": p, "url": f"{api}/commits/{p}",
                         "html_url": f"{base}/{full_name}/commit/{p}"}
                        for p in commit["parents"]],
            "verification": _verification(commit, verified)}


def _verification(commit: dict[str, Any], verified: bool) -> dict[str, Any]:
    if verified:
        return {"verified": True, "reason": "valid", "signature": None, "payload": None,
                "verified_at": commit["committer"]["date"]}
    return {"verified": False, "reason": "unknown_signature_type" if commit.get("signed")
            else "unsigned", "signature": None, "payload": None, "verified_at": None}


def bot_identity(hub: Any) -> dict[str, str]:
    """Return the name and email GitHub gives the app's bot on the commits it makes."""
    login = f"{hub.state.app_slug}[bot]"
    user = hub.state.user(login, kind="Bot")
    return {"name": login, "email": f"{user.id}+{login}@users.noreply.github.com"}


@routes.post(REPO + "/git/blobs")
async def create_blob(request: web.Request) -> web.Response:
    """POST a blob (utf-8 or base64 content)."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("content"), str):
        return _error(422, "content is required")
    raw = (base64.b64decode(body["content"]) if body.get("encoding") == "base64"
           else body["content"].encode("utf-8"))
    sha = await gitops.write_blob(repo.path, raw)
    return web.json_response({"sha": sha,
                              "url": f"{hub.base_url}/repos/{repo.full_name}/git/blobs/{sha}"},
                             status=201)


@routes.post(REPO + "/git/trees")
async def create_tree(request: web.Request) -> web.Response:
    """POST a tree, optionally on a base tree."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("tree"), list):
        return _error(422, "tree is required")
    try:
        sha = await gitops.write_tree(repo.path, body["tree"], body.get("base_tree"))
    except (gitops.GitCommandError, KeyError) as exc:
        return _error(422, f"tree could not be built: {exc}")
    return await _tree_response(hub, repo, sha, recursive=False, status=201)


@routes.get(REPO + "/git/trees/{tree_sha}")
async def get_tree(request: web.Request) -> web.Response:
    """GET a tree (recursively with ?recursive=1)."""
    hub, repo = request.app[HUB], _repo(request)
    sha = request.match_info["tree_sha"]
    resolved = await gitops.resolve_tree(repo.path, sha)
    if resolved is None:
        return _error(404, "Not Found")
    return await _tree_response(hub, repo, resolved, recursive="recursive" in request.query)


async def _tree_response(hub: Any, repo: Any, sha: str, *, recursive: bool,
                         status: int = 200) -> web.Response:
    entries = await gitops.list_tree(repo.path, sha, recursive=recursive)
    api = f"{hub.base_url}/repos/{repo.full_name}/git"
    for entry in entries:
        entry["url"] = f"{api}/{'blobs' if entry['type'] == 'blob' else 'trees'}/{entry['sha']}"
    return web.json_response({"sha": sha, "url": f"{api}/trees/{sha}", "tree": entries,
                              "truncated": False}, status=status)


@routes.post(REPO + "/git/commits")
async def create_commit(request: web.Request) -> web.Response:
    """POST a commit (a `signature` lands in the gpgsig header)."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    if not isinstance(body.get("message"), str) or not isinstance(body.get("tree"), str):
        return _error(422, "message and tree are required")
    # As on GitHub: an installation's commit with no custom author or committer (and no
    # signature of its own) is made by the app's bot and signed by GitHub: Verified.
    by_github = not any(body.get(k) for k in ("author", "committer", "signature"))
    author = dict(body.get("author") or bot_identity(hub))
    committer = dict(body.get("committer") or author)
    for person in (author, committer):
        if person.get("date"):
            moment = datetime.fromisoformat(str(person["date"]).replace("Z", "+00:00"))
            person["raw_date"] = f"{int(moment.timestamp())} +0000"
    try:
        sha = await gitops.commit_tree(repo.path, body["tree"], body.get("parents") or [],
                                       body["message"], author, committer,
                                       signature=body.get("signature"))
    except gitops.GitCommandError as exc:
        return _error(422, f"commit could not be created: {exc}")
    commit = await gitops.parse_commit(repo.path, sha)
    if by_github:
        hub.state.verified_commits.add(sha)
    return web.json_response(_commit_json(hub.base_url, repo.full_name, sha, commit,
                                          sha in hub.state.verified_commits), status=201)


@routes.get(REPO + "/git/commits/{commit_sha}")
async def get_commit(request: web.Request) -> web.Response:
    """GET a commit."""
    hub, repo = request.app[HUB], _repo(request)
    sha = request.match_info["commit_sha"]
    if await gitops.object_type(repo.path, sha) != "commit":
        return _error(404, "Not Found")
    commit = await gitops.parse_commit(repo.path, sha)
    return web.json_response(_commit_json(hub.base_url, repo.full_name, sha, commit,
                                          sha in hub.state.verified_commits))


def _ref_json(hub: Any, repo: Any, ref: str, sha: str) -> dict[str, Any]:
    api = f"{hub.base_url}/repos/{repo.full_name}/git"
    return {"ref": ref, "node_id": f"REF_{sha}", "url": f"{api}/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/commits/{sha}"}}


@routes.get(REPO + "/git/ref/{ref:.+}")
async def get_ref(request: web.Request) -> web.Response:
    """GET a ref such as heads/main."""
    hub, repo = request.app[HUB], _repo(request)
    ref = "refs/" + request.match_info["ref"]
    sha = (await gitops.list_refs(repo.path)).get(ref)
    if sha is None:
        return _error(404, "Not Found")
    return web.json_response(_ref_json(hub, repo, ref, sha))


@routes.post(REPO + "/git/refs")
async def create_ref(request: web.Request) -> web.Response:
    """POST a new ref; sends the `push` webhook a branch creation causes."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not ref.startswith("refs/") or not isinstance(sha, str):
        return _error(422, "ref and sha are required")
    if ref in await gitops.list_refs(repo.path):
        return _error(422, "Reference already exists")
    if await gitops.object_type(repo.path, sha) != "commit":
        return _error(422, "Object does not exist")
    await gitops.update_ref(repo.path, ref, sha)
    await hub.send_push(repo, ref, None, sha, f"{hub.state.app_slug}[bot]")
    return web.json_response(_ref_json(hub, repo, ref, sha), status=201)


@routes.patch(REPO + "/git/refs/{ref:.+}")
async def update_ref(request: web.Request) -> web.Response:
    """PATCH a ref; refuses a non-fast-forward unless `force`."""
    hub, repo = request.app[HUB], _repo(request)
    body = _body(request)
    ref = "refs/" + request.match_info["ref"]
    old = (await gitops.list_refs(repo.path)).get(ref)
    sha = body.get("sha")
    if old is None:
        return _error(422, "Reference does not exist")
    if not isinstance(sha, str) or await gitops.object_type(repo.path, sha) != "commit":
        return _error(422, "Object does not exist")
    if not body.get("force") and not await gitops.is_ancestor(repo.path, old, sha):
        return _error(422, "Update is not a fast forward")
    await gitops.update_ref(repo.path, ref, sha, old)
    await hub.send_push(repo, ref, old, sha, f"{hub.state.app_slug}[bot]")
    return web.json_response(_ref_json(hub, repo, ref, sha))


@routes.delete(REPO + "/git/refs/{ref:.+}")
async def delete_ref(request: web.Request) -> web.Response:
    """DELETE a ref."""
    repo = _repo(request)
    ref = "refs/" + request.match_info["ref"]
    if ref not in await gitops.list_refs(repo.path):
        return _error(422, "Reference does not exist")
    await gitops.delete_ref(repo.path, ref)
    return web.Response(status=204)
