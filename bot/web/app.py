"""The aiohttp application factory and `selfmod serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.engine.record import SessionStore
from bot.github.intake import DeliveryRecorder
from bot.github.router import build_router
from bot.settings import Settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.migrate import ensure_current
from bot.store.queue import JobQueue
from bot.web import health, metrics, status, webhook
from bot.web.api.routes import add_api
from bot.web.keys import ENGINE, QUEUE, RECORDER, ROUTER, SESSIONS, SETTINGS

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
    # Sessions whose process died (this server before a restart, say) are closed as failed.
    await SessionStore(app[SESSIONS]).reap_abandoned()
    app[QUEUE] = JobQueue(engine)
    app[RECORDER] = DeliveryRecorder(app[QUEUE])
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
    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(serve(create_app(settings), args.host, args.port,
                         grace=settings.shutdown_grace_seconds))
    return 0


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # uvloop's transports cost the server a fraction of asyncio's per request; where it is
    # not installed, the standard loop serves the same.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def serve(app: web.Application, host: str, port: int, *, grace: float) -> None:
    """Serve until SIGTERM or SIGINT, then stop listening and drain requests in flight."""
    in_flight = _track_requests(app)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=grace)
    await runner.setup()
    # Everything imported and set up so far lives as long as the server: frozen, the
    # collector stops walking it, and a full collection no longer pauses every request for
    # ~80 ms (the application and its libraries are some hundreds of thousands of objects).
    gc.collect()
    gc.freeze()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("serving on %s:%d", host, port)
    try:
        await stop.wait()
        # New connections go elsewhere at once; requests already read finish first.
        await site.stop()
        log.info("stopping: draining %d request(s) in flight", in_flight.count)
        await in_flight.drained(grace)
    finally:
        await runner.cleanup()


class _InFlight:
    """Counts the requests being handled, to wait for the last one at shutdown."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drained(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


def _track_requests(app: web.Application) -> _InFlight:
    in_flight = _InFlight()

    @web.middleware
    async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
        in_flight.enter()
        try:
            response = await handler(request)
            # Send the whole answer before the drain may end and the connection close.
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            in_flight.leave()

    app.middlewares.append(track)
    return in_flight
