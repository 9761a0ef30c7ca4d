"""POST /self-modify/analyze: start an analysis; answer its suggestions, or where to poll."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.errors import GitError
from bot.vcs.objects import resolve_commit
from bot.web.api.analysis import create_session, run_analysis
from bot.web.api.auth import api_view
from bot.web.api.bodies import parse_analyze, parse_json_object
from bot.web.api.codebase import open_codebase, resolve_within_roots
from bot.web.api.problems import ApiError
from bot.web.api.sessions import build_session_json, load_session
from bot.web.api.state import API_STATE
from bot.web.keys import SESSIONS, SETTINGS

routes = web.RouteTableDef()


@routes.post("/self-modify/analyze")
@api_view
async def analyze(request: web.Request) -> web.Response:
    """Start an analysis session; 200 with suggestions when ready in time, else 202."""
    body = parse_analyze(parse_json_object(await request.read()))
    settings = request.app[SETTINGS]
    state = request.app[API_STATE]
    path = resolve_within_roots(body.codebase_path, settings.api_roots)
    repo = await asyncio.to_thread(open_codebase, state.git, path, settings.api_roots)
    try:
        head = await asyncio.to_thread(resolve_commit, state.git, repo, "HEAD")
    except GitError:
        raise ApiError(422, f"codebase_path: {path} has no commit yet",
                       field="codebase_path") from None
    sessionmaker = request.app[SESSIONS]
    session_id = await create_session(sessionmaker, path, body, head)
    task = state.start(lambda: run_analysis(state, sessionmaker, session_id, path, head, body))
    # The analysis goes on when the wait ends: the client polls the session instead.
    await asyncio.wait({task}, timeout=settings.api_wait_seconds)
    location = f"/self-modify/sessions/{session_id}"
    async with sessionmaker() as db:
        answer = await build_session_json(db, await load_session(db, session_id))
    if not answer["finished"]:
        return web.json_response(answer, status=202, headers={"Location": location})
    return web.json_response(answer, headers={"Content-Location": location})
