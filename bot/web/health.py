"""Health and readiness probes."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.sandbox.hosts import probe_engines
from bot.web.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Answer while the process is up."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Answer 200 when the database and a Docker engine answer, 503 otherwise."""
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        body.update(status="unavailable", database=type(exc).__name__)
    # The engine is pinged off the event loop: a lost TCP engine takes seconds to time out.
    engines = await asyncio.to_thread(probe_engines, request.app[SETTINGS].docker_hosts)
    body["docker"] = {state.url: "ok" if state.up else state.reason for state in engines}
    if not any(state.up for state in engines):
        body["status"] = "unavailable"
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
