"""Health and readiness probes."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.web.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Answer while the process is up."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Answer 200 when the database answers, 503 otherwise."""
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        return web.json_response({"status": "unavailable", "database": type(exc).__name__},
                                 status=503)
    return web.json_response({"status": "ok", "database": "ok"})
