"""The aiohttp application factory and `selfmod serve`."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.github.router import build_router
from bot.settings import Settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.migrate import ensure_current
from bot.store.queue import JobQueue
from bot.web import health, metrics, status, webhook
from bot.web.api.routes import add_api
from bot.web.keys import ENGINE, QUEUE, ROUTER, SESSIONS, SETTINGS

log = logging.getLogger(__name__)

# GitHub caps webhook payloads at 25 MB; a larger body is refused before it is read.
MAX_BODY_BYTES = 25 * 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    """Build the web application; the database is opened and closed with it."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app[ROUTER] = build_router()
    app.add_routes(health.routes)
    app.add_routes(webhook.routes)
    app.add_routes(metrics.routes)
    app.add_routes(status.routes)
    add_api(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url)
    try:
        await ensure_current(engine)
    except Exception:
        await engine.dispose()
        raise
    app[ENGINE] = engine
    app[SESSIONS] = create_sessionmaker(engine)
    app[QUEUE] = JobQueue(engine)
    yield
    await app[QUEUE].close()
    await engine.dispose()


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `selfmod serve` until interrupted."""
    from bot.logs import configure_logging

    configure_logging(settings)
    settings.require_github()

    async def check() -> None:
        # Refuse to start on a missing or old schema before binding the port.
        engine = create_engine(settings.database_url)
        try:
            await ensure_current(engine)
        finally:
            await engine.dispose()

    asyncio.run(check())
    web.run_app(create_app(settings), host=args.host, port=args.port, print=None,
                shutdown_timeout=settings.shutdown_grace_seconds)
    return 0
